"""History ablation for visual dialog: do the questions that refer back need the dialog history?

A question **refers back** (:func:`refers_back`) when one of its words (COCO tokenization) is a
third-person pronoun (:data:`REFERRING_WORDS`: ``it``, ``its``, ``they``, ``them``, ...) or it
starts with ``what about`` / ``how about``. In the shapes world these are exactly the questions
that cannot be answered without the history (``what color is it``, ``is it large``, ``is it to
the left of the blue square``, ``what is above it``, ``what about the square``): every other
question names its object. On real VisDial it is a heuristic (it misses ``is that ...``, and
``it`` sometimes means the whole picture).

:func:`history_ablation` ranks the 100 options of every answered round of a split under several
history conditions, with the same model and weights:

* ``"full"``: as evaluation does; round r reads the caption and the ground-truth question-answer
  pairs of rounds 1..r-1;
* ``"caption_only"``: each round is ranked as the only round of its own dialog: the history is
  the caption alone;
* ``"none"``: the same with the caption removed too; the history is a single ``<unk>`` word (what
  the model reads for an empty caption, e.g. in a chat started without one).

A one-round dialog also removes what a hierarchical encoder carries from round to round, so
the blanked conditions cut every path from earlier rounds. Scores are R@1 and MRR (with R@5,
R@10 and mean rank) of the ground-truth option, separately for the rounds that refer back and,
as a control, for the others (which should barely change).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from PIL import Image

from multimodal_rnn.datasets.visdial import NO_ANSWER, DialogRecord, VisDialData
from multimodal_rnn.tasks.dialog.predictor import DialogAgent
from multimodal_rnn.errors import ConfigError
from multimodal_rnn.metrics.dialog import RoundKey, retrieval_metrics
from multimodal_rnn.text.vocab import tokenize

REFERRING_WORDS = frozenset({"it", "its", "itself", "they", "them", "their", "he", "him", "his", "she", "her"})
"""Pronouns that make a question refer back to the history."""
REFERRING_PREFIXES = (("what", "about"), ("how", "about"))
"""Opening words that make a question refer back (``what about the square``)."""
HISTORY_CONDITIONS = ("full", "caption_only", "none")
"""What a round sees of the history (see the module docstring)."""
GROUPS = ("refers_back", "other")
"""Row groups of :class:`HistoryAblation`: rounds whose question refers back, and the rest."""


def refers_back(question: str) -> bool:
    """Whether ``question`` refers to something only the history names (see the module docstring)."""
    words = tokenize(question)
    return bool(REFERRING_WORDS.intersection(words)) or tuple(words[:2]) in REFERRING_PREFIXES


@dataclass(frozen=True)
class HistoryAblation:
    """Ranking quality of one model under each history condition.

    Attributes:
        conditions: the conditions ranked, in order (a subset of :data:`HISTORY_CONDITIONS`).
        rounds: ``{group: number of answered rounds}`` for each of :data:`GROUPS`.
        metrics: ``{group: {condition: {"r@1", "r@5", "r@10", "mean_rank", "mrr"}}}``; a group
            without rounds has an empty dict.
        bad_images: unreadable image path -> the one-line reason (their rounds are not counted).
    """

    conditions: tuple[str, ...]
    rounds: dict[str, int]
    metrics: dict[str, dict[str, dict[str, float]]]
    bad_images: dict[str, str]


def history_ablation(
    agent: DialogAgent,
    data: VisDialData,
    load_image: Callable[[str], Image.Image],
    *,
    conditions: Sequence[str] = HISTORY_CONDITIONS,
    batch_size: int = 32,
    max_bad_images: int = 100,
    progress: Callable[..., Iterable[Any]] | None = None,
) -> HistoryAblation:
    """Rank every answered round of ``data`` under each of ``conditions`` and score it per group.

    Args:
        agent: the dialog model (any registered encoder and decoder).
        data: a VisDial split; rounds without a ground-truth answer (the held-out last round of
            a test dialog) are not scored.
        load_image: path -> RGB PIL image (raises :class:`~multimodal_rnn.errors.InputError` when unreadable).
        conditions: which of :data:`HISTORY_CONDITIONS` to rank, in the order reported.
        batch_size: dialogs per batch (a blanked condition has one dialog per round).
        progress: wraps each condition's batch iterable (see :meth:`DialogAgent.rank`).

    Raises:
        ConfigError: an unknown or repeated condition, or none.
        InputError: more than ``max_bad_images`` images could not be read.
    """
    unknown = [c for c in conditions if c not in HISTORY_CONDITIONS]
    if unknown or not conditions or len(set(conditions)) != len(conditions):
        raise ConfigError(f"history conditions must be distinct names from {', '.join(HISTORY_CONDITIONS)}; "
                          f"got {', '.join(conditions) or 'none'}")
    group_of = {
        (dialog.image_id, r + 1): GROUPS[0] if refers_back(data.question(dialog, r)) else GROUPS[1]
        for dialog in data.dialogs
        for r in range(dialog.num_rounds)
        if int(dialog.gt_index[r]) != NO_ANSWER
    }
    ranks: dict[str, dict[RoundKey, int]] = {}
    bad_images: dict[str, str] = {}
    for condition in conditions:
        ranked, bad = _gt_ranks(agent, data, load_image, condition, batch_size=batch_size,
                                max_bad_images=max_bad_images, progress=progress)
        ranks[condition] = ranked
        bad_images.update(bad)
    scored = [key for key in group_of if all(key in ranks[c] for c in conditions)]  # readable images only
    rounds = {group: sum(group_of[key] == group for key in scored) for group in GROUPS}
    metrics: dict[str, dict[str, dict[str, float]]] = {group: {} for group in GROUPS}
    for group in GROUPS:
        keys = [key for key in scored if group_of[key] == group]
        if keys:
            metrics[group] = {c: retrieval_metrics([ranks[c][key] for key in keys]) for c in conditions}
    return HistoryAblation(tuple(conditions), rounds, metrics, bad_images)


def _gt_ranks(
    agent: DialogAgent,
    data: VisDialData,
    load_image: Callable[[str], Image.Image],
    condition: str,
    **rank_options: Any,
) -> tuple[dict[RoundKey, int], dict[str, str]]:
    """``{(image_id, round_id): rank of the ground truth}`` of the answered rounds under ``condition``."""
    if condition == "full":
        ranked, keys = agent.rank(data, load_image, **rank_options), None
    else:
        single, keys = _single_round_dialogs(data, keep_caption=condition == "caption_only")
        ranked = agent.rank(single, load_image, **rank_options)
    gt = data.gt_indices()
    result: dict[RoundKey, int] = {}
    for entry in ranked.entries:
        key = (entry["image_id"], entry["round_id"]) if keys is None else keys[entry["image_id"]]
        if gt[key] is not None:
            result[key] = int(entry["ranks"][gt[key]])
    return result, ranked.bad_images


def _single_round_dialogs(data: VisDialData, *, keep_caption: bool) -> tuple[VisDialData, list[RoundKey]]:
    """Every answered round as a dialog of its own; its image_id k indexes the returned round keys."""
    dialogs: list[DialogRecord] = []
    keys: list[RoundKey] = []
    for dialog in data.dialogs:
        for r in range(dialog.num_rounds):
            if int(dialog.gt_index[r]) == NO_ANSWER:
                continue
            one = slice(r, r + 1)
            dialogs.append(DialogRecord(len(keys), dialog.caption if keep_caption else "", dialog.image_path,
                                        dialog.questions[one], dialog.answers[one], dialog.options[one],
                                        dialog.gt_index[one]))
            keys.append((dialog.image_id, r + 1))
    return VisDialData(data.split, data.questions, data.answers, dialogs), keys
