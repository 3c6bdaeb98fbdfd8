"""Caption datasets: COCO captions JSON, Karpathy split JSON, plain image folders.

Readers turn the files users bring into :class:`CaptionRecord` lists (one per image, raw
captions); :class:`CaptionDataset` turns records into training samples, one per
(image, caption) pair. The data code yields plain tensors and dicts and does not know which
model consumes them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset

from multimodal_rnn.errors import DataFormatError, InputError
from multimodal_rnn.files import read_json, require_keys

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
KARPATHY_SPLITS = ("train", "val", "test", "restval")


@dataclass(frozen=True)
class CaptionRecord:
    """One image with its reference captions (raw text, possibly none for prediction)."""

    image_id: int
    path: str
    captions: tuple[str, ...] = ()


def read_coco_captions(annotations: str | os.PathLike[str], images_dir: str | os.PathLike[str]) -> list[CaptionRecord]:
    """Read a COCO captions file (``captions_train2017.json``) into records sorted by image id.

    Images are ``images_dir / file_name``; images without captions are kept with none.
    """
    data = read_json(annotations)
    require_keys(data, ("images", "annotations"), where=str(annotations))
    captions: dict[int, list[str]] = {}
    for index, ann in enumerate(data["annotations"]):
        where = f"{annotations}: annotations[{index}]"
        require_keys(ann, ("image_id", "caption"), where=where)
        if not isinstance(ann["caption"], str):
            raise DataFormatError(f"{where}: caption is not a string")
        captions.setdefault(int(ann["image_id"]), []).append(ann["caption"])
    records = []
    seen: set[int] = set()
    for index, image in enumerate(data["images"]):
        require_keys(image, ("id", "file_name"), where=f"{annotations}: images[{index}]")
        image_id = int(image["id"])
        if image_id in seen:
            raise DataFormatError(f"{annotations}: image id {image_id} is listed twice")
        seen.add(image_id)
        path = os.path.join(os.fspath(images_dir), image["file_name"])
        records.append(CaptionRecord(image_id, path, tuple(captions.get(image_id, ()))))
    orphans = sorted(set(captions) - seen)
    if orphans:
        raise DataFormatError(f"{annotations}: captions for image ids not in 'images', e.g. {orphans[:3]}")
    return sorted(records, key=lambda r: r.image_id)


def read_karpathy_split(
    split_file: str | os.PathLike[str],
    images_root: str | os.PathLike[str],
    split: str,
    *,
    restval_in_train: bool = True,
) -> list[CaptionRecord]:
    """Read one split of a Karpathy split file (``dataset_coco.json``, flickr8k/30k variants).

    ``split`` is train, val or test; with ``restval_in_train`` the restval images join train
    (the usual 113,287-image COCO train split). Image ids are ``cocoid`` when present, else
    ``imgid``; paths are ``images_root / filepath / filename`` (``filepath`` is optional).
    """
    if split not in ("train", "val", "test"):
        raise InputError(f"unknown Karpathy split {split!r} (expected train, val or test)")
    data = read_json(split_file)
    require_keys(data, ("images",), where=str(split_file))
    wanted = {split} | ({"restval"} if split == "train" and restval_in_train else set())
    records = []
    for index, image in enumerate(data["images"]):
        where = f"{split_file}: images[{index}]"
        require_keys(image, ("filename", "split", "sentences"), where=where)
        if image["split"] not in KARPATHY_SPLITS:
            raise DataFormatError(f"{where}: unknown split {image['split']!r}")
        if image["split"] not in wanted:
            continue
        image_id = image.get("cocoid", image.get("imgid"))
        if image_id is None:
            raise DataFormatError(f"{where}: neither 'cocoid' nor 'imgid'")
        path = os.path.join(os.fspath(images_root), image.get("filepath", ""), image["filename"])
        raw = []
        for sentence in image["sentences"]:
            if isinstance(sentence, dict) and "raw" in sentence:
                raw.append(sentence["raw"])
            elif isinstance(sentence, dict) and "tokens" in sentence:
                raw.append(" ".join(sentence["tokens"]))
            else:
                raise DataFormatError(f"{where}: a sentence has neither 'raw' nor 'tokens'")
        records.append(CaptionRecord(int(image_id), path, tuple(raw)))
    return records


def read_image_folder(folder: str | os.PathLike[str]) -> list[CaptionRecord]:
    """List the images of a folder (sorted by name) as records without captions.

    Image ids are the trailing digits of the file name when all names have distinct ones
    (``COCO_val2014_000000000042.jpg`` -> 42), else the position in the sorted list.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a directory")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise InputError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    ids = [_trailing_int(p.stem) for p in paths]
    if None in ids or len(set(ids)) != len(ids):
        ids = list(range(len(paths)))
    return [CaptionRecord(int(i), str(p)) for i, p in zip(ids, paths)]


def _trailing_int(stem: str) -> int | None:
    digits = ""
    for char in reversed(stem):
        if not char.isdigit():
            break
        digits = char + digits
    return int(digits) if digits else None


class CaptionDataset(Dataset):
    """(image, caption) pairs for training; or one item per image when ``per_image`` is set.

    Items are dicts: ``image`` (3, H, W) float tensor from ``transform``, ``image_id`` int,
    ``index`` (record index), and unless ``per_image``: ``tokens`` (T,) LongTensor with bos/eos.
    An image that cannot be read yields ``None`` (dropped by :func:`collate_captions`), is
    recorded in ``bad_images`` and, past ``max_bad_images``, raises an :class:`InputError`
    naming the last bad file. With worker processes each worker keeps its own count.
    """

    def __init__(
        self,
        records: Sequence[CaptionRecord],
        transform: Callable[[Image.Image], torch.Tensor],
        load_image: Callable[[str], Image.Image],
        encode: Callable[[str], list[int]] | None = None,
        *,
        per_image: bool = False,
        max_bad_images: int = 100,
    ) -> None:
        self.records = list(records)
        self.transform = transform
        self.load_image = load_image
        self.encode = encode
        self.per_image = per_image
        self.max_bad_images = max_bad_images
        self.bad_images: dict[str, str] = {}
        if per_image:
            self.pairs = [(i, -1) for i in range(len(self.records))]
        else:
            if encode is None:
                raise ValueError("encode is required unless per_image=True")
            self.pairs = [(i, j) for i, r in enumerate(self.records) for j in range(len(r.captions))]
        self._encoded: dict[tuple[int, int], torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        record_index, caption_index = self.pairs[index]
        record = self.records[record_index]
        try:
            image = self.transform(self.load_image(record.path))
        except InputError as exc:
            self.bad_images[record.path] = str(exc)
            if len(self.bad_images) > self.max_bad_images:
                raise InputError(
                    f"more than {self.max_bad_images} unreadable images; last: {exc}"
                ) from None
            return None
        item: dict[str, Any] = {"image": image, "image_id": record.image_id, "index": record_index}
        if not self.per_image:
            key = (record_index, caption_index)
            if key not in self._encoded:
                assert self.encode is not None
                self._encoded[key] = torch.tensor(self.encode(record.captions[caption_index]), dtype=torch.long)
            item["tokens"] = self._encoded[key]
        return item


def collate_captions(items: Sequence[dict[str, Any] | None], pad_id: int = 0) -> dict[str, Any]:
    """Stack images (B, 3, H, W) or grid features (B, N, D); pad ``tokens`` to (B, T) with
    ``pad_id``; drop ``None`` items.

    The batch also carries ``lengths`` (B,) (tokens incl. bos/eos), ``image_id`` and ``index``
    lists, and ``num_skipped`` (how many unreadable images were dropped from this batch).
    """
    kept = [item for item in items if item is not None]
    batch: dict[str, Any] = {"num_skipped": len(items) - len(kept)}
    if not kept:
        return batch
    for key in ("image", "grid"):  # pixels (B, 3, H, W) or cached grid features (B, N, D)
        if key in kept[0]:
            batch[key] = torch.stack([item[key] for item in kept])
    batch["image_id"] = [item["image_id"] for item in kept]
    batch["index"] = [item["index"] for item in kept]
    if "tokens" in kept[0]:
        lengths = torch.tensor([len(item["tokens"]) for item in kept], dtype=torch.long)
        tokens = torch.full((len(kept), int(lengths.max())), pad_id, dtype=torch.long)  # (B, T)
        for row, item in enumerate(kept):
            tokens[row, : len(item["tokens"])] = item["tokens"]
        batch["tokens"] = tokens
        batch["lengths"] = lengths
    return batch
