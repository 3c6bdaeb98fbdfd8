"""Image encoder: shapes of every backbone, freezing, local pretrained weights, transforms."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image

from multimodal_rnn.encoders.image import (
    ImageEncoder,
    ImageEncoderConfig,
    build_transform,
    torchvision_encoder_config,
)
from multimodal_rnn.errors import CheckpointError, ConfigError, InputError


@pytest.mark.parametrize(
    "backbone, size, channels, grid",
    [("small_cnn", 64, 128, (4, 4)), ("resnet18", 64, 512, (2, 2)), ("resnet34", 64, 512, (2, 2)),
     ("resnet50", 64, 2048, (2, 2)), ("mobilenet_v3_small", 64, 576, (2, 2)),
     ("mobilenet_v3_large", 64, 960, (2, 2))],
)
def test_grid_and_pooled_shapes(backbone: str, size: int, channels: int, grid: tuple[int, int]) -> None:
    config = ImageEncoderConfig(backbone=backbone, image_size=size) if backbone == "small_cnn" else \
        torchvision_encoder_config(backbone, image_size=size)
    encoder = ImageEncoder(config).eval()
    with torch.no_grad():
        out = encoder(torch.randn(2, 3, size, size))
    assert encoder.grid_shape == grid and encoder.feature_size == channels
    assert out.grid.shape == (2, grid[0] * grid[1], channels) and out.pooled.shape == (2, channels)
    assert torch.allclose(out.pooled, out.grid.mean(dim=1))


@pytest.mark.slow
def test_resnet101_shapes() -> None:
    encoder = ImageEncoder(torchvision_encoder_config("resnet101", image_size=64)).eval()
    assert encoder(torch.randn(1, 3, 64, 64)).grid.shape == (1, 4, 2048)


def test_local_weights_file_gives_torchvision_features(tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None).eval()  # random init: no download
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    encoder = ImageEncoder(torchvision_encoder_config("resnet18", weights=str(path), image_size=64)).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        trunk = torch.nn.Sequential(*list(reference.children())[:-2])(images)  # (2, 512, 2, 2)
        out = encoder(images)
    assert torch.equal(out.grid, trunk.flatten(2).transpose(1, 2))
    rebuilt = ImageEncoder(encoder.config, load_weights=False)  # a checkpoint rebuild never re-reads the file
    assert not torch.equal(rebuilt.backbone[0].weight, encoder.backbone[0].weight)


def test_bad_weights_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such weights file"):
        ImageEncoder(torchvision_encoder_config("resnet18", weights=str(tmp_path / "absent.pth")))
    wrong = tmp_path / "wrong.pth"
    torch.save({"something": torch.zeros(1)}, wrong)
    with pytest.raises(CheckpointError, match="not resnet18 weights"):
        ImageEncoder(torchvision_encoder_config("resnet18", weights=str(wrong)))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00not a torch file")
    with pytest.raises(CheckpointError, match="cannot read weights"):
        ImageEncoder(torchvision_encoder_config("resnet18", weights=str(garbage)))
    with pytest.raises(ConfigError, match="unknown image backbone"):
        ImageEncoderConfig(backbone="vgg99")


def test_frozen_encoder_has_no_gradients_and_keeps_batchnorm_statistics() -> None:
    encoder = ImageEncoder(ImageEncoderConfig(trainable=False)).train()
    before = encoder.backbone.features[1].running_mean.clone()
    encoder(torch.randn(4, 3, 64, 64)).pooled.sum()
    assert all(not p.requires_grad for p in encoder.parameters())
    assert not encoder.backbone.training and torch.equal(before, encoder.backbone.features[1].running_mean)
    trainable = ImageEncoder(ImageEncoderConfig(trainable=True)).train()
    trainable(torch.randn(4, 3, 64, 64)).pooled.sum().backward()
    assert all(p.grad is not None for p in trainable.parameters())


def test_transforms_resize_and_normalize() -> None:
    image = Image.new("RGB", (100, 80), (255, 128, 0))
    small = build_transform(ImageEncoderConfig())(image)
    assert small.shape == (3, 64, 64)
    assert torch.allclose(small[:, 0, 0], torch.tensor([(1 - 0.5) / 0.25, (128 / 255 - 0.5) / 0.25, (0 - 0.5) / 0.25]), atol=1e-4)
    big = build_transform(torchvision_encoder_config("resnet18"))(image)
    assert big.shape == (3, 224, 224)
