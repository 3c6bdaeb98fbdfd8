"""Caption data: readers, unreadable images skipped with a limit, the frozen-encoder feature cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from multimodal_rnn.datasets.captions import (
    CaptionDataset,
    collate_captions,
    read_coco_captions,
    read_image_folder,
    read_karpathy_split,
)
from multimodal_rnn.datasets.feature_cache import CachedCaptionDataset, build_feature_cache
from multimodal_rnn.datasets.shapes.world import ShapesConfig, generate_shapes_world
from multimodal_rnn.encoders.image import ImageEncoder, ImageEncoderConfig, build_transform
from multimodal_rnn.errors import DataFormatError, InputError
from multimodal_rnn.images import load_image
from multimodal_rnn.tasks.caption.training import CaptionTrainingConfig, train_captioner
from multimodal_rnn.training.trainer import TrainerConfig
from multimodal_rnn.text.vocab import Vocabulary


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shapes")
    generate_shapes_world(out, ShapesConfig(train_size=12, val_size=4, test_size=4, seed=5))
    return out


def test_karpathy_split_reader(tmp_path: Path) -> None:
    data = {"dataset": "coco", "images": [
        {"filepath": "val2014", "filename": "a.jpg", "imgid": 0, "split": "test", "cocoid": 42, "sentids": [0],
         "sentences": [{"raw": "A dog.", "tokens": ["a", "dog"], "imgid": 0, "sentid": 0}]},
        {"filepath": "train2014", "filename": "b.jpg", "imgid": 1, "split": "restval", "cocoid": 7, "sentids": [1],
         "sentences": [{"raw": "A cat.", "tokens": ["a", "cat"], "imgid": 1, "sentid": 1}]},
        {"filename": "c.jpg", "imgid": 2, "split": "train", "sentids": [2],
         "sentences": [{"tokens": ["a", "bird"], "imgid": 2, "sentid": 2}]},
    ]}
    path = tmp_path / "dataset_coco.json"
    path.write_text(json.dumps(data))
    train = read_karpathy_split(path, tmp_path, "train")
    assert [(r.image_id, r.captions) for r in train] == [(7, ("A cat.",)), (2, ("a bird",))]
    assert train[0].path == str(tmp_path / "train2014" / "b.jpg")
    assert [r.image_id for r in read_karpathy_split(path, tmp_path, "train", restval_in_train=False)] == [2]
    assert read_karpathy_split(path, tmp_path, "test")[0].image_id == 42
    data["images"][0]["split"] = "dev"
    path.write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=r"images\[0\]: unknown split 'dev'"):
        read_karpathy_split(path, tmp_path, "test")


def test_coco_reader_errors(tmp_path: Path) -> None:
    path = tmp_path / "captions.json"
    path.write_text('{"images": [], "annotations": [')
    with pytest.raises(InputError, match="malformed JSON"):
        read_coco_captions(path, tmp_path)
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "x.png"}], "annotations": [{"image_id": 2, "caption": "c"}]}))
    with pytest.raises(DataFormatError, match="not in 'images'"):
        read_coco_captions(path, tmp_path)


def test_unreadable_images_are_counted_skipped_and_limited(shapes: Path, tmp_path: Path) -> None:
    records = read_coco_captions(shapes / "captions_train.json", shapes / "images" / "train")[:4]
    broken = tmp_path / "broken.png"
    broken.write_bytes(Path(records[1].path).read_bytes()[:50])
    records[1] = type(records[1])(records[1].image_id, str(broken), records[1].captions)
    vocab = Vocabulary.build([c.split() for r in records for c in r.captions])
    transform = build_transform(ImageEncoderConfig())
    dataset = CaptionDataset(records, transform, load_image, lambda text: vocab.encode(text.split()), max_bad_images=5)
    batch = collate_captions([dataset[i] for i in range(len(dataset))])
    assert batch["num_skipped"] == 5 and len(batch["image_id"]) == 15
    assert list(dataset.bad_images) == [str(broken)]
    strict = CaptionDataset(records, transform, load_image, lambda text: [1, 2], max_bad_images=0)
    with pytest.raises(InputError, match="more than 0 unreadable images"):
        [strict[i] for i in range(len(strict))]


def test_image_folder_ids_from_file_names(tmp_path: Path, shapes: Path) -> None:
    for name in ("COCO_val2014_000000000042.jpg", "COCO_val2014_000000000007.jpg"):
        (tmp_path / name).write_bytes(b"")
    assert [r.image_id for r in read_image_folder(tmp_path)] == [7, 42]
    with pytest.raises(InputError, match="no image files"):
        read_image_folder(shapes / "images")


def test_feature_cache_equals_the_encoder_and_is_reused(shapes: Path, tmp_path: Path) -> None:
    records = read_coco_captions(shapes / "captions_train.json", shapes / "images" / "train")
    torch.manual_seed(0)
    encoder = ImageEncoder(ImageEncoderConfig(trainable=False, channels=(8, 8, 16, 16)))
    transform = build_transform(encoder.config)
    grid = build_feature_cache(encoder, records, transform, load_image, tmp_path / "cache", batch_size=5)
    with torch.no_grad():
        expected = encoder.eval()(transform(load_image(records[3].path))[None]).grid[0]
    assert torch.allclose(torch.from_numpy(grid[3].copy()), expected, atol=1e-6)
    stamp = (tmp_path / "cache" / "grid.npy").stat().st_mtime_ns
    build_feature_cache(encoder, records, transform, load_image, tmp_path / "cache")
    assert (tmp_path / "cache" / "grid.npy").stat().st_mtime_ns == stamp  # reused, not recomputed
    torch.nn.init.zeros_(encoder.backbone.features[0].weight)
    build_feature_cache(encoder, records, transform, load_image, tmp_path / "cache")
    assert float(open_grid_abs_sum(tmp_path / "cache")) != float(abs(grid).sum())  # other weights: rebuilt
    item = CachedCaptionDataset(records, tmp_path / "cache", lambda text: [1, 5, 2])[0]
    assert item["grid"].shape == (16, 16) and "image" not in item


def open_grid_abs_sum(cache: Path) -> float:
    from multimodal_rnn.datasets.feature_cache import open_feature_cache

    return float(abs(open_feature_cache(cache)).sum())


def test_training_on_cached_features_needs_a_frozen_encoder(shapes: Path, tmp_path: Path) -> None:
    train = read_coco_captions(shapes / "captions_train.json", shapes / "images" / "train")
    val = read_coco_captions(shapes / "captions_val.json", shapes / "images" / "val")
    small = {"hidden_size": 16, "embed_size": 8, "attention_size": 8, "encoder": {"channels": [8, 8, 16, 16]}}
    trainer = TrainerConfig(epochs=1, batch_size=16, validation_metric="CIDEr")
    frozen = {**small, "encoder": {**small["encoder"], "trainable": False}}
    result = train_captioner(train, val, CaptionTrainingConfig(model=frozen, feature_cache=str(tmp_path / "c")),
                             trainer, tmp_path / "run", load_image=load_image)
    assert result.final_step == 4 and (tmp_path / "c" / "grid.npy").exists()
    with pytest.raises(Exception, match="frozen encoder"):
        train_captioner(train, val, CaptionTrainingConfig(model=small, feature_cache=str(tmp_path / "d")),
                        trainer, tmp_path / "run2", load_image=load_image)
