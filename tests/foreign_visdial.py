"""Foreign data in VisDial v1.0 format: the pictures and questions of :mod:`tests.foreign_data`.

The same generator as the foreign VQA data (:func:`tests.foreign_data._split_pictures` draws and
saves the pictures of a seed, :func:`tests.foreign_data._questions` asks about them), written as
visual dialogs:

* per picture a caption that names only how many objects there are ("three objects on a
  patterned background") and 10 rounds of question and answer, drawn from the foreign VQA
  questions of that picture (presence, count, colour, side, digit), so the answers need the
  picture; a picture with fewer than 10 different questions repeats some;
* answers as short sentences naming their subject (:func:`answer_text`: "yes, there is a lime
  ring", "no crosses", "2 dots", "the bar is cyan", "the ring is on the left", "the digit 4"),
  124 different ones in all (:func:`answer_pool`), the shared ``answers`` list of every split;
* 100 options per round: the ground truth, every other answer of the same question type and
  subject (the other yes/no, counts, colours, side or digits: the plausible distractors), more
  answers of the same type up to :data:`SAME_TYPE` of them, and the rest drawn from the whole
  pool (which may add more of the same type).

There is one right answer per round, so dense relevance annotations would make NDCG equal to
R@1; none are written. ``python -m tests.foreign_visdial OUT [--train N --val N --test N --seed
S]`` writes ``OUT/visdial_{split}.json`` and ``OUT/images/{split}/`` (image pattern
``COCO_{split}2014_{image_id:012d}.jpg``, as the VQA files).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

from tests.foreign_data import COLOURS, KINDS, Thing, _captions, _questions, _split_pictures

ROUNDS = 10
OPTIONS = 100
SAME_TYPE = 30
"""At least this many of a round's 100 options share the question's type (the ground truth included)."""


def answer_text(question: str, answer: str, qtype: str) -> str:
    """The dialog answer of a foreign VQA (question, one-word answer, question type)."""
    if qtype == "is there a":
        colour, kind = re.match(r"Is there a (\w+) (\w+) ", question).groups()  # type: ignore[union-attr]
        return f"yes, there is a {colour} {kind}" if answer == "yes" else f"no, there is no {colour} {kind}"
    if qtype == "are there any":
        kind = question.split()[3][:-2]
        return f"yes, there are {kind}s" if answer == "yes" else f"no {kind}s"
    if qtype == "how many":
        kind = question.split()[2][:-1]
        return f"{answer} {kind}" + ("" if answer == "1" else "s")
    if qtype == "what colour is the":
        return f"the {question.split()[-1][:-1]} is {answer}"
    if qtype == "which side":
        return f"the {question.split()[-2]} is on the {answer}"
    return f"the digit {answer}"


def answer_pool() -> dict[str, list[str]]:
    """Every answer the questions can have, by question type (124 in all, in a fixed order)."""
    kinds = KINDS[:4]
    return {
        "is there a": [
            answer_text(f"Is there a {c} {k} in the picture?", a, "is there a")
            for c in COLOURS
            for k in kinds
            for a in ("yes", "no")
        ],
        "are there any": [
            answer_text(f"Are there any {k}s?", a, "are there any") for k in KINDS for a in ("yes", "no")
        ],
        "how many": [answer_text(f"How many {k}s can you see?", str(n), "how many") for k in kinds for n in range(6)],
        "what colour is the": [f"the {k} is {c}" for k in kinds for c in COLOURS],
        "which side": [f"the {k} is on the {s}" for k in kinds for s in ("left", "right")],
        "what digit": [f"the digit {d}" for d in range(10)],
    }


def _subject(text: str) -> str:
    """What an answer is about: its words but the yes/no, count, colour, side or digit (see :func:`_options`)."""
    drop = {"yes", "no", "there", "is", "are", "a", "the", "on", *COLOURS, "left", "right", *map(str, range(10))}
    return " ".join(w.rstrip("s,") for w in text.split() if w.rstrip(",") not in drop)


def _options(rng: random.Random, truth: str, qtype: str, pool: dict[str, list[str]]) -> list[str]:
    same_type = [a for a in pool[qtype] if a != truth]
    close = [a for a in same_type if _subject(a) == _subject(truth)]
    others = [a for a in same_type if a not in close]
    chosen = [truth, *close, *rng.sample(others, min(len(others), SAME_TYPE - 1 - len(close)))]
    rest = [a for texts in pool.values() for a in texts if a not in chosen]
    chosen += rng.sample(rest, OPTIONS - len(chosen))
    rng.shuffle(chosen)
    return chosen


def _rounds(rng: random.Random, things: list[Thing], width: int) -> list[tuple[str, str, str]]:
    """10 (question, answer sentence, question type) of one picture."""
    asked: dict[str, tuple[str, str, str]] = {}
    for _ in range(40):
        for text, answer, qtype, _atype in _questions(rng, things, width):
            asked.setdefault(text, (text, answer_text(text, answer, qtype), qtype))
        if len(asked) >= 3 * ROUNDS:
            break
    found = list(asked.values())
    return rng.sample(found, ROUNDS) if len(found) >= ROUNDS else found + rng.choices(found, k=ROUNDS - len(found))


def write_foreign_visdial(
    out: str | Path, *, train: int = 600, val: int = 100, test: int = 150, seed: int = 0
) -> dict[str, int]:
    """Write ``visdial_{split}.json`` (VisDial v1.0) and ``images/{split}/`` under ``out``; dialogs per split.

    Every round of every split has its answer and ``gt_index`` (the test split too, so it can be scored).
    """
    out = Path(out)
    rng = random.Random(seed + 3)
    pool = answer_pool()
    answers = [a for texts in pool.values() for a in texts]
    answer_id = {a: i for i, a in enumerate(answers)}
    counts = {}
    for split, rows in _split_pictures(out, {"train": train, "val": val, "test": test}, seed, "images").items():
        questions: dict[str, int] = {}
        dialogs = []
        for image_id, _name, things, (width, _h) in rows:
            caption = next(c for c in _captions(rng, things) if c.endswith("on a patterned background"))
            turns = []
            for question, truth, qtype in _rounds(rng, things, width):
                options = _options(rng, truth, qtype, pool)
                turns.append(
                    {
                        "question": questions.setdefault(question, len(questions)),
                        "answer": answer_id[truth],
                        "answer_options": [answer_id[a] for a in options],
                        "gt_index": options.index(truth),
                    }
                )
            dialogs.append({"image_id": image_id, "caption": caption, "dialog": turns})
        content = {"questions": list(questions), "answers": answers, "dialogs": dialogs}
        (out / f"visdial_{split}.json").write_text(json.dumps({"version": "1.0", "split": split, "data": content}))
        counts[split] = len(dialogs)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description="write foreign VisDial v1.0 data (see the module docstring)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=600)
    parser.add_argument("--val", type=int, default=100)
    parser.add_argument("--test", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("dialogs:", write_foreign_visdial(args.out, train=args.train, val=args.val, test=args.test, seed=args.seed))


if __name__ == "__main__":
    main()
