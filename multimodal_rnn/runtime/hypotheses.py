"""Beam search's pool of finished hypotheses in numpy, by the rules of
:class:`multimodal_rnn.decoding.hypotheses.HypothesisPool`.

Every item starts with ``n_best`` empty placeholders scored -inf (not ended), pooled first; the
best ``n_best`` of an item are its pooled hypotheses sorted by score, best first, ties in pooling
order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BeamResult:
    """Beam search's answer for B items, ``n_best`` hypotheses each, best first.

    Attributes:
        hypotheses: per item, ``n_best`` token-id lists without bos and eos.
        hypothesis_scores: (B, n_best) float32, sorted descending (-inf: a placeholder).
        hypothesis_ended: (B, n_best) bool, True where the hypothesis emitted eos.
        hypothesis_traces: with ``record``, per item ``n_best`` (len(hypothesis), ...) arrays.
    """

    hypotheses: list[list[list[int]]]
    hypothesis_scores: np.ndarray
    hypothesis_ended: np.ndarray
    hypothesis_traces: list[list[np.ndarray]] | None

    @property
    def sequences(self) -> list[list[int]]:
        """The best hypothesis of each item."""
        return [item[0] for item in self.hypotheses]

    @property
    def scores(self) -> np.ndarray:
        """(B,) score of the best hypothesis of each item."""
        return self.hypothesis_scores[:, 0]

    @property
    def traces(self) -> list[np.ndarray] | None:
        """The trace of the best hypothesis of each item, or None without ``record``."""
        return None if self.hypothesis_traces is None else [item[0] for item in self.hypothesis_traces]


class HypothesisPool:
    """Finished hypotheses of B items, kept as the chunks they were pooled in; ``threshold`` is
    each item's ``n_best``-th best pooled score (-inf until ``n_best`` are in)."""

    def __init__(self, items: int, n_best: int, max_length: int, pad_id: int) -> None:
        self.items, self.n_best, self.max_length, self.pad_id = items, n_best, max_length, pad_id
        self._top = np.full((items, n_best), -np.inf, dtype=np.float32)  # (B, n) best first
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, bool]] = []

    def threshold(self, items: np.ndarray) -> np.ndarray:
        """(I,) the ``n_best``-th best pooled score of each of ``items``."""
        return self._top[items, -1]

    def add(
        self, items: np.ndarray, scores: np.ndarray, words: np.ndarray, traces: np.ndarray | None, *, ended: bool
    ) -> None:
        """Pool hypotheses of ``items`` (I,): scores (I, K) (-inf: none), words (I, K, l), traces (I, K, l, ...)."""
        self._chunks.append((items, scores, words, traces, ended))
        merged = np.concatenate([self._top[items], scores], axis=1)
        self._top[items] = -np.sort(-merged, axis=1)[:, : self.n_best]

    def best(self, *, eos_id: int) -> BeamResult:
        """The ``n_best`` highest-scoring pooled hypotheses of each item, best first; ties keep pooling order."""
        n, length = self.n_best, self.max_length
        placeholders = np.repeat(np.arange(self.items), n)
        all_items = [placeholders] + [np.repeat(chunk[0], chunk[1].shape[1]) for chunk in self._chunks]
        all_scores = [np.full(len(placeholders), -np.inf, dtype=np.float32)]
        all_words = [np.full((len(placeholders), length), self.pad_id, dtype=np.int64)]
        lengths = [np.zeros(len(placeholders), dtype=np.int64)]
        ended = [np.zeros(len(placeholders), dtype=bool)]
        for _, chunk_scores, chunk_words, _, chunk_ended in self._chunks:
            all_scores.append(chunk_scores.reshape(-1))
            flat = chunk_words.reshape(chunk_scores.size, chunk_words.shape[2])
            all_words.append(np.pad(flat, ((0, 0), (0, length - flat.shape[1])), constant_values=self.pad_id))
            lengths.append(np.full(flat.shape[0], chunk_words.shape[2], dtype=np.int64))
            ended.append(np.full(flat.shape[0], chunk_ended, dtype=bool))
        entry_items, entry_scores = np.concatenate(all_items), np.concatenate(all_scores)
        order = np.argsort(-entry_scores, kind="stable")  # by score, best first, then pooling order
        order = order[np.argsort(entry_items[order], kind="stable")]  # grouped by item
        counts = np.bincount(entry_items, minlength=self.items)
        starts = np.cumsum(counts) - counts
        chosen = order[starts[:, None] + np.arange(n)]  # (B, n) entry index
        best_words, best_lengths = np.concatenate(all_words)[chosen], np.concatenate(lengths)[chosen]
        hypotheses = [
            [row[:size] for row, size in zip(item_words, item_lengths)]
            for item_words, item_lengths in zip(best_words.tolist(), best_lengths.tolist())
        ]
        return BeamResult(
            hypotheses, entry_scores[chosen], np.concatenate(ended)[chosen], self._traces(chosen, best_lengths)
        )

    def _traces(self, chosen: np.ndarray, lengths: np.ndarray) -> list[list[np.ndarray]] | None:
        """Per item the ``n_best`` (length, ...) traces of the entries ``chosen`` (B, n); None without traces."""
        template = next((chunk[3] for chunk in self._chunks if chunk[3] is not None), None)
        if template is None:
            return None
        shape = (self.max_length, *template.shape[3:])
        traces = [np.zeros((self.items * self.n_best, *shape), dtype=template.dtype)]
        for _, chunk_scores, chunk_words, chunk_traces, _ in self._chunks:
            padded = np.zeros((chunk_scores.size, *shape), dtype=template.dtype)
            if chunk_traces is not None:
                padded[:, : chunk_words.shape[2]] = chunk_traces.reshape(chunk_scores.size, *chunk_traces.shape[2:])
            traces.append(padded)
        picked = np.concatenate(traces)[chosen]  # (B, n, L, ...)
        return [
            [trace[:size] for trace, size in zip(item, item_lengths)]
            for item, item_lengths in zip(picked, lengths.tolist())
        ]
