"""Navigation head: instruction + egocentric view -> an action per step, with a recurrent memory.

The BabyAI baseline architecture on the shared recurrent core (Chevalier-Boisvert et al. 2019;
Hui et al. 2020, "bow + FiLM + memory"):

* instruction: word embeddings -> a :class:`RecurrentCore` (GRU) -> its last state ``u`` (B, U);
* observation: ``symbolic`` views (7x7x3 indices) get one learned embedding per (channel, value),
  summed per cell (B, E, 7, 7); ``pixels`` views go through the shared
  :class:`~multimodal_rnn.encoders.image.ImageEncoder` (small CNN) to a feature map. Then a 3x3 conv
  and ``film_layers`` residual blocks conv3x3-BatchNorm-FiLM(u)-ReLU (FiLM: ``gamma(u) * x + beta(u)``,
  off with ``film=False``), global max pooling -> (B, C), plus an embedding of the direction;
* memory: a :class:`RecurrentCore` (LSTM by default) stepping over the frames of an episode;
* actor: MLP over [memory output, u] -> logits over the 7 actions.

Contract: ``forward(batch) -> {"loss", "logits", "entropy"}`` over whole padded episodes (truncated
backpropagation through time every ``batch["tbptt_steps"]`` frames, 0 = none); rollouts call
:meth:`NavigationModel.encode_instruction` once and :meth:`NavigationModel.act` once per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from multimodal_rnn.encoders.image import ImageEncoder, ImageEncoderConfig
from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.recurrent import CoreConfig, RecurrentCore
from multimodal_rnn.recurrent.cells import State
from multimodal_rnn.registry import ModelEntry, Registry

NUM_ACTIONS = 7
OBS_MODES = ("symbolic", "pixels")
MODE_FIELDS = {"symbolic": ("num_values",), "pixels": ("encoder",)}
"""The config fields that only one observation mode uses (the other mode builds no module from them)."""


def _pixel_encoder() -> ImageEncoderConfig:
    return ImageEncoderConfig(backbone="small_cnn", image_size=56, channels=(32, 64))


@dataclass(frozen=True, kw_only=True)
class NavigationModelConfig:
    """Options of :class:`NavigationModel`.

    Attributes:
        num_words, pad_id: instruction vocabulary size and padding id.
        obs_mode: ``symbolic`` (7x7x3 indices) or ``pixels`` (RGB partial view, through ``encoder``).
        num_values: distinct values per symbolic channel (minigrid uses < 11 objects, 6 colors, 3 states).
        word_size, instruction_size: word embedding and instruction GRU widths (U).
        channels: C, width of the conv/FiLM blocks and of the image vector.
        film_layers: residual conv blocks; ``film`` conditions each on the instruction.
        direction_size: embedding of the agent's direction 0..3 (0 = not used).
        memory_cell, memory_size: the memory core's cell (rnn, gru, lstm) and width M.
        actor_size: hidden width of the actor MLP.
        encoder: the image encoder of ``pixels`` mode.

    ``num_values`` serves ``symbolic`` mode only and ``encoder`` ``pixels`` mode only
    (:data:`MODE_FIELDS`); training refuses an override of the field the chosen mode leaves unused.
    """

    num_words: int
    pad_id: int = 0
    obs_mode: str = "symbolic"
    num_values: int = 16
    word_size: int = 32
    instruction_size: int = 128
    channels: int = 64
    film_layers: int = 2
    film: bool = True
    direction_size: int = 8
    memory_cell: str = "lstm"
    memory_size: int = 128
    actor_size: int = 64
    encoder: ImageEncoderConfig = field(default_factory=_pixel_encoder)

    def __post_init__(self) -> None:
        if self.obs_mode not in OBS_MODES:
            raise ConfigError(f"NavigationModelConfig.obs_mode must be one of {', '.join(OBS_MODES)}, got {self.obs_mode!r}")
        for name in ("num_words", "num_values", "word_size", "instruction_size", "channels", "memory_size", "actor_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"NavigationModelConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.film_layers < 0 or self.direction_size < 0:
            raise ConfigError("NavigationModelConfig.film_layers and direction_size must be >= 0")
        if not 0 <= self.pad_id < self.num_words:
            raise ConfigError(f"NavigationModelConfig.pad_id must be in [0, {self.num_words}), got {self.pad_id}")


class FiLMBlock(nn.Module):
    """x + relu(gamma(u) * bn(conv3x3(x)) + beta(u)); plain conv-BN-ReLU residual block without FiLM."""

    def __init__(self, channels: int, condition_size: int, film: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(channels)
        self.film = nn.Linear(condition_size, 2 * channels) if film else None
        if self.film is not None:
            nn.init.zeros_(self.film.weight)
            with torch.no_grad():  # start as the identity modulation: gamma = 1, beta = 0
                self.film.bias.copy_(torch.cat([torch.ones(channels), torch.zeros(channels)]))

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """x (N, C, h, w), condition (N, U) -> (N, C, h, w)."""
        y = self.norm(self.conv(x))
        if self.film is not None:
            gamma, beta = self.film(condition).chunk(2, dim=1)
            y = gamma[:, :, None, None] * y + beta[:, :, None, None]
        return x + F.relu(y)


class NavigationModel(nn.Module):
    """See the module docstring; built from a :class:`NavigationModelConfig`."""

    value_offsets: torch.Tensor  # (3,) buffer, symbolic views only
    pixel_mean: torch.Tensor  # (1, 3, 1, 1) buffers, pixel views only
    pixel_std: torch.Tensor

    def __init__(self, config: NavigationModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.word_embedding = nn.Embedding(c.num_words, c.word_size, padding_idx=c.pad_id)
        self.instruction_core = RecurrentCore(CoreConfig(cell="gru", input_size=c.word_size, hidden_size=c.instruction_size))
        if c.obs_mode == "symbolic":
            self.cell_embedding = nn.Embedding(3 * c.num_values, c.channels)
            self.register_buffer("value_offsets", torch.arange(3) * c.num_values, persistent=False)
            stem_in = c.channels
            self.encoder = None
        else:
            self.encoder = ImageEncoder(c.encoder, load_weights=False)
            stem_in = self.encoder.feature_size
            self.register_buffer("pixel_mean", torch.tensor(c.encoder.mean).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("pixel_std", torch.tensor(c.encoder.std).view(1, 3, 1, 1), persistent=False)
        self.stem = nn.Sequential(nn.Conv2d(stem_in, c.channels, 3, padding=1, bias=False), nn.BatchNorm2d(c.channels),
                                  nn.ReLU())
        self.blocks = nn.ModuleList(FiLMBlock(c.channels, c.instruction_size, c.film) for _ in range(c.film_layers))
        self.direction_embedding = nn.Embedding(4, c.direction_size) if c.direction_size else None
        self.memory = RecurrentCore(CoreConfig(cell=c.memory_cell, input_size=c.channels + c.direction_size,
                                               hidden_size=c.memory_size))
        self.actor = nn.Sequential(nn.Linear(c.memory_size + c.instruction_size, c.actor_size), nn.Tanh(),
                                   nn.Linear(c.actor_size, NUM_ACTIONS))

    # -- pieces ------------------------------------------------------------------------------------

    def encode_instruction(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """tokens (B, L) ids, lengths (B,) in 1..L -> u (B, U), the GRU state after the last word."""
        _, (h,) = self.instruction_core(self.word_embedding(tokens), lengths=lengths.cpu())
        return h[:, -1]

    def encode_frames(self, images: torch.Tensor, directions: torch.Tensor, instruction: torch.Tensor) -> torch.Tensor:
        """images (N, H, W, 3) uint8, directions (N,), instruction u (N, U) -> frame vectors (N, C + D)."""
        if self.encoder is None:
            values = images.long().clamp_(0, self.config.num_values - 1) + self.value_offsets
            x = self.cell_embedding(values).sum(dim=3).permute(0, 3, 1, 2)  # (N, C, 7, 7)
        else:
            pixels = (images.permute(0, 3, 1, 2).float() / 255.0 - self.pixel_mean) / self.pixel_std
            grid = self.encoder(pixels).grid  # (N, h*w, D)
            h, w = self.encoder.grid_shape_for(images.shape[1], images.shape[2])
            x = grid.transpose(1, 2).reshape(grid.shape[0], grid.shape[2], h, w)
        x = self.stem(x)
        for block in self.blocks:
            x = block(x, instruction)
        features = x.amax(dim=(2, 3))
        if self.direction_embedding is not None:
            features = torch.cat([features, self.direction_embedding(directions.long().clamp(0, 3))], dim=1)
        return features

    def initial_memory(self, batch_size: int) -> State:
        """Zero memory state for ``batch_size`` episodes."""
        return self.memory.init_state(batch_size)

    def act(self, images: torch.Tensor, directions: torch.Tensor, instruction: torch.Tensor,
            memory: State) -> tuple[torch.Tensor, State]:
        """One step of B episodes: images (B, H, W, 3) uint8, directions (B,), u (B, U), memory
        -> (action logits (B, 7), new memory)."""
        frames = self.encode_frames(images, directions, instruction)
        out, memory = self.memory.step(frames, memory)
        return self.actor(torch.cat([out, instruction], dim=1)), memory

    # -- training ----------------------------------------------------------------------------------

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Imitation loss over whole padded episodes.

        Batch keys: ``instructions`` (B, L), ``instruction_lengths`` (B,), ``images``
        (B, T, H, W, 3) uint8, ``directions`` (B, T), ``lengths`` (B,) frames per episode (>= 1),
        ``actions`` (B, T) expert actions (any value at padding), optional ``tbptt_steps`` (int,
        0 = backpropagate through whole episodes) and ``entropy_coef`` (float).

        Returns ``loss`` = mean cross-entropy over real frames - entropy_coef * mean entropy,
        ``logits`` (B, T, 7) (zeros at padding), ``entropy`` and ``accuracy`` (scalars).
        """
        images, lengths = batch["images"], batch["lengths"]
        batch_size, steps = images.shape[:2]
        if lengths.min() < 1 or lengths.max() > steps:
            raise InputError(f"episode lengths must be in 1..{steps}")
        device = images.device
        mask = torch.arange(steps, device=device)[None, :] < lengths.to(device)[:, None]  # (B, T)
        instruction = self.encode_instruction(batch["instructions"], batch["instruction_lengths"])
        episode_of_frame = torch.arange(batch_size, device=device)[:, None].expand(batch_size, steps)[mask]
        features = self.encode_frames(images[mask], batch["directions"][mask], instruction[episode_of_frame])
        frames = features.new_zeros(batch_size, steps, features.shape[1])
        frames[mask] = features
        window = int(batch.get("tbptt_steps", 0) or 0) or steps
        outputs, state = [], None
        cpu_lengths = lengths.cpu()
        for start in range(0, steps, window):
            chunk = frames[:, start:start + window]
            chunk_lengths = (cpu_lengths - start).clamp(1, chunk.shape[1])  # finished episodes: masked below
            if state is not None:
                state = tuple(s.detach() for s in state)
            out, state = self.memory(chunk, lengths=chunk_lengths, state=state)
            outputs.append(out)
        memory_out = torch.cat(outputs, dim=1)
        logits = self.actor(torch.cat([memory_out, instruction[:, None, :].expand(-1, steps, -1)], dim=2))
        real_logits, targets = logits[mask], batch["actions"].to(device)[mask].long()
        cross_entropy = F.cross_entropy(real_logits, targets)
        logp = F.log_softmax(real_logits, dim=1)
        entropy = -(logp.exp() * logp).sum(dim=1).mean()
        loss = cross_entropy - float(batch.get("entropy_coef", 0.0)) * entropy
        accuracy = (real_logits.argmax(dim=1) == targets).float().mean()
        return {"loss": loss, "logits": logits * mask[:, :, None], "entropy": entropy.detach(),
                "accuracy": accuracy.detach()}


MODELS = Registry([ModelEntry("babyai_film", "navigation", NavigationModelConfig, NavigationModel)])
"""The navigation task's registered models."""
