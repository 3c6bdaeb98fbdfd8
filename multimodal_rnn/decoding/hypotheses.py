"""The pool of finished beam-search hypotheses and the choice of the best ones per item."""

from __future__ import annotations

from bisect import bisect_right

import torch
from torch import Tensor

from multimodal_rnn.decoding.outputs import BeamOutput


class HypothesisPool:
    """Finished hypotheses of every item, kept as chunks of (B, K) candidates.

    Starts with K empty hypotheses scored -inf per item, so that ``best`` always has enough
    candidates; ``kth_best`` (B,) is the K-th best score pooled so far.
    """

    def __init__(self, items: int, width: int, device: torch.device) -> None:
        self.width = width
        self.scores: list[Tensor] = []
        self.words: list[Tensor] = []
        self.traces: list[Tensor | None] = []
        self.ended: list[bool] = []
        self._top_scores = torch.full((items, width), float("-inf"), device=device)  # (B, K) best first
        self.add(
            self._top_scores,
            torch.empty((items, width, 0), dtype=torch.long, device=device),
            None,
            ended=False,
        )

    @property
    def kth_best(self) -> Tensor:
        """(B,) the K-th best pooled score of each item."""
        return self._top_scores[:, -1]

    def add(self, scores: Tensor, words: Tensor, traces: Tensor | None, *, ended: bool) -> None:
        """Pool (B, K) hypotheses: scores (B, K), words (B, K, L), traces (B, K, L, ...) or None."""
        self.scores.append(scores)
        self.words.append(words)
        self.traces.append(traces)
        self.ended.append(ended)
        self._top_scores = torch.cat([self._top_scores, scores], dim=1).topk(self.width, dim=1).values

    def best(self, n_best: int, *, eos_id: int, pad_id: int, trace_template: Tensor | None) -> BeamOutput:
        """The ``n_best`` highest-scoring pooled hypotheses of each item, best first.

        ``trace_template`` (B, K, L, ...) is any recorded trace (None without ``record``); it gives
        the shape and dtype of the empty traces of the -inf placeholders.
        """
        with_traces = trace_template is not None
        all_scores = torch.cat(self.scores, dim=1)  # (B, C)
        best_scores, best_index = all_scores.topk(n_best, dim=1)  # (B, n)
        chunk_starts = [chunk * self.width for chunk in range(len(self.scores))]
        words = [chunk.tolist() for chunk in self.words]
        hypotheses: list[list[list[int]]] = []
        traces: list[list[Tensor]] = []
        ended = []
        for item, choices in enumerate(best_index.tolist()):
            item_hypotheses, item_traces, item_ended = [], [], []
            for choice in choices:
                chunk = bisect_right(chunk_starts, choice) - 1
                beam = choice - chunk_starts[chunk]
                item_hypotheses.append(words[chunk][item][beam])
                item_ended.append(self.ended[chunk])
                if trace_template is not None:
                    chunk_trace = self.traces[chunk]
                    item_traces.append(
                        chunk_trace[item, beam] if chunk_trace is not None
                        else trace_template.new_empty((0, *trace_template.shape[3:]))
                    )
            hypotheses.append(item_hypotheses)
            traces.append(item_traces)
            ended.append(item_ended)
        ended_tensor = torch.tensor(ended, dtype=torch.bool, device=best_scores.device)
        return BeamOutput(
            hypotheses=hypotheses,
            hypothesis_scores=best_scores,
            hypothesis_ended=ended_tensor,
            tokens=_pad_hypotheses(hypotheses, ended, eos_id, pad_id, best_scores.device),
            hypothesis_traces=traces if with_traces else None,
        )


def _pad_hypotheses(
    hypotheses: list[list[list[int]]], ended: list[list[bool]], eos_id: int, pad_id: int, device: torch.device
) -> Tensor:
    """(B, n, T) LongTensor of the hypotheses followed by eos where they ended, then ``pad_id``."""
    rows = [
        [words + [eos_id] if hypothesis_ended else words for words, hypothesis_ended in zip(item, item_ended)]
        for item, item_ended in zip(hypotheses, ended)
    ]
    width = max(len(row) for item in rows for row in item)
    padded = [[row + [pad_id] * (width - len(row)) for row in item] for item in rows]
    return torch.tensor(padded, dtype=torch.long, device=device).reshape(len(rows), len(rows[0]), width)
