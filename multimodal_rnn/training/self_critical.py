"""Self-critical sequence training (Rennie et al. 2017) over the one ``step()`` contract.

:class:`SelfCritical` samples ``num_samples`` captions per item through the model's ``step``
(:func:`multimodal_rnn.decoding.sample_decode`), rewards each with CIDEr-D whose document
frequencies come from the training references, and subtracts a baseline: the reward of the
greedy caption (``"greedy"``, the paper's choice) or the mean reward of the item's other samples
(``"mean"``). Loss = -mean((reward - baseline) * sum_t log p(w_t)). A task says how a batch starts
its decoder (:meth:`SelfCritical.start`); the image and video captioners subclass it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from multimodal_rnn.decoding import Context, State, greedy_decode, sample_decode
from multimodal_rnn.errors import ConfigError
from multimodal_rnn.metrics.cider import CiderD

BASELINES = ("greedy", "mean")
"""The SCST baselines: the greedy caption's reward, or the mean reward of the other samples."""


class SelfCritical(nn.Module):
    """Wraps a caption model with ``config`` (``bos_id``, ``eos_id``, ``pad_id``, ``max_length``),
    ``step`` and whatever :meth:`start` uses; ``forward(batch)`` returns the SCST loss.

    Args:
        model: the caption model (its parameters are this module's ``model.*``).
        cider: a :class:`CiderD` built on the training references.
        references: tokenized reference captions per dataset record index (strings of
            space-separated tokens), looked up through ``batch["index"]``.
        decode_words: token ids -> the words the reward sees (the vocabulary's decode).
        num_samples: captions sampled per item (at least 2 for the ``"mean"`` baseline).
        baseline: one of :data:`BASELINES`.
        max_length: longest sampled caption, tokens with the eos (default: the model's).
        item: what one batch row is, for messages (``"image"``, ``"clip"``).
    """

    def __init__(
        self,
        model: nn.Module,
        cider: CiderD,
        references: Sequence[Sequence[str]],
        decode_words: Callable[[Sequence[int]], list[str]],
        *,
        num_samples: int = 5,
        baseline: str = "greedy",
        max_length: int | None = None,
        item: str = "image",
    ) -> None:
        super().__init__()
        if baseline not in BASELINES:
            raise ConfigError(f"unknown SCST baseline {baseline!r} (expected one of {', '.join(BASELINES)})")
        if baseline == "mean" and num_samples < 2:
            raise ConfigError(f"the mean-of-samples baseline needs at least 2 samples per {item}")
        self.model = model
        self.cider = cider
        self.references = references
        self.decode_words = decode_words
        self.num_samples = num_samples
        self.baseline = baseline
        config: Any = model.config
        self.max_length: int = max_length or config.max_length

    def start(self, batch: dict[str, Any]) -> tuple[State, Context]:
        """The decoder's ``(state, context)`` for ``batch`` (one row per item)."""
        raise NotImplementedError

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        config: Any = self.model.config
        indices = [int(i) for i in batch["index"]]
        batch_size, k = len(indices), self.num_samples
        state, context = self.start(batch)  # each decoder expands the context once
        options: dict[str, Any] = dict(
            batch_size=batch_size,
            bos_id=config.bos_id,
            eos_id=config.eos_id,
            pad_id=config.pad_id,
            max_length=self.max_length,
        )
        step: Any = self.model.step
        samples = sample_decode(step, state, context, num_samples=k, **options)  # rows b*k + j
        references = [self.references[i] for i in indices for _ in range(k)]
        rewards = self._rewards(samples.sequences, references).view(batch_size, k)  # (B, K)
        if self.baseline == "greedy":
            with torch.no_grad():
                greedy = greedy_decode(step, state, context, **options)
            baseline = self._rewards(greedy.sequences, [self.references[i] for i in indices])[:, None]  # (B, 1)
        else:
            baseline = (rewards.sum(dim=1, keepdim=True) - rewards) / (k - 1)  # mean of the other samples
        advantage = (rewards - baseline).to(samples.scores.device).view(-1)  # (B*K,)
        loss = -(advantage * samples.scores).mean()
        return {"loss": loss, "reward": rewards.mean(), "advantage": advantage.mean()}

    def _rewards(self, sequences: Sequence[Sequence[int]], references: Sequence[Sequence[str]]) -> torch.Tensor:
        """(N,) CIDEr-D of each decoded sequence against its reference list.

        ``self.cider`` keeps the tf-idf vectors of every reference list it has scored, so after
        the first epoch only the sampled captions are vectorized.
        """
        candidates = [" ".join(self.decode_words(sequence)) for sequence in sequences]
        return torch.tensor(self.cider.score_batch(candidates, references), dtype=torch.float32)
