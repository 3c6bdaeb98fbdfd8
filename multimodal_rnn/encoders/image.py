"""Image encoders: a torchvision backbone or a small CNN -> grid features and a pooled vector.

``ImageEncoder(config)(images)`` maps normalized images (B, 3, H, W) to an :class:`EncodedImage`:
``grid`` (B, N, D), the last feature map flattened row-major (N = h * w, see
:meth:`ImageEncoder.grid_shape_for`), and ``pooled`` (B, D), its spatial mean. The transforms
a backbone expects (``image_size``, ``mean``, ``std``) live in the config, so they travel with
the encoder into every checkpoint; :func:`build_transform` turns them into a PIL -> tensor
function.

Pretrained weights (``config.weights``) are never fetched by default: None means random
initialisation; a torchvision weights name of the backbone ("IMAGENET1K_V1", "DEFAULT") is an
explicit request that torchvision downloads (once, into its cache); anything else is a local
file: a state dict saved with ``torch.save`` (read with ``weights_only=True``) or a
``.safetensors`` file, holding either a whole torchvision classifier (its ``fc``/``classifier``
is ignored) or only the backbone. ``ImageEncoder(config, load_weights=False)`` builds the same
architecture without reading them, which is how a model is rebuilt from its own checkpoint.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, cast

import numpy as np
import torch
from PIL import Image
from torch import nn

from multimodal_rnn.encoders.small_cnn import SmallCNN, pooled_size
from multimodal_rnn.errors import CheckpointError, ConfigError
from multimodal_rnn.files import check_input_file

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SHAPES_MEAN = (0.5, 0.5, 0.5)
SHAPES_STD = (0.25, 0.25, 0.25)
TORCHVISION_BACKBONES = (
    "resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v3_small", "mobilenet_v3_large",
)
BACKBONES = ("small_cnn",) + TORCHVISION_BACKBONES
_CLASSIFIER_PREFIXES = ("fc.", "classifier.")


@dataclass(frozen=True, kw_only=True)
class ImageEncoderConfig:
    """Options of :class:`ImageEncoder`.

    Attributes:
        backbone: "small_cnn" or one of :data:`TORCHVISION_BACKBONES`.
        weights: None (random init), a torchvision weights name, or a local weights file.
        trainable: False freezes the whole backbone (no gradients, BatchNorm statistics kept).
        fine_tune_from: with ``trainable``, the first stage that learns; earlier stages stay
            frozen (resnet: "layer3"; mobilenet: "features.12"; small_cnn: "block3").
        image_size: side of the square network input in pixels; None = the backbone's default
            (224 for torchvision backbones, 64 for small_cnn).
        mean, std: per-channel normalization of [0, 1] pixels; None = the backbone's default
            (ImageNet statistics for torchvision, (0.5, 0.25) per channel for small_cnn).
        channels: widths of the small CNN's conv blocks (each halves the resolution).

    The None defaults are resolved at construction, so a saved config holds the actual values
    (when switching ``backbone`` by an override, reset these three to None too).
    """

    backbone: str = "small_cnn"
    weights: str | None = None
    trainable: bool = True
    fine_tune_from: str | None = None
    image_size: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    channels: tuple[int, ...] = (32, 64, 96, 128)

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ConfigError(f"unknown image backbone {self.backbone!r} (known: {', '.join(BACKBONES)})")
        small = self.backbone == "small_cnn"
        defaults = {"image_size": 64 if small else 224, "mean": SHAPES_MEAN if small else IMAGENET_MEAN,
                    "std": SHAPES_STD if small else IMAGENET_STD}
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)  # resolve the backbone's default once
        if self.image_size < 16:  # type: ignore[operator]
            raise ConfigError(f"image_size must be at least 16 pixels, got {self.image_size}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:  # type: ignore[arg-type]
            raise ConfigError(f"mean and std need 3 values each, std positive; got {self.mean}, {self.std}")
        if small and (not self.channels or min(self.channels) < 1):
            raise ConfigError(f"small_cnn needs at least one positive width in channels, got {self.channels}")


CPU_INFERENCE_CHUNK = 16
"""Images per backbone call in eval mode on the CPU: a batch of 64 runs as 4 calls of 16, which
gives the same features bit for bit and is faster there (the shipped 64 px small CNN 1.56x,
resnet18 at 224 px about 1.1x, 1 thread). Training keeps whole batches (BatchNorm statistics)."""


class EncodedImage(NamedTuple):
    """grid (B, N, D): features per position, row-major; pooled (B, D): their mean."""

    grid: torch.Tensor
    pooled: torch.Tensor


def torchvision_weight_names(backbone: str) -> tuple[str, ...]:
    """The weights names torchvision knows for ``backbone`` (e.g. "IMAGENET1K_V1", "DEFAULT")."""
    import torchvision  # imported on use: small_cnn models (and the CLI) start faster without it

    return tuple(torchvision.models.get_model_weights(backbone).__members__)


class ImageEncoder(nn.Module):
    """Backbone + flattening to grid features; see the module docstring.

    Attributes:
        config: the :class:`ImageEncoderConfig` it was built from (records the initial freezing).
        backbone: the feature extractor; its state dict keys are torchvision's (``layer1.0...``).
        feature_size: D, channels of the last feature map.
        grid_shape: (h, w) of the grid for a ``config.image_size`` input.
    """

    def __init__(self, config: ImageEncoderConfig, *, load_weights: bool = True) -> None:
        super().__init__()
        self.config = config
        if config.backbone == "small_cnn":
            self.backbone: nn.Module = SmallCNN(config.channels)
            self.feature_size = self.backbone.out_channels
        else:
            download = load_weights and config.weights in torchvision_weight_names(config.backbone)
            requested = config.weights if download else None
            self.backbone, self.feature_size = _torchvision_trunk(config.backbone, requested)
        weights_file = self.backbone_weights_file()
        if load_weights and weights_file is not None:
            self.load_backbone_weights(weights_file)
        self.grid_shape = self.grid_shape_for(config.image_size, config.image_size)  # type: ignore[arg-type]
        self._frozen: list[nn.Module] = []
        self.set_trainable(config.trainable, config.fine_tune_from)

    def backbone_weights_file(self) -> Path | None:
        """``config.weights`` as a local file path, or None when unset or a torchvision name."""
        weights = self.config.weights
        if weights is None or (self.config.backbone != "small_cnn"
                               and weights in torchvision_weight_names(self.config.backbone)):
            return None
        return Path(weights)

    def stages(self) -> list[tuple[str, list[nn.Module]]]:
        """The backbone's stages in order, as (name, modules); names for ``fine_tune_from``."""
        if isinstance(self.backbone, SmallCNN):
            return self.backbone.blocks()
        if self.config.backbone.startswith("resnet"):
            return [(name, [module]) for name, module in self.backbone.named_children()]
        return [(f"features.{i}", [module]) for i, module in enumerate(cast(nn.Sequential, self.backbone.features))]

    def set_trainable(self, trainable: bool, fine_tune_from: str | None = None) -> None:
        """Freeze the backbone (``trainable=False``) or fine-tune it, from stage ``fine_tune_from`` on.

        Frozen stages get ``requires_grad=False`` and keep their BatchNorm layers in eval mode
        even while the parent module trains.
        """
        stages = self.stages()
        names = [name for name, _ in stages]
        if fine_tune_from is not None and fine_tune_from not in names:
            raise ConfigError(f"fine_tune_from {fine_tune_from!r} is not a stage of {self.config.backbone} "
                              f"(stages: {', '.join(names)})")
        first = names.index(fine_tune_from) if trainable and fine_tune_from else (0 if trainable else len(names))
        self._frozen = [module for _, modules in stages[:first] for module in modules]
        for index, (_, modules) in enumerate(stages):
            for module in modules:
                module.requires_grad_(index >= first)
        self.train(self.training)

    def train(self, mode: bool = True) -> ImageEncoder:
        super().train(mode)
        for module in self._frozen:
            module.eval()  # frozen BatchNorm keeps its running statistics
        return self

    def grid_shape_for(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the grid for an input of ``height`` x ``width`` pixels."""
        if isinstance(self.backbone, SmallCNN):
            blocks = len(self.config.channels)
            return pooled_size(height, blocks), pooled_size(width, blocks)
        return _halved(height, 5), _halved(width, 5)  # five stride-2 stages, "same" padding

    def forward(self, images: torch.Tensor) -> EncodedImage:
        """images (B, 3, H, W), normalized -> grid (B, h*w, D) and pooled (B, D)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        if not self.training and images.device.type == "cpu" and images.shape[0] > CPU_INFERENCE_CHUNK:
            parts = [self(chunk) for chunk in images.split(CPU_INFERENCE_CHUNK)]
            return EncodedImage(torch.cat([p.grid for p in parts]), torch.cat([p.pooled for p in parts]))
        return self.encode_whole(images)

    def encode_whole(self, images: torch.Tensor) -> EncodedImage:
        """:meth:`forward` in one backbone call whatever the batch size (what an exported graph runs)."""
        maps = self.backbone(images)  # (B, D, h, w)
        grid = maps.flatten(2).transpose(1, 2)  # (B, h*w, D), row-major positions
        return EncodedImage(grid, grid.mean(dim=1))

    def load_backbone_weights(self, path: str | Path) -> None:
        """Load backbone weights from a local file (whole torchvision classifier or backbone only).

        Raises:
            InputError: the file does not exist.
            CheckpointError: it cannot be read or does not hold this backbone's weights.
        """
        state = _read_state_dict(Path(path))
        if any(key.startswith("backbone.") for key in state):  # an ImageEncoder's own state dict
            state = {key[len("backbone."):]: value for key, value in state.items()
                     if key.startswith("backbone.")}
        state = {key: value for key, value in state.items() if not key.startswith(_CLASSIFIER_PREFIXES)}
        expected = self.backbone.state_dict()
        missing = [key for key in expected if key not in state]
        unexpected = [key for key in state if key not in expected]
        wrong = [key for key in expected if key in state and state[key].shape != expected[key].shape]
        if missing or unexpected or wrong:
            example = (missing or unexpected or wrong)[0]
            raise CheckpointError(f"{path}: not {self.config.backbone} weights ({len(missing)} missing, "
                                  f"{len(unexpected)} unexpected, {len(wrong)} misshapen keys, e.g. {example!r})")
        self.backbone.load_state_dict(state)


def _halved(size: int, times: int) -> int:
    for _ in range(times):
        size = (size + 1) // 2
    return size


def _torchvision_trunk(backbone: str, weights: str | None) -> tuple[nn.Module, int]:
    """A torchvision model without its pooling and classifier, and its output channels."""
    import torchvision

    try:
        model = torchvision.models.get_model(backbone, weights=weights)
    except Exception as exc:  # network or cache failures when weights were requested
        reason = " ".join(str(exc).split())[:160]
        raise CheckpointError(f"{backbone} weights {weights}: cannot load ({reason})") from None
    if backbone.startswith("resnet"):
        children = [(name, module) for name, module in model.named_children() if name not in ("avgpool", "fc")]
        return nn.Sequential(OrderedDict(children)), model.fc.in_features
    trunk = nn.Sequential(OrderedDict(features=model.features))  # keys "features.N..." as in torchvision
    return trunk, model.features[-1].out_channels


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    check_input_file(path, what="weights file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, pickled objects refused by weights_only, ...
        raise CheckpointError(f"{path}: cannot read weights ({' '.join(str(exc).split())[:160]})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors, got {type(state).__name__}")
    return state


def build_transform(config: ImageEncoderConfig, *, train: bool = False) -> Callable[[Image.Image], torch.Tensor]:
    """PIL RGB image -> normalized float tensor (3, S, S), S = ``config.image_size``.

    small_cnn: resize to S x S (bicubic; a no-op for shapes-world images), and with ``train`` a
    random shift of up to S/16 pixels (edges repeated). Torchvision backbones: resize the shorter
    side to S * 8/7 (256 for 224) and center-crop S, or crop at random with ``train``. There is
    no flipping: captions and questions talk about left and right.
    """
    size = int(config.image_size)  # type: ignore[arg-type]
    if config.backbone == "small_cnn":
        shift = max(1, size // 16) if train else 0
        return _ResizeNormalize(size, config.mean, config.std, max_shift=shift)  # type: ignore[arg-type]
    from torchvision.transforms import v2

    steps: list[Callable[..., object]] = [v2.ToImage(), v2.Resize(round(size * 8 / 7), antialias=True),
                                          v2.RandomCrop(size) if train else v2.CenterCrop(size)]
    normalize = v2.Normalize(list(config.mean), list(config.std))  # type: ignore[arg-type]
    steps += [v2.ToDtype(torch.float32, scale=True), normalize, v2.ToPureTensor()]
    return v2.Compose(steps)


class _ResizeNormalize:
    """PIL image -> (3, S, S) tensor normalized per channel, optionally shifted at random."""

    def __init__(self, size: int, mean: tuple[float, ...], std: tuple[float, ...], *, max_shift: int = 0) -> None:
        self.size = size
        self.mean = torch.tensor(mean, dtype=torch.float32)[:, None, None]
        self.std = torch.tensor(std, dtype=torch.float32)[:, None, None]
        self.max_shift = max_shift

    def __call__(self, image: Image.Image) -> torch.Tensor:
        if image.size != (self.size, self.size):
            image = image.resize((self.size, self.size), Image.Resampling.BICUBIC)
        pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)  # (S, S, 3)
        tensor = (pixels.permute(2, 0, 1) - self.mean) / self.std  # (3, S, S)
        if self.max_shift:
            pad = self.max_shift
            padded = nn.functional.pad(tensor[None], (pad, pad, pad, pad), mode="replicate")[0]  # (3, S+2p, S+2p)
            top, left = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,)))
            tensor = padded[:, top:top + self.size, left:left + self.size]
        return tensor.contiguous()
