"""Soft (additive) attention over image grid features, as in Show, Attend and Tell.

For grid features f_1..f_N (e.g. a 14x14 CNN map flattened to N = 196 positions) and a query q
(usually the decoder's previous hidden state)::

    e_i     = w^T tanh(W_f f_i + W_q q)            (Bahdanau et al. 2015)
    alpha   = softmax_i(e_i)  over the valid positions
    context = sum_i alpha_i f_i
    context = sigmoid(w_g^T q + b_g) * context     (only when gated: the "gating scalar"
                                                    beta of Xu et al. 2015, one per example)

A decoder calls attention once per step with the same features, so ``W_f f_i`` can be computed
once per image with :meth:`AdditiveAttention.project_features` and passed back in.
"""

from __future__ import annotations

import torch
from torch import nn

from multimodal_rnn.errors import InputError


class AdditiveAttention(nn.Module):
    """Additive attention: features (B, N, F) and query (B, Q) -> context (B, F), weights (B, N)."""

    def __init__(self, query_size: int, feature_size: int, attention_size: int, gated: bool = False) -> None:
        super().__init__()
        self.query_size = query_size
        self.feature_size = feature_size
        self.attention_size = attention_size
        self.feature_projection = nn.Linear(feature_size, attention_size)  # W_f (with its bias)
        self.query_projection = nn.Linear(query_size, attention_size, bias=False)  # W_q
        self.score = nn.Linear(attention_size, 1, bias=False)  # w (a bias would cancel in the softmax)
        self.gate = nn.Linear(query_size, 1) if gated else None  # w_g, b_g

    def project_features(self, features: torch.Tensor) -> torch.Tensor:
        """features (B, N, F) -> W_f f + b (B, N, attention_size); reuse it across decoding steps."""
        return self.feature_projection(features)

    def forward(
        self,
        features: torch.Tensor,
        query: torch.Tensor,
        mask: torch.Tensor | None = None,
        projected_features: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend over ``features`` (B, N, F) with ``query`` (B, Q).

        Args:
            mask: (B, N) bool, True on positions that may be attended; None for all.
            projected_features: ``project_features(features)`` (B, N, A) if already computed.

        Returns:
            context (B, F) and weights (B, N); weights sum to 1 over the unmasked positions and
            are 0 on masked ones (a row with no unmasked position gets all-zero weights and a
            zero context).
        """
        if features.dim() != 3 or features.shape[2] != self.feature_size:
            raise InputError(f"attention features must be (B, N, {self.feature_size}), got {tuple(features.shape)}")
        batch_size, positions, _ = features.shape
        if tuple(query.shape) != (batch_size, self.query_size):
            raise InputError(f"attention query must be ({batch_size}, {self.query_size}), got {tuple(query.shape)}")
        if mask is not None and (mask.dtype != torch.bool or tuple(mask.shape) != (batch_size, positions)):
            raise InputError(
                f"attention mask must be a bool tensor of shape ({batch_size}, {positions}), "
                f"got {mask.dtype} {tuple(mask.shape)}"
            )
        if projected_features is None:
            projected_features = self.project_features(features)
        query_term = self.query_projection(query)[:, None, :]  # (B, 1, A)
        scores = self.score(torch.tanh(projected_features + query_term)).squeeze(2)  # (B, N)
        if mask is not None:
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=1)
        if mask is not None:
            weights = weights * mask  # exact zeros, also for a fully masked row
        context = torch.bmm(weights[:, None, :], features).squeeze(1)  # (B, F)
        if self.gate is not None:
            context = torch.sigmoid(self.gate(query)) * context  # (B, 1) * (B, F)
        return context, weights
