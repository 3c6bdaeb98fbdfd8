"""Self-critical sequence training (Rennie et al. 2017) for video caption models.

The objective samples ``num_samples`` captions per clip through the model's ``step``
(:func:`multimodal_rnn.decoding.sample_decode`), rewards each with CIDEr-D whose document
frequencies come from the training references, and subtracts a baseline: the reward of the
greedy caption (``"greedy"``, the paper's choice) or the mean reward of the clip's other samples
(``"mean"``). Loss = -mean((reward - baseline) * sum_t log p(w_t)).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from multimodal_rnn.decoding import greedy_decode, sample_decode
from multimodal_rnn.errors import ConfigError
from multimodal_rnn.metrics.cider import CiderD
from multimodal_rnn.tasks.video_caption.models import VideoCaptionModel

BASELINES = ("greedy", "mean")


class VideoSelfCritical(nn.Module):
    """Wraps a :class:`VideoCaptionModel`; ``forward(batch)`` returns the SCST loss.

    Args:
        model: the video caption model (its parameters are this module's ``model.*``).
        cider: a :class:`CiderD` built on the training references.
        references: tokenized reference captions per dataset record index (strings of
            space-separated tokens), looked up through ``batch["index"]``.
        decode_words: token ids -> the words the reward sees (the vocabulary's decode).
    """

    def __init__(
        self,
        model: VideoCaptionModel,
        cider: CiderD,
        references: Sequence[Sequence[str]],
        decode_words: Callable[[Sequence[int]], list[str]],
        *,
        num_samples: int = 5,
        baseline: str = "greedy",
        max_length: int | None = None,
    ) -> None:
        super().__init__()
        if baseline not in BASELINES:
            raise ConfigError(f"unknown SCST baseline {baseline!r} (expected one of {', '.join(BASELINES)})")
        if baseline == "mean" and num_samples < 2:
            raise ConfigError("the mean-of-samples baseline needs at least 2 samples per clip")
        self.model = model
        self.cider = cider
        self.references = references
        self.decode_words = decode_words
        self.num_samples = num_samples
        self.baseline = baseline
        self.max_length = max_length or model.config.max_length

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        config = self.model.config
        indices = [int(i) for i in batch["index"]]
        batch_size, k = len(indices), self.num_samples
        state, context = self.model.start(self.model.encode_batch(batch))
        options = dict(
            batch_size=batch_size,
            bos_id=config.bos_id,
            eos_id=config.eos_id,
            pad_id=config.pad_id,
            max_length=self.max_length,
        )
        samples = sample_decode(self.model.step, state, context, num_samples=k, **options)  # type: ignore[arg-type]
        references = [self.references[i] for i in indices for _ in range(k)]
        rewards = self._rewards(samples.sequences, references).view(batch_size, k)  # (B, K)
        if self.baseline == "greedy":
            with torch.no_grad():
                greedy = greedy_decode(self.model.step, state, context, **options)  # type: ignore[arg-type]
            baseline = self._rewards(greedy.sequences, [self.references[i] for i in indices])[:, None]  # (B, 1)
        else:
            baseline = (rewards.sum(dim=1, keepdim=True) - rewards) / (k - 1)  # mean of the other samples
        advantage = (rewards - baseline).to(samples.scores.device).view(-1)  # (B*K,)
        loss = -(advantage * samples.scores).mean()
        return {"loss": loss, "reward": rewards.mean(), "advantage": advantage.mean()}

    def _rewards(self, sequences: Sequence[Sequence[int]], references: Sequence[Sequence[str]]) -> torch.Tensor:
        """(N,) CIDEr-D of each decoded sequence against its reference list."""
        candidates = [" ".join(self.decode_words(sequence)) for sequence in sequences]
        return torch.tensor(self.cider.score_batch(candidates, references), dtype=torch.float32)
