"""Tests of the image encoder: shapes for every backbone, freezing, local weights, transforms."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image
from safetensors.torch import save_file
from torch import nn

from multimodal_rnn.config import config_from_dict, config_to_dict
from multimodal_rnn.encoders.image import (
    CPU_INFERENCE_CHUNK,
    BACKBONES, IMAGENET_MEAN, IMAGENET_STD, ImageEncoder, ImageEncoderConfig, build_transform,
)
from multimodal_rnn.errors import CheckpointError, ConfigError, InputError

FEATURE_SIZES = {"small_cnn": 128, "resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048,
                 "mobilenet_v3_small": 576, "mobilenet_v3_large": 960}


@pytest.mark.parametrize("backbone", [pytest.param(b, marks=pytest.mark.slow) if b in ("resnet50", "resnet101")
                                      else b for b in BACKBONES])
def test_grid_and_pooled_shapes(backbone: str) -> None:
    torch.manual_seed(0)
    encoder = ImageEncoder(ImageEncoderConfig(backbone=backbone)).eval()
    side = 32 if backbone.startswith("resnet") else 64
    with torch.no_grad():
        encoded = encoder(torch.randn(2, 3, side, side))
    h, w = encoder.grid_shape_for(side, side)
    assert encoder.feature_size == FEATURE_SIZES[backbone]
    assert encoded.grid.shape == (2, h * w, encoder.feature_size)
    assert encoded.pooled.shape == (2, encoder.feature_size)
    assert torch.allclose(encoded.pooled, encoded.grid.mean(dim=1))
    assert torch.isfinite(encoded.grid).all()


@pytest.mark.parametrize("backbone, side", [("small_cnn", 50), ("resnet18", 97), ("mobilenet_v3_small", 33)])
def test_grid_shape_matches_the_feature_map(backbone: str, side: int) -> None:
    encoder = ImageEncoder(ImageEncoderConfig(backbone=backbone)).eval()
    with torch.no_grad():
        maps = encoder.backbone(torch.zeros(1, 3, side, side + 7))
    assert encoder.grid_shape_for(side, side + 7) == tuple(maps.shape[2:])


def test_grid_is_row_major() -> None:
    encoder = ImageEncoder(ImageEncoderConfig()).eval()
    with torch.no_grad():
        images = torch.randn(1, 3, 64, 64)
        maps, grid = encoder.backbone(images), encoder(images).grid
    assert torch.equal(grid[0, 1 * 4 + 2], maps[0, :, 1, 2])  # position (row 1, column 2)


def test_config_defaults_follow_the_backbone_and_round_trip() -> None:
    small, resnet = ImageEncoderConfig(), ImageEncoderConfig(backbone="resnet50")
    assert (small.image_size, small.mean) == (64, (0.5, 0.5, 0.5))
    assert (resnet.image_size, resnet.mean, resnet.std) == (224, IMAGENET_MEAN, IMAGENET_STD)
    assert ImageEncoder(small).grid_shape == (4, 4) and ImageEncoder(resnet).grid_shape == (7, 7)
    assert config_from_dict(ImageEncoderConfig, config_to_dict(resnet)) == resnet
    with pytest.raises(ConfigError, match="unknown image backbone"):
        ImageEncoderConfig(backbone="vgg16")
    with pytest.raises(ConfigError):
        ImageEncoderConfig(image_size=8)


def _batch_norms(module: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]


def test_frozen_backbone_has_no_gradients_and_keeps_batchnorm_statistics() -> None:
    encoder = ImageEncoder(ImageEncoderConfig(trainable=False))
    parent = nn.Sequential(encoder).train()
    assert encoder.training and not any(p.requires_grad for p in encoder.parameters())
    assert all(not bn.training for bn in _batch_norms(encoder))
    before = _batch_norms(encoder)[0].running_mean.clone()
    output = encoder(torch.randn(4, 3, 64, 64) * 3 + 1).pooled
    assert not output.requires_grad
    assert torch.equal(_batch_norms(encoder)[0].running_mean, before)
    encoder.set_trainable(True)
    parent.train()
    assert all(p.requires_grad for p in encoder.parameters()) and all(bn.training for bn in _batch_norms(encoder))


def test_fine_tune_from_freezes_the_earlier_stages() -> None:
    encoder = ImageEncoder(ImageEncoderConfig(backbone="resnet18", fine_tune_from="layer3")).train()
    backbone = encoder.backbone
    for name in ("conv1", "bn1", "layer1", "layer2"):
        assert not any(p.requires_grad for p in getattr(backbone, name).parameters())
    for name in ("layer3", "layer4"):
        assert all(p.requires_grad for p in getattr(backbone, name).parameters())
    assert not backbone.bn1.training and not backbone.layer2[0].bn1.training and backbone.layer3[0].bn1.training
    encoder(torch.randn(2, 3, 32, 32)).pooled.sum().backward()
    assert backbone.layer4[0].conv1.weight.grad is not None and backbone.conv1.weight.grad is None
    with pytest.raises(ConfigError, match="stages: conv1, bn1"):
        ImageEncoder(ImageEncoderConfig(backbone="resnet18", fine_tune_from="layer9"))


def _torchvision_features(model: torchvision.models.ResNet, images: torch.Tensor) -> torch.Tensor:
    x = model.maxpool(model.relu(model.bn1(model.conv1(images))))
    return model.layer4(model.layer3(model.layer2(model.layer1(x))))  # (B, 512, h, w)


def test_local_weights_reproduce_the_torchvision_model(tmp_path: Path) -> None:
    torch.manual_seed(1)
    reference = torchvision.models.resnet18(weights=None).eval()
    with torch.no_grad():
        reference.bn1.running_mean.uniform_(-0.5, 0.5)  # non-default statistics must load too
    full = tmp_path / "resnet18_full.pth"
    torch.save(reference.state_dict(), full)
    images = torch.randn(2, 3, 48, 48)  # a 2x2 grid
    with torch.no_grad():
        expected = _torchvision_features(reference, images)
        encoder = ImageEncoder(ImageEncoderConfig(backbone="resnet18", weights=str(full))).eval()
        encoded = encoder(images)
        assert torch.equal(encoded.grid, expected.flatten(2).transpose(1, 2))
        assert torch.allclose(encoded.pooled, reference.avgpool(expected).flatten(1), atol=1e-6)
        backbone_only = tmp_path / "backbone.safetensors"
        save_file(encoder.backbone.state_dict(), str(backbone_only))
    again = ImageEncoder(ImageEncoderConfig(backbone="resnet18", weights=str(backbone_only)))
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), encoder.state_dict().values()))


def test_mobilenet_classifier_weights_load(tmp_path: Path) -> None:
    torch.manual_seed(2)
    reference = torchvision.models.mobilenet_v3_small(weights=None).eval()
    path = tmp_path / "mobilenet.pt"
    torch.save(reference.state_dict(), path)
    encoder = ImageEncoder(ImageEncoderConfig(backbone="mobilenet_v3_small", weights=str(path))).eval()
    images = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(encoder(images).grid, reference.features(images).flatten(2).transpose(1, 2))


def test_load_weights_false_never_reads_the_weights(tmp_path: Path) -> None:
    missing = str(tmp_path / "gone.pth")
    ImageEncoder(ImageEncoderConfig(backbone="resnet18", weights=missing), load_weights=False)
    named = ImageEncoder(ImageEncoderConfig(backbone="resnet18", weights="IMAGENET1K_V1"), load_weights=False)
    assert named.backbone_weights_file() is None  # a torchvision name, not a file; nothing downloaded
    with pytest.raises(InputError, match="no such weights file"):
        ImageEncoder(ImageEncoderConfig(backbone="resnet18", weights=missing))


def test_bad_weights_files_raise_one_line_errors(tmp_path: Path) -> None:
    text = tmp_path / "weights.pth"
    text.write_text("not a state dict")
    other = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), other)
    pickled = tmp_path / "pickled.pth"
    torch.save({"layer": nn.Linear(2, 2)}, pickled)  # a module object: refused by weights_only
    for path, pattern in [(text, "cannot read weights"), (other, "not resnet18 weights"),
                          (pickled, "cannot read weights")]:
        with pytest.raises(CheckpointError, match=pattern) as info:
            ImageEncoder(ImageEncoderConfig(backbone="resnet18", weights=str(path)))
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_small_cnn_round_trips_its_own_weights(tmp_path: Path) -> None:
    torch.manual_seed(3)
    source = ImageEncoder(ImageEncoderConfig()).eval()
    path = tmp_path / "encoder.safetensors"
    save_file(source.state_dict(), str(path))  # keys "backbone.features..."
    loaded = ImageEncoder(ImageEncoderConfig(weights=str(path))).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(images).grid, source(images).grid)


def test_forward_rejects_wrong_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        ImageEncoder(ImageEncoderConfig())(torch.zeros(3, 64, 64))


def test_small_cnn_transform_resizes_and_normalizes() -> None:
    transform = build_transform(ImageEncoderConfig())
    tensor = transform(Image.new("RGB", (100, 80), (255, 0, 51)))
    assert type(tensor) is torch.Tensor and tensor.dtype == torch.float32 and tensor.shape == (3, 64, 64)
    expected = torch.tensor([(1 - 0.5) / 0.25, (0 - 0.5) / 0.25, (0.2 - 0.5) / 0.25])
    assert torch.allclose(tensor[:, 10, 10], expected, atol=1e-5)



def test_small_cnn_training_transform_shifts_the_image() -> None:
    image = Image.fromarray(torch.randint(0, 256, (64, 64, 3), dtype=torch.uint8).numpy())
    plain = build_transform(ImageEncoderConfig())(image)
    padded = nn.functional.pad(plain[None], (4, 4, 4, 4), mode="replicate")[0]  # shifts of up to 64/16
    crops = {(top, left): padded[:, top:top + 64, left:left + 64] for top in range(9) for left in range(9)}
    torch.manual_seed(0)
    for _ in range(3):
        shifted = build_transform(ImageEncoderConfig(), train=True)(image)
        assert shifted.shape == (3, 64, 64)
        assert any(torch.equal(shifted, crop) for crop in crops.values())


def test_torchvision_transform_center_crops_with_imagenet_statistics() -> None:
    config = ImageEncoderConfig(backbone="resnet18")
    image = Image.new("RGB", (300, 200), (124, 116, 104))
    tensor = build_transform(config)(image)
    assert tensor.shape == (3, 224, 224)
    expected = [(v / 255 - m) / s for v, m, s in zip((124, 116, 104), IMAGENET_MEAN, IMAGENET_STD)]
    assert torch.allclose(tensor[:, 100, 100], torch.tensor(expected), atol=1e-5)
    assert build_transform(config, train=True)(image).shape == (3, 224, 224)


def test_eval_on_cpu_runs_in_chunks_with_the_same_features_and_training_keeps_whole_batches() -> None:
    torch.manual_seed(0)
    encoder = ImageEncoder(ImageEncoderConfig(channels=(4, 8), image_size=16)).eval()
    images = torch.randn(CPU_INFERENCE_CHUNK + 5, 3, 16, 16)
    calls: list[int] = []
    hook = encoder.backbone.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape[0]))
    with torch.no_grad():
        encoded = encoder(images)
        whole = encoder.backbone(images).flatten(2).transpose(1, 2)
    assert calls[:2] == [CPU_INFERENCE_CHUNK, 5]
    assert torch.equal(encoded.grid, whole) and torch.equal(encoded.pooled, whole.mean(dim=1))
    calls.clear()
    encoder.train()(images)
    hook.remove()
    assert calls == [CPU_INFERENCE_CHUNK + 5]  # BatchNorm sees the whole batch in training
