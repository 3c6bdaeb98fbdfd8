"""Caption datasets: COCO captions JSON, Karpathy split JSON, plain image folders.

Readers turn the files users bring into :class:`CaptionRecord` lists (one per image, raw
captions); COCO files are checked here (one-line errors) and indexed by pycocotools' COCO API,
which the evaluation also uses. :class:`CaptionDataset` turns records into training samples,
one per (image, caption) pair; unreadable images follow the one
:class:`~multimodal_rnn.datasets.image_reader.ImageReader` policy. The data code yields plain tensors and dicts and does not know which
model consumes them.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import torch
from PIL import Image
from pycocotools.coco import COCO  # type: ignore[import-untyped]
from torch.utils.data import Dataset

from multimodal_rnn.datasets.image_reader import ImageReader
from multimodal_rnn.errors import DataFormatError, InputError
from multimodal_rnn.files import check_result_texts, read_json, require_keys
from multimodal_rnn.text.vocab import pad_sequences

T = TypeVar("T")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
KARPATHY_SPLITS = ("train", "val", "test", "restval")


@dataclass(frozen=True)
class CaptionRecord:
    """One image with its reference captions (raw text, possibly none for prediction)."""

    image_id: int
    path: str
    captions: tuple[str, ...] = ()


def load_coco_captions(
    annotations: str | os.PathLike[str] | Mapping[str, Any], *, need_captions: bool = False
) -> COCO:
    """A COCO captions file (``captions_val2014.json``, or its parsed dict), checked, then indexed
    by pycocotools' COCO API (``coco.imgs``, ``coco.imgToAnns``, ``coco.loadRes``).

    Args:
        need_captions: refuse a file without any caption annotation (evaluation needs some).

    Raises:
        InputError: the file is missing or not JSON.
        DataFormatError: not a COCO captions dict: ``annotations`` must be a list of objects
            with an integer ``id`` and ``image_id`` and a string ``caption`` (of at most 10,000
            characters and 1,000 words, :func:`multimodal_rnn.files.check_result_texts`); ``images`` a list
            of objects with an integer ``id``, each listed once; every caption's image listed.
    """
    if isinstance(annotations, (str, os.PathLike)):
        data, where = read_json(annotations), str(annotations)
    else:
        data, where = annotations, "annotations"
    require_keys(data, ("annotations",), where=where)
    if not isinstance(data["annotations"], list):
        raise DataFormatError(f"{where}: 'annotations' is not a list")
    for index, annotation in enumerate(data["annotations"]):
        if not (isinstance(annotation, dict) and _is_int(annotation.get("image_id"))
                and isinstance(annotation.get("caption"), str)):
            raise DataFormatError(f"{where}: annotations[{index}] needs an integer 'image_id' and a string 'caption'")
    check_result_texts(data["annotations"], text_key="caption", id_key="image_id", where=where)
    if need_captions and not data["annotations"]:
        raise DataFormatError(f"{where}: no caption annotations")
    require_keys(data, ("images",), where=where)
    if not isinstance(data["images"], list):
        raise DataFormatError(f"{where}: 'images' is not a list")
    seen: set[int] = set()
    for index, image in enumerate(data["images"]):
        if not (isinstance(image, dict) and _is_int(image.get("id"))):
            raise DataFormatError(f"{where}: images[{index}] needs an integer 'id'")
        if image["id"] in seen:
            raise DataFormatError(f"{where}: image id {image['id']} is listed twice")
        seen.add(image["id"])
    orphans = sorted({annotation["image_id"] for annotation in data["annotations"]} - seen)
    if orphans:
        raise DataFormatError(f"{where}: captions for image ids not in 'images', e.g. {orphans[:3]}")
    for index, annotation in enumerate(data["annotations"]):
        if not _is_int(annotation.get("id")):
            raise DataFormatError(f"{where}: annotations[{index}] needs an integer 'id'")
    return silently(_index, data)


def _index(data: Mapping[str, Any]) -> COCO:
    coco = COCO()
    coco.dataset = dict(data)
    coco.createIndex()
    return coco


def silently(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` with its stdout discarded (pycocotools prints progress lines)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args)


def caption_references(coco: COCO) -> dict[int, list[str]]:
    """Raw reference captions per image id (only images with at least one), in file order."""
    return {image_id: [a["caption"] for a in annotations] for image_id, annotations in coco.imgToAnns.items()}


def read_coco_captions(annotations: str | os.PathLike[str], images_dir: str | os.PathLike[str]) -> list[CaptionRecord]:
    """Read a COCO captions file (``captions_train2017.json``) into records sorted by image id.

    Images are ``images_dir / file_name``; images without captions are kept with none.
    Raises what :func:`load_coco_captions` raises, and for an image without a ``file_name``.
    """
    coco = load_coco_captions(annotations)
    records = []
    for index, image in enumerate(coco.dataset["images"]):
        if not isinstance(image.get("file_name"), str):
            raise DataFormatError(f"{annotations}: images[{index}] needs a string 'file_name'")
        path = os.path.join(os.fspath(images_dir), image["file_name"])
        captions = tuple(a["caption"] for a in coco.imgToAnns.get(image["id"], ()))
        records.append(CaptionRecord(image["id"], path, captions))
    return sorted(records, key=lambda r: r.image_id)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
    digits = [_trailing_int(p.stem) for p in paths]
    named = [i for i in digits if i is not None]
    ids = named if len(set(named)) == len(paths) else list(range(len(paths)))
    return [CaptionRecord(i, str(p)) for i, p in zip(ids, paths)]


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
    An image that cannot be read yields ``None`` (dropped by :func:`collate_captions`); the
    :class:`ImageReader` records it in :attr:`bad_images` and gives up past ``max_bad_images``.
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
        self.reader = ImageReader(load_image, transform, max_bad_images=max_bad_images)
        self.encode = encode
        self.per_image = per_image
        if per_image:
            self.pairs = [(i, -1) for i in range(len(self.records))]
        else:
            if encode is None:
                raise ValueError("encode is required unless per_image=True")
            self.pairs = [(i, j) for i, r in enumerate(self.records) for j in range(len(r.captions))]
        self._encoded: dict[tuple[int, int], torch.Tensor] = {}

    @property
    def bad_images(self) -> dict[str, str]:
        """Path -> one-line reason of every image that could not be read so far."""
        return self.reader.bad_images

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        record_index, caption_index = self.pairs[index]
        record = self.records[record_index]
        image = self.reader.read(record.path)
        if image is None:
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
        batch["tokens"], batch["lengths"] = pad_sequences([item["tokens"].tolist() for item in kept], pad_id)  # (B, T), (B,)
    return batch
