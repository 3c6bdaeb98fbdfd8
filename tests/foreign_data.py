"""Foreign data: VQA v2 and COCO-captions files of small pictures that are not the shapes world.

The shapes world (``multimodal_rnn/datasets/shapes``) draws circles, squares and triangles in
red/green/blue/... on a flat grey 64x64 square and asks five question styles about them. The
defaults of the package must also work on data that looks nothing like it, so this module makes
such data, deterministically from a seed and in seconds (no model, no shapes code):

* pictures of mixed, mostly non-square sizes (:data:`SIZES`: 48x40 to 96x80 pixels), saved as
  JPEG under COCO names (``COCO_train2014_000000000001.jpg``), with textured backgrounds
  (:data:`BACKGROUNDS`: noise, stripes, checkerboard, gradients of dark and light colours), so
  the per-image pixel statistics vary far more than on the shapes world's grey;
* 1 to 5 objects of other kinds (:data:`KINDS`: ring, cross, bar, dot and a seven-segment digit) in other
  colours (:data:`COLOURS`: orange, purple, cyan, pink, lime, white);
* VQA v2 questions and annotations (the official fields, ten human answers, a few of them
  disagreeing) of other styles: presence of a coloured object and of a kind (yes/no, half of
  them "yes", and "no" only for a colour or kind that appears elsewhere in the dataset, so
  only the picture tells), "how many rings ..." (0 to 5), "what colour is the ..." , "which side
  of the picture is the ..." (left/right) and "what digit is written ..."; a question-only
  model (each question text's most frequent training answer) scores 42.67% on the default test
  split (yes/no 55.83), so every point above that comes from the picture;
* COCO captions (``captions_{split}.json``: ``images`` with sizes, ``annotations``) with four
  templated true captions per picture, and a Karpathy-style ``dataset_foreign.json``.

``python -m tests.foreign_data OUT [--train N --val N --test N --seed S]`` writes it all
(``OUT/vqa`` and ``OUT/captions``); :func:`write_foreign_vqa` / :func:`write_foreign_captions`
are what the tests and ``benchmarks/foreign_defaults.py`` call.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZES: tuple[tuple[int, int], ...] = ((48, 40), (96, 80), (72, 96), (80, 56), (64, 48))
"""(width, height) of the pictures, drawn at random per picture."""
COLOURS: dict[str, tuple[int, int, int]] = {
    "orange": (245, 140, 20),
    "purple": (130, 40, 170),
    "cyan": (30, 200, 220),
    "pink": (250, 120, 190),
    "lime": (150, 230, 40),
    "white": (250, 250, 250),
}
KINDS: tuple[str, ...] = ("ring", "cross", "bar", "dot", "digit")
BACKGROUNDS: tuple[str, ...] = ("noise", "stripes", "checker", "gradient")
_TOP, _UPPER_LEFT, _UPPER_RIGHT, _MIDDLE, _LOWER_LEFT, _LOWER_RIGHT, _BOTTOM = (
    "ab",
    "ac",
    "bd",
    "cd",
    "ce",
    "df",
    "ef",
)
SEGMENTS: tuple[tuple[str, ...], ...] = (
    (_TOP, _UPPER_LEFT, _UPPER_RIGHT, _LOWER_LEFT, _LOWER_RIGHT, _BOTTOM),
    (_UPPER_RIGHT, _LOWER_RIGHT),
    (_TOP, _UPPER_RIGHT, _MIDDLE, _LOWER_LEFT, _BOTTOM),
    (_TOP, _UPPER_RIGHT, _MIDDLE, _LOWER_RIGHT, _BOTTOM),
    (_UPPER_LEFT, _UPPER_RIGHT, _MIDDLE, _LOWER_RIGHT),
    (_TOP, _UPPER_LEFT, _MIDDLE, _LOWER_RIGHT, _BOTTOM),
    (_TOP, _UPPER_LEFT, _MIDDLE, _LOWER_LEFT, _LOWER_RIGHT, _BOTTOM),
    (_TOP, _UPPER_RIGHT, _LOWER_RIGHT),
    (_TOP, _UPPER_LEFT, _UPPER_RIGHT, _MIDDLE, _LOWER_LEFT, _LOWER_RIGHT, _BOTTOM),
    (_TOP, _UPPER_LEFT, _UPPER_RIGHT, _MIDDLE, _LOWER_RIGHT, _BOTTOM),
)
"""The lit segments of the digits 0-9, each segment a pair of corners (see :func:`_draw`)."""


@dataclass(frozen=True)
class Thing:
    """One drawn object: its kind, colour name, centre (x, y) and half-size in pixels; ``digit`` for digits."""

    kind: str
    colour: str
    x: float
    y: float
    radius: float
    digit: int = 0


def _background(rng: random.Random, width: int, height: int) -> Image.Image:
    style = rng.choice(BACKGROUNDS)
    dark = rng.random() < 0.5
    base = np.array([rng.randrange(10, 70) if dark else rng.randrange(150, 215) for _ in range(3)], dtype=np.int16)
    period, amplitude = rng.randrange(3, 9), rng.randrange(12, 30)
    ys, xs = np.mgrid[0:height, 0:width]
    if style == "noise":
        noise = np.random.default_rng(rng.randrange(2**32)).integers(-amplitude, amplitude + 1, (height, width))
        shift = noise
    elif style == "stripes":
        shift = np.where((xs + ys) // period % 2 == 1, amplitude, -amplitude)
    elif style == "checker":
        shift = np.where((xs // period + ys // period) % 2 == 1, amplitude, -amplitude)
    else:
        shift = (2 * amplitude * (xs / width - 0.5)).astype(np.int16)
    pixels = np.clip(base[None, None, :] + shift[:, :, None], 0, 255).astype(np.uint8)  # (H, W, 3)
    return Image.fromarray(pixels, "RGB")


def _draw(draw: ImageDraw.ImageDraw, thing: Thing) -> None:
    x, y, r = thing.x, thing.y, thing.radius
    fill = COLOURS[thing.colour]
    width = max(2, round(r / 2.5))
    if thing.kind == "ring":
        draw.ellipse([x - r, y - r, x + r, y + r], outline=fill, width=width)
    elif thing.kind == "dot":
        draw.ellipse([x - r * 0.6, y - r * 0.6, x + r * 0.6, y + r * 0.6], fill=fill)
    elif thing.kind == "cross":
        draw.line([x - r, y - r, x + r, y + r], fill=fill, width=width)
        draw.line([x - r, y + r, x + r, y - r], fill=fill, width=width)
    elif thing.kind == "bar":
        draw.rectangle([x - r, y - r * 0.35, x + r, y + r * 0.35], fill=fill)
    else:  # a seven-segment digit, 2r high and r wide
        corners = {
            "a": (-0.5, -1.0),
            "b": (0.5, -1.0),
            "c": (-0.5, 0.0),
            "d": (0.5, 0.0),
            "e": (-0.5, 1.0),
            "f": (0.5, 1.0),
        }
        for segment in SEGMENTS[thing.digit]:
            (x0, y0), (x1, y1) = corners[segment[0]], corners[segment[1]]
            draw.line([x + x0 * r, y + y0 * r, x + x1 * r, y + y1 * r], fill=fill, width=width)


def _scene(rng: random.Random, width: int, height: int) -> list[Thing]:
    radius = max(4.0, min(width, height) * rng.uniform(0.1, 0.14))
    things: list[Thing] = []
    wanted = rng.randint(1, 5)
    has_digit = False
    for _ in range(200):
        if len(things) == wanted:
            break
        x, y = rng.uniform(radius + 1, width - radius - 1), rng.uniform(radius + 1, height - radius - 1)
        if any(abs(x - t.x) < 2.2 * radius and abs(y - t.y) < 2.2 * radius for t in things):
            continue
        kind = rng.choice([k for k in KINDS if k != "digit" or not has_digit])
        has_digit = has_digit or kind == "digit"
        things.append(Thing(kind, rng.choice(list(COLOURS)), x, y, radius, rng.randrange(10)))
    return things


def _human_answers(rng: random.Random, answer: str, alternatives: list[str]) -> list[str]:
    """Ten human answers: mostly ``answer``; in one question of five, one or two annotators disagree."""
    answers = [answer] * 10
    if alternatives and rng.random() < 0.2:
        for index in rng.sample(range(10), rng.randint(1, 2)):
            answers[index] = rng.choice(alternatives)
    return answers


def _questions(rng: random.Random, things: list[Thing], width: int) -> list[tuple[str, str, str, str]]:
    """(question, answer, question_type, answer_type) for one picture: five styles, yes/no balanced."""
    present = {(t.colour, t.kind) for t in things if t.kind != "digit"}
    kinds = {t.kind for t in things}
    out: list[tuple[str, str, str, str]] = []
    if rng.random() < 0.5 and present:
        colour, kind = rng.choice(sorted(present))
        out.append((f"Is there a {colour} {kind} in the picture?", "yes", "is there a", "yes/no"))
    else:
        absent = [(c, k) for c in COLOURS for k in KINDS[:4] if (c, k) not in present]
        colour, kind = rng.choice(absent)
        out.append((f"Is there a {colour} {kind} in the picture?", "no", "is there a", "yes/no"))
    kind = rng.choice(sorted(kinds) if rng.random() < 0.5 else sorted(set(KINDS[:4]) - kinds) or sorted(kinds))
    out.append((f"Are there any {kind}s?", "yes" if kind in kinds else "no", "are there any", "yes/no"))
    count_kind = rng.choice(KINDS[:4])
    count = sum(t.kind == count_kind for t in things)
    out.append((f"How many {count_kind}s can you see?", str(count), "how many", "number"))
    unique = [t for t in things if sum(u.kind == t.kind for u in things) == 1 and t.kind != "digit"]
    if unique:
        thing = rng.choice(unique)
        out.append((f"What colour is the {thing.kind}?", thing.colour, "what colour is the", "other"))
        side = "left" if thing.x < width / 2 else "right"
        out.append((f"Which side of the picture is the {thing.kind} on?", side, "which side", "other"))
    digits = [t for t in things if t.kind == "digit"]
    if digits:
        out.append(("What digit is written in the picture?", str(digits[0].digit), "what digit", "number"))
    return out


def _pictures(rng: random.Random, count: int) -> list[tuple[Image.Image, list[Thing]]]:
    pictures = []
    for _ in range(count):
        width, height = rng.choice(SIZES)
        image = _background(rng, width, height)
        things = _scene(rng, width, height)
        draw = ImageDraw.Draw(image)
        for thing in things:
            _draw(draw, thing)
        pictures.append((image, things))
    return pictures


SPLITS = ("train", "val", "test")


def _split_pictures(
    out: Path, counts: dict[str, int], seed: int, folder: str
) -> dict[str, list[tuple[int, str, list[Thing], tuple[int, int]]]]:
    """Draw and save every split's pictures; (image_id, file name, things, size) per split."""
    rng = random.Random(seed)
    result = {}
    next_id = 1
    for split in SPLITS:
        directory = out / folder / split
        directory.mkdir(parents=True, exist_ok=True)
        rows = []
        for image, things in _pictures(rng, counts[split]):
            name = f"COCO_{split}2014_{next_id:012d}.jpg"
            image.save(directory / name, quality=90)
            rows.append((next_id, name, things, image.size))
            next_id += 1
        result[split] = rows
    return result


def write_foreign_vqa(
    out: str | Path,
    *,
    train: int = 2000,
    val: int = 200,
    test: int = 300,
    seed: int = 0,
    styles: tuple[str, ...] | None = None,
) -> dict[str, int]:
    """Write ``{split}_questions.json``, ``{split}_annotations.json`` and ``images/{split}/`` under ``out``.

    ``train``/``val``/``test`` count pictures (3 to 6 questions each; only the question types in
    ``styles``, e.g. ``("is there a", "are there any")``, when given). Images are named
    ``COCO_{split}2014_{image_id:012d}.jpg`` (pattern for ``--image-pattern``). Returns the
    number of questions per split.
    """
    out = Path(out)
    rng = random.Random(seed + 1)
    counts = {}
    for split, rows in _split_pictures(out, {"train": train, "val": val, "test": test}, seed, "images").items():
        questions, annotations = [], []
        for image_id, _, things, (width, _h) in rows:
            for index, (text, answer, qtype, atype) in enumerate(_questions(rng, things, width)):
                if styles is not None and qtype not in styles:
                    continue
                question_id = image_id * 10 + index
                questions.append({"image_id": image_id, "question": text, "question_id": question_id})
                alternatives = {"yes/no": [], "number": [], "other": list(COLOURS) if qtype.startswith("what") else []}[
                    atype
                ]
                answers = _human_answers(rng, answer, [a for a in alternatives if a != answer])
                annotations.append(
                    {
                        "question_id": question_id,
                        "image_id": image_id,
                        "question_type": qtype,
                        "answer_type": atype,
                        "multiple_choice_answer": answer,
                        "answers": [
                            {"answer": a, "answer_confidence": "yes", "answer_id": i + 1} for i, a in enumerate(answers)
                        ],
                    }
                )
        info = {"description": "foreign test data (tests/foreign_data.py)", "version": "2.0"}
        (out / f"{split}_questions.json").write_text(
            json.dumps(
                {
                    "info": info,
                    "task_type": "Open-Ended",
                    "data_type": "mscoco",
                    "data_subtype": f"{split}2014",
                    "license": {},
                    "questions": questions,
                }
            )
        )
        (out / f"{split}_annotations.json").write_text(
            json.dumps({"info": info, "license": {}, "data_subtype": f"{split}2014", "annotations": annotations})
        )
        counts[split] = len(questions)
    return counts


def vqa_split_options(data: Path, split: str, prefix: str = "") -> list[str]:
    """The ``mmrnn train|predict vqa`` data options of ``split`` of a :func:`write_foreign_vqa`
    folder; ``prefix`` ``"val-"`` makes them the validation options."""
    return [
        f"--{prefix}questions",
        str(data / f"{split}_questions.json"),
        f"--{prefix}annotations",
        str(data / f"{split}_annotations.json"),
        f"--{prefix}images",
        str(data / "images" / split),
        f"--{prefix}image-pattern",
        f"COCO_{split}2014_{{image_id:012d}}.jpg",
    ]


def _captions(rng: random.Random, things: list[Thing]) -> list[str]:
    """Four true captions of one picture."""

    def name(thing: Thing) -> str:
        return f"the digit {thing.digit}" if thing.kind == "digit" else f"a {thing.colour} {thing.kind}"

    ordered = sorted(things, key=lambda t: t.x)
    number = ("one", "two", "three", "four", "five")[len(things) - 1]
    noun = "object" if len(things) == 1 else "objects"
    listing = ", ".join(name(t) for t in ordered[:-1]) + (" and " if len(ordered) > 1 else "") + name(ordered[-1])
    captions = [
        f"{number} {noun} on a patterned background",
        f"a picture with {listing}",
        f"{listing} from left to right",
    ]
    if len(ordered) > 1:
        captions.append(f"{name(ordered[0])} to the left of {name(ordered[-1])}")
    else:
        captions.append(f"a single {ordered[0].kind} in the picture")
    rng.shuffle(captions)
    return captions


def write_foreign_captions(
    out: str | Path, *, train: int = 2000, val: int = 200, test: int = 300, seed: int = 0
) -> dict[str, int]:
    """Write ``captions_{split}.json`` (COCO), ``images/{split}/`` and ``dataset_foreign.json`` (Karpathy).

    Karpathy: every picture with ``filepath`` = ``images/{split}``, so the image root is ``out``.
    Returns the number of pictures per split.
    """
    out = Path(out)
    rng = random.Random(seed + 2)
    karpathy, sentence_id, counts = [], 0, {}
    for split, rows in _split_pictures(out, {"train": train, "val": val, "test": test}, seed, "images").items():
        images, annotations = [], []
        for image_id, name, things, (width, height) in rows:
            images.append({"id": image_id, "file_name": name, "width": width, "height": height})
            sentences = []
            for caption in _captions(rng, things):
                annotations.append({"id": sentence_id, "image_id": image_id, "caption": caption})
                sentences.append(
                    {
                        "raw": caption,
                        "tokens": caption.replace(",", "").split(),
                        "imgid": image_id,
                        "sentid": sentence_id,
                    }
                )
                sentence_id += 1
            karpathy.append(
                {
                    "filepath": f"images/{split}",
                    "filename": name,
                    "imgid": image_id,
                    "split": split,
                    "cocoid": image_id,
                    "sentids": [s["sentid"] for s in sentences],
                    "sentences": sentences,
                }
            )
        (out / f"captions_{split}.json").write_text(
            json.dumps({"info": {}, "licenses": [], "images": images, "annotations": annotations})
        )
        counts[split] = len(images)
    (out / "dataset_foreign.json").write_text(json.dumps({"dataset": "foreign", "images": karpathy}))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(
        description="write foreign VQA v2 and COCO-captions data (see the module docstring)"
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--val", type=int, default=200)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = {"train": args.train, "val": args.val, "test": args.test}
    print("vqa questions:", write_foreign_vqa(args.out / "vqa", seed=args.seed, **sizes))
    print("caption images:", write_foreign_captions(args.out / "captions", seed=args.seed, **sizes))


if __name__ == "__main__":
    main()
