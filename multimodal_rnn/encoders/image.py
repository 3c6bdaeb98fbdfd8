"""Image encoders: torchvision backbones or a small CNN -> grid features and a pooled vector.

``ImageEncoder(config)(images)`` maps normalized images (B, 3, H, W) to an :class:`EncodedImage`:
``grid`` (B, N, D), the last feature map flattened row-major (N = grid_h * grid_w), and
``pooled`` (B, D), its spatial mean. The transforms a backbone expects (size, mean, std) live in
the config, so they travel with the encoder into every checkpoint (:func:`build_transform`).

Pretrained weights (``config.weights``) are never fetched by default: None means random
initialisation; a torchvision weights name ("IMAGENET1K_V1", "DEFAULT") is an explicit request
that torchvision downloads; anything else is a local file (a torch state dict read with
``weights_only=True``, or a .safetensors file) holding a full torchvision classifier's or a
backbone's weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision.transforms import v2

from multimodal_rnn.errors import CheckpointError, ConfigError, InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SHAPES_MEAN = (0.5, 0.5, 0.5)
SHAPES_STD = (0.25, 0.25, 0.25)
TORCHVISION_BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v3_small", "mobilenet_v3_large")
BACKBONES = ("small_cnn",) + TORCHVISION_BACKBONES


@dataclass(frozen=True, kw_only=True)
class ImageEncoderConfig:
    """Options of :class:`ImageEncoder`.

    Attributes:
        backbone: "small_cnn" or a torchvision name in :data:`TORCHVISION_BACKBONES`.
        weights: None (random init), a torchvision weights name, or a local weights file.
        trainable: False freezes the backbone (no gradients, BatchNorm in eval mode).
        image_size: side of the square network input in pixels.
        mean, std: per-channel normalization of [0, 1] pixels.
        channels: widths of the small CNN's four conv blocks (each halves the resolution).
    """

    backbone: str = "small_cnn"
    weights: str | None = None
    trainable: bool = True
    image_size: int = 64
    mean: tuple[float, ...] = SHAPES_MEAN
    std: tuple[float, ...] = SHAPES_STD
    channels: tuple[int, ...] = (32, 64, 96, 128)

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ConfigError(f"unknown image backbone {self.backbone!r} (known: {', '.join(BACKBONES)})")
        if self.image_size < 16:
            raise ConfigError(f"image_size must be at least 16 pixels, got {self.image_size}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ConfigError("mean and std need 3 values each, std positive")
        if self.backbone == "small_cnn" and not self.channels:
            raise ConfigError("small_cnn needs at least one conv block in channels")


def torchvision_encoder_config(backbone: str, weights: str | None = None, **options: object) -> ImageEncoderConfig:
    """An :class:`ImageEncoderConfig` with ImageNet transforms (224 px) for a torchvision backbone."""
    return ImageEncoderConfig(backbone=backbone, weights=weights, image_size=int(options.pop("image_size", 224)),  # type: ignore[arg-type]
                              mean=IMAGENET_MEAN, std=IMAGENET_STD, **options)  # type: ignore[arg-type]


class EncodedImage(NamedTuple):
    """grid (B, N, D) features per position; pooled (B, D) their mean."""

    grid: torch.Tensor
    pooled: torch.Tensor


class SmallCNN(nn.Module):
    """Conv(3x3)-BatchNorm-ReLU blocks, each followed by 2x2 max pooling except the last stride."""

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = 3
        for width in channels:
            layers += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            previous = width
        self.features = nn.Sequential(*layers)
        self.out_channels = previous

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)  # (B, C, H / 2^k, W / 2^k)


def _torchvision_trunk(backbone: str, weights: str | None) -> tuple[nn.Module, int]:
    """A torchvision model without its classifier: images -> last feature map, and its channels."""
    builder = getattr(torchvision.models, backbone)
    model = builder(weights=weights)
    if backbone.startswith("resnet"):
        trunk = nn.Sequential(*list(model.children())[:-2])  # drop avgpool and fc
        return trunk, model.fc.in_features
    return model.features, model.features[-1].out_channels  # mobilenet_v3


def _is_torchvision_weights_name(weights: str) -> bool:
    return weights == "DEFAULT" or (weights.isupper() and "_" in weights and not Path(weights).exists())


class ImageEncoder(nn.Module):
    """Backbone + flattening to grid features; see the module docstring.

    Attributes:
        feature_size: D.
        grid_shape: (grid_h, grid_w) for an input of ``config.image_size`` pixels.
    """

    def __init__(self, config: ImageEncoderConfig, *, load_weights: bool = True) -> None:
        super().__init__()
        self.config = config
        named = load_weights and config.weights is not None and _is_torchvision_weights_name(config.weights)
        if config.backbone == "small_cnn":
            if named:
                raise ConfigError("small_cnn has no torchvision weights; give a local file or none")
            self.backbone: nn.Module = SmallCNN(config.channels)
            self.feature_size = self.backbone.out_channels
        else:
            self.backbone, self.feature_size = _torchvision_trunk(config.backbone, config.weights if named else None)
        if load_weights and config.weights is not None and not named:
            self.load_backbone_file(config.weights)
        with torch.no_grad():
            probe = self.backbone.eval()(torch.zeros(1, 3, config.image_size, config.image_size))
        self.grid_shape = (int(probe.shape[2]), int(probe.shape[3]))
        self.set_trainable(config.trainable)

    def set_trainable(self, trainable: bool) -> None:
        """Freeze (False) or fine-tune (True) the backbone."""
        self.trainable = trainable
        for parameter in self.backbone.parameters():
            parameter.requires_grad_(trainable)

    def train(self, mode: bool = True) -> "ImageEncoder":
        super().train(mode)
        if not self.trainable:
            self.backbone.eval()  # frozen BatchNorm keeps its running statistics
        return self

    def forward(self, images: torch.Tensor) -> EncodedImage:
        """images (B, 3, H, W) normalized -> grid (B, N, D), pooled (B, D)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise InputError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        maps = self.backbone(images)  # (B, D, h, w)
        grid = maps.flatten(2).transpose(1, 2)  # (B, h*w, D)
        return EncodedImage(grid, grid.mean(dim=1))

    def load_backbone_file(self, path: str | Path) -> None:
        """Load backbone weights from a local file (full classifier or backbone state dict)."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no such weights file")
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CheckpointError(f"{path}: cannot read weights ({' '.join(str(exc).split())[:160]})") from None
        if not isinstance(state, dict):
            raise CheckpointError(f"{path}: expected a state dict, got {type(state).__name__}")
        mapped = _backbone_state(state, self.config.backbone)
        result = self.backbone.load_state_dict(mapped, strict=False)
        if result.missing_keys:
            raise CheckpointError(
                f"{path}: not {self.config.backbone} weights: {len(result.missing_keys)} missing, e.g. {result.missing_keys[0]}"
            )


def _backbone_state(state: dict[str, torch.Tensor], backbone: str) -> dict[str, torch.Tensor]:
    """Map a torchvision classifier's state dict onto our trunk's keys (drop the classifier)."""
    if backbone.startswith("resnet") and any(k.startswith("conv1.") for k in state):
        names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
        index = {name: str(i) for i, name in enumerate(names)}
        mapped = {}
        for key, value in state.items():
            head, _, rest = key.partition(".")
            if head in index:
                mapped[f"{index[head]}.{rest}"] = value
        return mapped
    if backbone.startswith("mobilenet") and any(k.startswith("features.") for k in state):
        return {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    if backbone == "small_cnn" and any(k.startswith("backbone.") for k in state):
        return {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    return state


def build_transform(config: ImageEncoderConfig, *, train: bool = False) -> Callable[[Image.Image], torch.Tensor]:
    """PIL RGB image -> normalized (3, S, S) float tensor, as the encoder expects.

    torchvision backbones: resize the shorter side to S*8/7 and center-crop S (random crop and
    horizontal flip when ``train``); the small CNN: resize to S x S.
    """
    size = config.image_size
    steps: list[object] = [v2.ToImage()]
    if config.backbone == "small_cnn":
        steps.append(v2.Resize((size, size), antialias=True))
    elif train:
        steps += [v2.Resize(int(round(size * 8 / 7)), antialias=True), v2.RandomCrop(size), v2.RandomHorizontalFlip()]
    else:
        steps += [v2.Resize(int(round(size * 8 / 7)), antialias=True), v2.CenterCrop(size)]
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(config.mean), list(config.std))]
    return v2.Compose(steps)
