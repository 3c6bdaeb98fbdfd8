"""The dialog task over HTTP (``POST /v1/dialog``): an image, the earlier rounds and a new question
in, the answer (and a discriminative model's best candidates) out. The server keeps no session:
the client sends the history with every question. Concurrent requests share one forward pass
(generative models: those with the same beam size)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from multimodal_rnn.files import loads_json
from multimodal_rnn.tasks.dialog.predictor import DialogAgent, DialogQuery, DialogTurn
from multimodal_rnn.tasks.protocol import FieldError, FormField, Serving, ServingLimits, check_text

History = tuple[tuple[str, str], ...]
"""Earlier rounds of a dialog: (question, answer) pairs, oldest first."""


@dataclass(frozen=True)
class DialogRequest:
    """One dialog round: the image (``pixels`` (3, H, W) from the agent's transform), the earlier
    rounds (question, answer) and the new question."""

    pixels: torch.Tensor
    caption: str
    history: History
    question: str
    top: int
    beam_size: int


def dialog_batch(agent: DialogAgent, requests: Sequence[DialogRequest]) -> list[DialogTurn]:
    """Answer the last question of every dialog in one forward pass (as a
    :class:`~multimodal_rnn.tasks.dialog.predictor.DialogSession` that asked the history's questions
    and got its answers).

    Generative models decode all dialogs in one beam search (requests share one beam size).
    """
    queries = [
        DialogQuery(
            request.pixels,
            request.caption,
            tuple(question for question, _ in request.history) + (request.question,),
            tuple(answer for _, answer in request.history),
        )
        for request in requests
    ]
    turns = agent.answer_last(queries, top=max(request.top for request in requests), beam_size=requests[0].beam_size)
    return [
        DialogTurn(turn.question, turn.answer, turn.alternatives[: request.top]) if turn.alternatives else turn
        for request, turn in zip(requests, turns)
    ]


def parse_history(raw: str, *, max_rounds: int, max_chars: int) -> History:
    """The history form field: a JSON list of ``{"question": ..., "answer": ...}`` (or pairs).

    Raises:
        FieldError: not JSON (or nested over :data:`multimodal_rnn.files.MAX_JSON_DEPTH` levels,
            or longer than ``max_rounds`` rounds of ``max_chars``-character texts could be), not
            such a list, over ``max_rounds`` rounds, or a question (no words) or answer over
            ``max_chars`` characters.
    """
    longest = max_rounds * (2 * 6 * max_chars + 64) + 2  # every character as a \uXXXX escape
    value = loads_json(raw, where="history", max_bytes=longest, error=FieldError) if raw.strip() else []
    if not isinstance(value, list):
        raise FieldError('history: expected a JSON list of {"question", "answer"} objects')
    if len(value) > max_rounds:
        raise FieldError(f"history: {len(value)} rounds, over the limit of {max_rounds}")
    rounds = []
    for number, entry in enumerate(value, start=1):
        if isinstance(entry, dict):
            pair = (entry.get("question"), entry.get("answer"))
        elif isinstance(entry, list) and len(entry) == 2:
            pair = (entry[0], entry[1])
        else:
            pair = (None, None)
        question, answer = pair
        if not isinstance(question, str) or not isinstance(answer, str):
            raise FieldError(f'history round {number}: expected {{"question": str, "answer": str}}')
        where = f"history round {number}"
        rounds.append(
            (
                check_text(question, field=f"{where} question", max_chars=max_chars),
                check_text(answer, field=f"{where} answer", max_chars=max_chars, required=False),
            )
        )
    return tuple(rounds)


def _history_parser(limits: ServingLimits) -> Callable[[str], History]:
    def parse(raw: str) -> History:
        return parse_history(raw, max_rounds=limits.max_history_rounds, max_chars=limits.max_text_chars)

    return parse


def _fields(limits: ServingLimits) -> tuple[FormField, ...]:
    return (
        FormField("question", "the new question", max_chars=limits.max_text_chars, words=True),
        FormField("caption", "a caption that starts the dialog history", default="", max_chars=limits.max_text_chars),
        FormField(
            "history",
            'earlier rounds, JSON: [{"question": "...", "answer": "..."}, ...]',
            default="[]",
            parse=_history_parser(limits),
        ),
        FormField("top", "how many candidate answers to list", kind=int, default=5, minimum=1, maximum=limits.max_top),
        FormField("beam_size", "generative models", kind=int, default=3, minimum=1, maximum=limits.max_beam_size),
    )


def _request(fields: Mapping[str, Any], pixels: torch.Tensor) -> DialogRequest:
    return DialogRequest(
        pixels, fields["caption"], fields["history"], fields["question"], fields["top"], fields["beam_size"]
    )


def _key(agent: DialogAgent, request: DialogRequest) -> Hashable:
    """Generative models batch by beam size; discriminative ones rank every dialog in one pass."""
    return request.beam_size if getattr(agent.model, "decoder", None) == "generative" else None


def _to_json(request: DialogRequest, turn: DialogTurn) -> dict[str, Any]:
    return {
        "round": len(request.history) + 1,
        "question": request.question,
        "answer": turn.answer,
        "alternatives": [{"answer": answer, "probability": round(p, 4)} for answer, p in turn.alternatives],
    }


SERVING: Serving[DialogRequest, DialogTurn] = Serving(
    summary="answer the next question of a dialog about an image",
    fields=_fields,
    request=_request,
    batch=dialog_batch,
    to_json=_to_json,
    key=_key,
)
"""``POST /v1/dialog``: multipart ``image``, ``question``, ``history`` (JSON), ``caption``, ``top``,
``beam_size``; answers ``round``, ``question``, ``answer`` and ``alternatives`` (discriminative
models' best candidates with probabilities)."""
