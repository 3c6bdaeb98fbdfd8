"""The pool of finished beam-search hypotheses and the choice of the best ones per item."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from multimodal_rnn.decoding.outputs import BeamOutput


class HypothesisPool:
    """Finished hypotheses of B items, kept as the chunks they were pooled in.

    ``threshold`` is the ``n_best``-th best score pooled so far (-inf until ``n_best``
    hypotheses are in): a hypothesis that cannot beat it can no longer change the answer. Every
    item starts with ``n_best`` empty placeholders scored -inf (not ended), pooled before anything
    else, so that ``best`` always has enough hypotheses.
    """

    def __init__(self, items: int, n_best: int, max_length: int, pad_id: int, device: torch.device) -> None:
        self.items, self.n_best, self.max_length, self.pad_id = items, n_best, max_length, pad_id
        self._top = torch.full((items, n_best), float("-inf"), device=device)  # (B, n) best first
        self._chunks: list[tuple[Tensor, Tensor, Tensor, Tensor | None, bool]] = []

    def threshold(self, items: Tensor) -> Tensor:
        """(I, 1) the ``n_best``-th best pooled score of each of ``items`` (I,)."""
        return self._top[:, -1:] if len(items) == self.items else self._top[items, -1:]

    def add(self, items: Tensor, scores: Tensor, words: Tensor, traces: Tensor | None, *, ended: bool) -> None:
        """Pool hypotheses of ``items`` (I,): scores (I, K) (-inf: none), words (I, K, l), traces (I, K, l, ...)."""
        self._chunks.append((items, scores, words, traces, ended))
        if len(items) == self.items:  # every item (they are 0 .. B-1 while none has finished)
            self._top = torch.cat([self._top, scores], dim=1).topk(self.n_best, dim=1).values
        else:
            self._top[items] = torch.cat([self._top[items], scores], dim=1).topk(self.n_best, dim=1).values

    def best(self, *, eos_id: int) -> BeamOutput:
        """The ``n_best`` highest-scoring pooled hypotheses of each item, best first; ties keep pooling order."""
        device = self._top.device
        placeholders = torch.arange(self.items, device=device).repeat_interleave(self.n_best)
        items = [placeholders] + [
            chunk_items.repeat_interleave(chunk_scores.shape[1]) for chunk_items, chunk_scores, *_ in self._chunks
        ]
        scores = [torch.full((len(placeholders),), float("-inf"), device=device)]
        words = [torch.full((len(placeholders), self.max_length), self.pad_id, dtype=torch.long, device=device)]
        lengths = [torch.zeros(len(placeholders), dtype=torch.long, device=device)]
        ended = [torch.zeros(len(placeholders), dtype=torch.bool, device=device)]
        for _, chunk_scores, chunk_words, _, chunk_ended in self._chunks:
            scores.append(chunk_scores.reshape(-1))
            length = chunk_words.shape[2]
            words.append(F.pad(chunk_words.flatten(0, 1), (0, self.max_length - length), value=self.pad_id))
            lengths.append(torch.full_like(scores[-1], length, dtype=torch.long))
            ended.append(torch.full_like(scores[-1], chunk_ended, dtype=torch.bool))
        # entries sorted by item, then by score (best first), then by pooling order
        all_items, all_scores = torch.cat(items), torch.cat(scores)
        order = all_scores.sort(descending=True, stable=True).indices
        order = order[all_items[order].sort(stable=True).indices]
        counts = torch.bincount(all_items, minlength=self.items)
        starts = torch.cumsum(counts, 0) - counts
        chosen = order[starts[:, None] + torch.arange(self.n_best, device=device)]  # (B, n) entry index
        best_scores = all_scores[chosen]
        best_words, best_lengths, best_ended = (
            torch.cat(words)[chosen],
            torch.cat(lengths)[chosen],
            torch.cat(ended)[chosen],
        )
        lengths_list = best_lengths.tolist()
        hypotheses = [
            [row[:length] for row, length in zip(item_words, item_lengths)]
            for item_words, item_lengths in zip(best_words.tolist(), lengths_list)
        ]
        positions = torch.arange(self.max_length + 1, device=device)  # room for one eos
        tokens = F.pad(best_words, (0, 1), value=self.pad_id).masked_fill(
            positions >= best_lengths[..., None], self.pad_id
        )
        tokens = tokens.masked_fill((positions == best_lengths[..., None]) & best_ended[..., None], eos_id)
        width = int((best_lengths + best_ended.long()).max())
        return BeamOutput(
            hypotheses=hypotheses,
            hypothesis_scores=best_scores,
            hypothesis_ended=best_ended,
            tokens=tokens[:, :, :width],
            hypothesis_traces=self._traces(chosen, lengths_list),
        )

    def _traces(self, chosen: Tensor, lengths: list[list[int]]) -> list[list[Tensor]] | None:
        """Per item the ``n_best`` (length, ...) traces of the entries ``chosen`` (B, n); None without traces."""
        template = next((chunk[3] for chunk in self._chunks if chunk[3] is not None), None)
        if template is None:
            return None
        shape = (self.max_length, *template.shape[3:])
        traces = [template.new_zeros((self.items * self.n_best, *shape))]
        for _, chunk_scores, chunk_words, chunk_traces, _ in self._chunks:
            padded = template.new_zeros((chunk_scores.numel(), *shape))
            if chunk_traces is not None:  # with record, every chunk has its traces
                padded[:, : chunk_words.shape[2]] = chunk_traces.flatten(0, 1)
            traces.append(padded)
        picked = torch.cat(traces)[chosen]  # (B, n, L, ...)
        return [
            [trace[:length] for trace, length in zip(item, item_lengths)] for item, item_lengths in zip(picked, lengths)
        ]
