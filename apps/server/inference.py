"""The server's model calls: one batched forward per group of requests, and what it says about its models.

Each ``*_batch`` function takes the requests the :class:`~apps.server.batching.DynamicBatcher`
gathered (all with the same key, e.g. the same beam size) and returns one result per request,
computed with a single batched call of the predictor. Models are loaded through their task
(:data:`multimodal_rnn.tasks.TASKS`); ``GET /v1/models`` describes them with their model cards
(:func:`multimodal_rnn.shipped.read_card`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from multimodal_rnn.errors import InputError
from multimodal_rnn.shipped import read_card
from multimodal_rnn.tasks import TASKS
from multimodal_rnn.tasks.caption.predictor import CaptionResult, Captioner
from multimodal_rnn.tasks.dialog.predictor import DialogAgent, DialogQuery, DialogTurn
from multimodal_rnn.tasks.vqa.predictor import Answerer, AnswerResult


@dataclass(frozen=True)
class LoadedModel:
    """A loaded checkpoint as ``GET /v1/models`` lists it."""

    task: str
    path: Path
    predictor: Any
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CaptionRequest:
    """One image to caption: ``pixels`` (3, H, W) from the captioner's transform; ``beam_size`` 1 is greedy."""

    pixels: torch.Tensor
    beam_size: int


@dataclass(frozen=True)
class VQARequest:
    """One question about one image (``pixels`` (3, H, W) from the answerer's transform); ``top`` answers."""

    pixels: torch.Tensor
    question: str
    top: int


@dataclass(frozen=True)
class DialogRequest:
    """One dialog round: the image (``pixels`` (3, H, W) from the agent's transform), the earlier
    rounds (question, answer) and the new question."""

    pixels: torch.Tensor
    caption: str
    history: tuple[tuple[str, str], ...]
    question: str
    top: int
    beam_size: int


def caption_batch(captioner: Captioner, requests: Sequence[CaptionRequest]) -> list[CaptionResult]:
    """Caption every request's image in one batched decode (all requests share one beam size);
    the same results as :meth:`Captioner.caption` on the images."""
    beams = {request.beam_size for request in requests}
    assert len(beams) == 1, "caption requests are grouped by beam size"
    pixels = torch.stack([request.pixels for request in requests])  # (B, 3, H, W)
    return captioner.caption_tensors(pixels, beam_size=beams.pop(), with_attention=captioner.model.attends)


def vqa_batch(answerer: Answerer, requests: Sequence[VQARequest]) -> list[AnswerResult]:
    """Answer every request in one forward pass, each with its own ``top`` (as :meth:`Answerer.answer`)."""
    results = answerer.answer_tensors([request.pixels for request in requests], [request.question for request in requests],
                                      top=max(request.top for request in requests), with_attention=answerer.model.attends)
    return [AnswerResult(result.answers[: request.top], result.attention) for request, result in zip(requests, results)]


def dialog_batch(agent: DialogAgent, requests: Sequence[DialogRequest]) -> list[DialogTurn]:
    """Answer the last question of every dialog in one forward pass (as a
    :class:`~multimodal_rnn.tasks.dialog.predictor.DialogSession` that asked the history's questions and got its answers).

    Generative models decode all dialogs in one beam search (requests share one beam size).
    """
    queries = [DialogQuery(request.pixels, request.caption,
                           tuple(question for question, _ in request.history) + (request.question,),
                           tuple(answer for _, answer in request.history))
               for request in requests]
    turns = agent.answer_last(queries, top=max(request.top for request in requests), beam_size=requests[0].beam_size)
    return [DialogTurn(turn.question, turn.answer, turn.alternatives[: request.top]) if turn.alternatives else turn
            for request, turn in zip(requests, turns)]


BATCH_FUNCTIONS: dict[str, Callable[[Any, Sequence[Any]], list[Any]]] = {
    "caption": caption_batch, "vqa": vqa_batch, "dialog": dialog_batch}
"""The tasks the HTTP API has a route for (``/v1/caption``, ``/v1/vqa``, ``/v1/dialog``) and their batched call."""


def servable_tasks() -> list[str]:
    """The registered tasks the server can serve, in :data:`~multimodal_rnn.tasks.TASKS` order."""
    return [name for name in TASKS if name in BATCH_FUNCTIONS]


def describe(task: str, path: Path, predictor: Any) -> dict[str, Any]:
    """What ``GET /v1/models`` says about a loaded checkpoint: file, sha256, model, step, metrics and
    its model card (None for a file without one, or whose card is about other bytes)."""
    checkpoint = predictor.checkpoint
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    card = read_card(path)
    return {
        "task": task,
        "file": path.name,
        "sha256": digest,
        "model": checkpoint.model_name if checkpoint else type(predictor.model).__name__,
        "parameters": sum(p.numel() for p in predictor.model.parameters()),
        "attention": bool(getattr(predictor.model, "attends", False)),
        "step": checkpoint.step if checkpoint else None,
        "metrics": checkpoint.metrics if checkpoint else {},
        "card": card if card is not None and card["sha256"] == digest else None,
    }


def load_models(paths: dict[str, Path], *, device: str = "cpu") -> dict[str, LoadedModel]:
    """Load the checkpoints of ``paths`` (task -> file; tasks of :func:`servable_tasks`) with each
    task's own predictor loader."""
    models = {}
    for task, path in paths.items():
        if task not in servable_tasks():
            raise InputError(f"the server has no route for task {task!r} (it serves {', '.join(servable_tasks())})")
        predictor = TASKS[task].load_predictor(path, device=device)
        models[task] = LoadedModel(task, Path(path), predictor, describe(task, Path(path), predictor))
    return models
