"""Shapes world: every caption, VQA answer and dialog answer is true of its scene graph.

The checker below is written independently of the generator: it parses the templated sentences
back into claims (counts, colors, shapes, sizes, relations) and verifies them against the
objects of ``scenes_{split}.json`` (pixels; x right, y down). The rendered pixels are checked
against the color names by hue, and the objects for overlap.
"""

from __future__ import annotations

import colorsys
import itertools
import json
import math
import random
import re
from pathlib import Path

import pytest
from PIL import Image

from multimodal_rnn.datasets.shapes.world import (
    ShapesConfig,
    captions_for,
    dialog_for,
    generate_shapes_world,
    make_scene,
    questions_for,
    scene_graph,
)

COLORS = {"red", "green", "blue", "yellow", "purple", "cyan"}
SHAPES = {"circle", "square", "triangle"}
SIZES = {"small", "large"}
NUMBERS = {"zero": 0, "none": 0, "one": 1, "two": 2, "three": 3, "four": 4}
HUES = {"red": 0, "yellow": 52, "green": 130, "cyan": 185, "blue": 225, "purple": 282}  # degrees
RELATION_WORDS = {"to the left of": "left", "to the right of": "right", "above": "above", "below": "below"}
REL = "|".join(RELATION_WORDS)
SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shapes_truth")
    generate_shapes_world(out, ShapesConfig(seed=11, train_size=30, val_size=10, test_size=10))
    return out


def _load(world: Path, name: str):
    return json.loads((world / name).read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- the checker


class Scene:
    """Objects of one scene graph and the margin (pixels) beyond which a relation is clear."""

    def __init__(self, objects: list[dict], margin: float) -> None:
        self.objects, self.margin = objects, margin

    def matches(self, phrase: str) -> list[int]:
        """Indices of the objects a phrase like "small red circle", "red one", "circles" describes."""
        wanted = {}
        for word in phrase.split():
            if word in SIZES:
                wanted["size"] = word
            elif word in COLORS:
                wanted["color"] = word
            elif word in SHAPES or (word.endswith("s") and word[:-1] in SHAPES):
                wanted["shape"] = word.rstrip("s")
            elif word not in ("one", "shape", "shapes"):
                raise AssertionError(f"unknown word {word!r} in {phrase!r}")
        return [i for i, o in enumerate(self.objects) if all(o[k] == v for k, v in wanted.items())]

    def the(self, phrase: str) -> int:
        """The one object "the {phrase}" names; the phrase must be unambiguous."""
        found = self.matches(phrase)
        assert len(found) == 1, f"'the {phrase}' is ambiguous or absent: {found}"
        return found[0]

    def relation(self, a: int, relation: str, b: int) -> bool | None:
        """True/False when the offset along the relation's axis exceeds the margin, else None."""
        (ax, ay), (bx, by) = self.objects[a]["center"], self.objects[b]["center"]
        offset = {"left": bx - ax, "right": ax - bx, "above": by - ay, "below": ay - by}[relation]
        return True if offset > self.margin else False if offset < -self.margin else None

    def full(self, index: int) -> str:
        o = self.objects[index]
        return f"{o['size']} {o['color']} {o['shape']}"


def check_caption(scene: Scene, caption: str) -> str:
    """Assert the caption is true; returns which template family it parsed as."""
    if m := re.fullmatch(rf"(?:there is )?a ([a-z ]+?) ({REL}) a ([a-z ]+)", caption):
        rel = RELATION_WORDS[m[2]]
        pairs = itertools.product(scene.matches(m[1]), scene.matches(m[3]))
        assert any(a != b and scene.relation(a, rel, b) for a, b in pairs), caption
        return "relation"
    if m := re.fullmatch(r"(?:there (?:is|are) |a picture with )?(\w+) ([a-z ]+?)(?: on a gray background)?", caption):
        if m[1] in NUMBERS:
            assert len(scene.matches(m[2])) == NUMBERS[m[1]], caption
            return "count"
    if m := re.fullmatch(r"the ([a-z ]+) is (a )?(\w+)", caption):
        obj = scene.objects[scene.the(m[1])]
        assert m[3] in (obj["color"], obj["size"], obj["shape"]), caption
        assert bool(m[2]) == (m[3] in SHAPES), caption
        return "attribute"
    listing = caption.removeprefix("a picture with ").removesuffix(" on a gray background")
    items = listing.split(" and ")
    assert all(item.startswith("a ") and len(item.split()) == 4 for item in items), caption
    assert sorted(item[2:] for item in items) == sorted(scene.full(i) for i in range(len(scene.objects))), caption
    return "listing"


def check_vqa(scene: Scene, question: str, answer: str) -> str:
    """Assert the answer is right; returns the question's kind."""
    if m := re.fullmatch(r"what (color|shape) is the ([a-z ]+)\?", question):
        assert scene.objects[scene.the(m[2])][m[1]] == answer, question
        return m[1]
    if m := re.fullmatch(r"how many ([a-z ]+) are there\?", question):
        assert str(len(scene.matches(m[1]))) == answer, question
        return "count"
    if m := re.fullmatch(r"is there a ([a-z ]+)\?", question):
        assert (answer == "yes") == bool(scene.matches(m[1])) and answer in ("yes", "no"), question
        return "existence"
    m = re.fullmatch(rf"is the ([a-z ]+) ({REL}) the ([a-z ]+)\?", question)
    assert m, f"unparsed question {question!r}"
    state = scene.relation(scene.the(m[1]), RELATION_WORDS[m[2]], scene.the(m[3]))
    assert state is not None and (answer == "yes") == state and answer in ("yes", "no"), question
    return "relation"


def _yes(answer: str) -> bool:
    first = answer.split()[0]
    assert first in ("yes", "no"), answer
    return first == "yes"


def _number(answer: str) -> int:
    numbers = [NUMBERS[w] for w in answer.split() if w in NUMBERS]
    assert len(numbers) == 1, answer
    return numbers[0]


def _attribute(scene: Scene, index: int, attribute: str, answer: str) -> None:
    forms = {"color": ("{}", "it is {}", "it looks {}"), "shape": ("{}", "a {}", "it is a {}"), "size": ("{}", "it is {}")}
    value = scene.objects[index][attribute]
    assert answer in {form.format(value) for form in forms[attribute]}, (attribute, value, answer)


def _is_size(scene: Scene, index: int, size: str, answer: str) -> None:
    actual = scene.objects[index]["size"]
    assert _yes(answer) == (actual == size), answer
    assert answer in ("yes", "yes it is", "no", "no it is not", f"no it is {actual}"), answer


def check_dialog(scene: Scene, rounds: list[tuple[str, str]]) -> set[str]:
    """Replay a dialog, resolving "it" and "what about"; returns the kinds of questions seen."""
    focus, last, kinds = None, None, set()
    for question, answer in rounds:
        if m := re.fullmatch(r"how many ([a-z ]+) are there", question):
            assert _number(answer) == len(scene.matches(m[1])), (question, answer)
            focus, last, kind = None, None, "count"
        elif m := re.fullmatch(r"is there (?:a ([a-z ]+)|anything (\w+))", question):
            found = scene.matches(m[1] or m[2])
            assert _yes(answer) == bool(found), (question, answer)
            if len(answer.split()) > 1 and answer.split()[-1] in NUMBERS:
                assert _number(answer) == len(found) > 1, (question, answer)
            focus, last, kind = (found[0] if len(found) == 1 else None), None, "existence"
        elif m := re.fullmatch(r"what (color|shape) is the ([a-z ]+)", question):
            focus, last, kind = scene.the(m[2]), (m[1],), "attribute"
            _attribute(scene, focus, m[1], answer)
        elif m := re.fullmatch(r"what (color|shape|size) is it", question):
            assert focus is not None, question
            _attribute(scene, focus, m[1], answer)
            last, kind = (m[1],), "it"
        elif m := re.fullmatch(r"is it (small|large)", question):
            assert focus is not None, question
            _is_size(scene, focus, m[1], answer)
            last, kind = ("is", m[1]), "it"
        elif m := re.fullmatch(r"what about the ([a-z ]+)", question):
            assert last is not None, question
            focus, kind = scene.the(m[1]), "what about"
            _is_size(scene, focus, last[1], answer) if last[0] == "is" else _attribute(scene, focus, last[0], answer)
        elif m := re.fullmatch(rf"is it ({REL}) the ([a-z ]+)", question):
            assert focus is not None, question
            state = scene.relation(focus, RELATION_WORDS[m[1]], scene.the(m[2]))
            assert state is not None and _yes(answer) == state and answer in ("yes", "yes it is", "no", "no it is not")
            last, kind = None, "it"
        elif m := re.fullmatch(rf"what is ({REL}) it", question):
            assert focus is not None, question
            others = [j for j in range(len(scene.objects)) if j != focus]
            states = [scene.relation(j, RELATION_WORDS[m[1]], focus) for j in others]
            assert None not in states, question
            holding = [j for j, state in zip(others, states) if state]
            if answer in ("nothing", "there is nothing"):
                assert not holding, (question, answer)
            else:
                assert len(holding) == 1 and answer in (f"a {scene.full(holding[0])}", f"there is a {scene.full(holding[0])}")
                focus = holding[0]
            last, kind = None, "it"
        else:
            raise AssertionError(f"unparsed dialog question {question!r}")
        kinds.add(kind)
    return kinds


def _scenes(world: Path, split: str) -> dict[int, Scene]:
    data = _load(world, f"scenes_{split}.json")
    margin = data["info"]["relation_margin_pixels"]
    return {image["id"]: Scene(image["objects"], margin) for image in data["images"]}


# ----------------------------------------------------------------------------- tests on files


@pytest.mark.parametrize("split", SPLITS)
def test_every_caption_is_true_and_every_family_appears(world: Path, split: str) -> None:
    scenes = _scenes(world, split)
    families = [check_caption(scenes[a["image_id"]], a["caption"]) for a in _load(world, f"captions_{split}.json")["annotations"]]
    assert len(families) == 5 * len(scenes)
    if split == "train":
        assert set(families) == {"relation", "count", "attribute", "listing"}


@pytest.mark.parametrize("split", SPLITS)
def test_every_vqa_answer_is_true(world: Path, split: str) -> None:
    scenes = _scenes(world, split)
    questions = {q["question_id"]: q for q in _load(world, f"vqa_questions_{split}.json")["questions"]}
    kinds = []
    for ann in _load(world, f"vqa_annotations_{split}.json")["annotations"]:
        assert {a["answer"] for a in ann["answers"]} == {ann["multiple_choice_answer"]}
        kinds.append(check_vqa(scenes[ann["image_id"]], questions[ann["question_id"]]["question"], ann["multiple_choice_answer"]))
    if split == "train":
        assert set(kinds) == {"color", "shape", "count", "existence", "relation"}


@pytest.mark.parametrize("split", SPLITS)
def test_every_dialog_answer_is_true_given_the_history(world: Path, split: str) -> None:
    scenes = _scenes(world, split)
    data = _load(world, f"visdial_{split}.json")["data"]
    kinds: set[str] = set()
    for dialog in data["dialogs"]:
        scene = scenes[dialog["image_id"]]
        check_caption(scene, dialog["caption"])
        answered = [t for t in dialog["dialog"] if "answer" in t]
        kinds |= check_dialog(scene, [(data["questions"][t["question"]], data["answers"][t["answer"]]) for t in answered])
    if split == "train":
        assert kinds == {"count", "existence", "attribute", "it", "what about"}


def test_objects_do_not_overlap_and_stay_inside_the_image(world: Path) -> None:
    for split in SPLITS:
        for image in _load(world, f"scenes_{split}.json")["images"]:
            objects = image["objects"]
            assert 1 <= len(objects) <= 4
            for o in objects:
                x, y, w, h = o["bbox"]
                assert 0 <= x and 0 <= y and x + w <= image["width"] and y + h <= image["height"]
            for a, b in itertools.combinations(objects, 2):
                assert math.dist(a["center"], b["center"]) > a["radius"] + b["radius"]


def test_rendered_colors_match_the_color_names(world: Path) -> None:
    for split in SPLITS:
        for image in _load(world, f"scenes_{split}.json")["images"]:
            png = Image.open(world / "images" / split / image["file_name"]).convert("RGB")
            for o in image["objects"]:
                r, g, b = png.getpixel((int(o["center"][0]), int(o["center"][1])))
                hue, _, saturation = colorsys.rgb_to_hls(r / 255, g / 255, b / 255)
                nearest = min(HUES, key=lambda name: min(abs(hue * 360 - HUES[name]), 360 - abs(hue * 360 - HUES[name])))
                assert saturation > 0.4 and nearest == o["color"], (image["file_name"], o, (r, g, b))
            corner = png.getpixel((0, 0))
            assert max(corner) - min(corner) < 30 and min(corner) > 180  # light gray background


# ----------------------------------------------------------------------------- in memory, many scenes


def test_many_in_memory_scenes_are_described_truthfully() -> None:
    config, side = ShapesConfig(), 100
    for seed in range(150):
        rng = random.Random(seed)
        scene_data = make_scene(rng, config)
        scene = Scene(scene_graph(scene_data, side)["objects"], config.relation_margin * side)
        for caption in captions_for(scene_data, rng):
            check_caption(scene, caption)
        questions = questions_for(scene_data, rng)
        assert len(questions) == 5
        assert [q["answer"] for q in questions if q["answer_type"] == "yes/no"].count("yes") == 1
        for q in questions:
            check_vqa(scene, q["question"], q["answer"])
        dialog = dialog_for(scene_data, rng)
        assert len(dialog["rounds"]) == 10
        check_dialog(scene, [(r["question"], r["answer"]) for r in dialog["rounds"]])
