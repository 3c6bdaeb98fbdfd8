"""The pool of finished beam-search hypotheses: the ``n_best`` best of every item so far."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from multimodal_rnn.decoding.outputs import BeamOutput


class HypothesisPool:
    """The running ``n_best`` best pooled hypotheses of B items, best first, as padded tensors.

    Starts with ``n_best`` empty placeholders scored -inf per item (not ended), so that ``best``
    always has enough hypotheses. ``threshold`` (B,) is the ``n_best``-th best score pooled so
    far: a hypothesis that cannot beat it can no longer change the answer.
    """

    def __init__(self, items: int, n_best: int, max_length: int, pad_id: int, device: torch.device) -> None:
        self.n_best, self.max_length, self.pad_id = n_best, max_length, pad_id
        self.scores = torch.full((items, n_best), float("-inf"), device=device)  # (B, n), best first
        self.words = torch.full((items, n_best, max_length), pad_id, dtype=torch.long, device=device)  # (B, n, L)
        self.lengths = torch.zeros((items, n_best), dtype=torch.long, device=device)  # (B, n)
        self.ended = torch.zeros((items, n_best), dtype=torch.bool, device=device)  # (B, n)
        self.traces: Tensor | None = None  # (B, n, L, ...) once a trace is pooled

    @property
    def threshold(self) -> Tensor:
        """(B,) the ``n_best``-th best pooled score of each item."""
        return self.scores[:, -1]

    def add(self, items: Tensor, scores: Tensor, words: Tensor, traces: Tensor | None, *, ended: bool) -> None:
        """Pool the hypotheses of ``items`` (I,): scores (I, K), words (I, K, l), traces (I, K, l, ...) or None.

        Every hypothesis of one call has the same length l; a -inf score never displaces a
        pooled hypothesis.
        """
        length = words.shape[2]
        padded = F.pad(words, (0, self.max_length - length), value=self.pad_id)
        merged = torch.cat([self.scores[items], scores], dim=1)  # (I, n + K)
        best, choice = merged.sort(dim=1, descending=True, stable=True)  # ties: pooled first
        best, choice = best[:, : self.n_best], choice[:, : self.n_best]  # (I, n)
        self.scores[items] = best
        self.words[items] = _pick(torch.cat([self.words[items], padded], dim=1), choice)
        added = torch.full_like(scores, length, dtype=torch.long)
        self.lengths[items] = _pick(torch.cat([self.lengths[items], added], dim=1), choice)
        self.ended[items] = _pick(
            torch.cat([self.ended[items], torch.full_like(added, ended, dtype=torch.bool)], 1), choice
        )
        if traces is not None:
            if self.traces is None:
                shape = (*self.scores.shape, self.max_length, *traces.shape[3:])
                self.traces = traces.new_zeros(shape)
            padded_traces = traces.new_zeros((*traces.shape[:2], *self.traces.shape[2:]))
            padded_traces[:, :, :length] = traces
            self.traces[items] = _pick(torch.cat([self.traces[items], padded_traces], dim=1), choice)

    def best(self, *, eos_id: int) -> BeamOutput:
        """The pooled hypotheses of each item, best first (ties keep the order they were pooled in)."""
        lengths = self.lengths.tolist()
        hypotheses = [
            [words[:length] for words, length in zip(item_words, item_lengths)]
            for item_words, item_lengths in zip(self.words.tolist(), lengths)
        ]
        positions = torch.arange(self.max_length + 1, device=self.words.device)  # room for one eos
        words = F.pad(self.words, (0, 1), value=self.pad_id)
        tokens = words.masked_fill(positions >= self.lengths[..., None], self.pad_id)
        tokens = tokens.masked_fill((positions == self.lengths[..., None]) & self.ended[..., None], eos_id)
        width = int((self.lengths + self.ended.long()).max())
        traces = None
        if self.traces is not None:
            traces = [
                [trace[:length] for trace, length in zip(item_traces, item_lengths)]
                for item_traces, item_lengths in zip(self.traces, lengths)
            ]
        return BeamOutput(
            hypotheses=hypotheses,
            hypothesis_scores=self.scores,
            hypothesis_ended=self.ended,
            tokens=tokens[:, :, :width],
            hypothesis_traces=traces,
        )


def _pick(values: Tensor, choice: Tensor) -> Tensor:
    """values (I, C, ...) -> (I, n, ...): entries ``choice`` (I, n) along dim 1."""
    index = choice.reshape(*choice.shape, *([1] * (values.dim() - 2))).expand(*choice.shape, *values.shape[2:])
    return values.gather(1, index)
