"""What the decoding algorithms return: :class:`DecodeOutput` (greedy, sampling) and :class:`BeamOutput`."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class DecodeOutput:
    """Result of :func:`greedy_decode` or :func:`sample_decode` for R rows (R = B * num_samples).

    Attributes:
        sequences: per row, the generated token ids without bos and eos.
        tokens: (R, T) LongTensor of generated tokens, the eos included, then ``pad_id``;
            T is the number of steps run (at most ``max_length``).
        logprobs: (R, T) float32 log-probability under the model of each token in ``tokens``
            (0 where ``mask`` is False); keeps the autograd graph of ``step``.
        mask: (R, T) BoolTensor, True for generated tokens (eos included).
        scores: (R,) float32 sum of ``logprobs`` over the row.
        ended: (R,) BoolTensor, True where the row emitted eos (False: cut at ``max_length``).
        traces: with ``record``, per row a (len(sequence), ...) tensor; else None.
    """

    sequences: list[list[int]]
    tokens: Tensor
    logprobs: Tensor
    mask: Tensor
    scores: Tensor
    ended: Tensor
    traces: list[Tensor] | None


@dataclass(frozen=True)
class BeamOutput:
    """Result of :func:`beam_search` for B items, ``n_best`` hypotheses each, best first.

    Attributes:
        hypotheses: per item, ``n_best`` token-id lists without bos and eos.
        hypothesis_scores: (B, n_best) float32 scores (length-normalised when a penalty is used),
            sorted descending; an item with fewer than ``n_best`` possible hypotheses is filled
            with empty, unended ones scored -inf.
        hypothesis_ended: (B, n_best) BoolTensor, True where the hypothesis emitted eos.
        tokens: (B, n_best, T) LongTensor of each hypothesis, its eos included, then ``pad_id``.
        hypothesis_traces: with ``record``, per item ``n_best`` (len(hypothesis), ...) tensors.
    """

    hypotheses: list[list[list[int]]]
    hypothesis_scores: Tensor
    hypothesis_ended: Tensor
    tokens: Tensor
    hypothesis_traces: list[list[Tensor]] | None

    @property
    def sequences(self) -> list[list[int]]:
        """The best hypothesis of each item."""
        return [item[0] for item in self.hypotheses]

    @property
    def scores(self) -> Tensor:
        """(B,) score of the best hypothesis of each item."""
        return self.hypothesis_scores[:, 0]

    @property
    def traces(self) -> list[Tensor] | None:
        """The trace of the best hypothesis of each item, or None without ``record``."""
        if self.hypothesis_traces is None:
            return None
        return [item[0] for item in self.hypothesis_traces]
