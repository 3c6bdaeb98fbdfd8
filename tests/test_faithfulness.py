"""Faithfulness of shapes-world captions: references are faithful, corruptions are not."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from multimodal_rnn.datasets.shapes.world import ShapesConfig, generate_shapes_world, image_record
from multimodal_rnn.datasets.shapes.scene import COLORS, SHAPES, Scene, ShapeObject, scene_graph
from multimodal_rnn.errors import DataFormatError, InputError
from multimodal_rnn.datasets.shapes.claims import CountClaim, Description, Mention, ObjectsClaim, caption_claims
from multimodal_rnn.datasets.shapes.truth import check_caption, faithfulness, is_faithful, read_scene_graphs

NUMBERS = ("zero", "one", "two", "three", "four")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[dict]]:
    """Scene graphs and caption annotations of a freshly generated 30-image shapes world."""
    out = tmp_path_factory.mktemp("faithfulness_world")
    generate_shapes_world(out, ShapesConfig(seed=5, train_size=30, val_size=0, test_size=1))
    annotations = json.loads((out / "captions_train.json").read_text(encoding="utf-8"))["annotations"]
    return read_scene_graphs(out / "scenes_train.json"), annotations


def _hand_scene() -> dict:
    """Small red circle (left, top), large blue square (right, almost as high), small red triangle (middle, low)."""
    objects = (
        ShapeObject("circle", "red", "small", 0.2, 0.3),
        ShapeObject("triangle", "red", "small", 0.5, 0.8),
        ShapeObject("square", "blue", "large", 0.75, 0.35),
    )
    return scene_graph(Scene(objects, (220, 220, 220), 0, relation_margin=0.12), 100)


# ----------------------------------------------------------------------------- references


def test_every_reference_caption_of_a_generated_world_is_faithful(world: tuple[dict, list[dict]]) -> None:
    scenes, annotations = world
    assert len(scenes) == 30 and len(annotations) == 150
    for ann in annotations:
        verdict = check_caption(ann["caption"], scenes[ann["image_id"]])
        assert verdict.faithful, (ann["caption"], verdict.reason)
    first = {}
    for ann in annotations:
        first.setdefault(ann["image_id"], ann["caption"])
    result = faithfulness(first, scenes)
    assert result.score == 1.0 and result.failures == {} and result.failure_counts() == {}


def test_many_in_memory_scenes_have_faithful_captions() -> None:
    config = ShapesConfig()
    for index in range(150):
        record = image_record(config, "train", index)
        graph = scene_graph(record.scene, config.image_size)
        for caption in record.captions + [record.dialog["caption"]]:
            assert is_faithful(caption, graph), caption


# ----------------------------------------------------------------------------- corruptions


def _present(scene: dict, key: str) -> set[str]:
    return {o[key] for o in scene["objects"]}


def _swap_color(caption: str, scene: dict) -> str | None:
    """The first color word replaced by a color no object has."""
    absent = sorted(set(COLORS) - _present(scene, "color"))
    colors = "|".join(COLORS)
    return re.sub(rf"\b({colors})\b", absent[0], caption, count=1) if re.search(rf"\b({colors})\b", caption) else None


def _swap_shape(caption: str, scene: dict) -> str | None:
    """The first shape word (singular or plural) replaced by a shape no object has."""
    absent = sorted(set(SHAPES) - _present(scene, "shape"))
    pattern = rf"\b({'|'.join(SHAPES)})(s?)\b"
    if not absent or not re.search(pattern, caption):
        return None
    return re.sub(pattern, lambda m: absent[0] + m[2], caption, count=1)


def _change_count(caption: str, scene: dict) -> str | None:
    found = re.search(rf"\b({'|'.join(NUMBERS)})\b", caption)
    if found is None or "the" in caption.split():  # "the red one": "one" is a noun there
        return None
    return caption[: found.start()] + NUMBERS[(NUMBERS.index(found[1]) + 1) % 5] + caption[found.end():]


def _flip_relation(caption: str, scene: dict) -> str | None:
    """left <-> right, above <-> below, kept only when both phrases name exactly one object."""
    flips = {"left": "right", "right": "left", "above": "below", "below": "above"}
    found = re.search(r"\b(left|right|above|below)\b", caption)
    if found is None:
        return None
    phrases = re.split(r" (?:to the left of|to the right of|above|below) ", caption.removeprefix("there is "))
    for phrase in phrases:
        words = phrase.split()[1:]  # drop the article
        if sum(all(w in (o["size"], o["color"], o["shape"]) for w in words) for o in scene["objects"]) != 1:
            return None
    return caption[: found.start()] + flips[found[1]] + caption[found.end():]


def _add_missing_object(caption: str, scene: dict) -> str:
    absent = sorted(set(COLORS) - _present(scene, "color"))[0]
    return f"{caption} and a large {absent} triangle"


CORRUPTIONS = {
    "swap color": _swap_color,
    "swap shape": _swap_shape,
    "change count": _change_count,
    "flip relation": _flip_relation,
    "missing object": _add_missing_object,
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corrupted_reference_captions_are_unfaithful(world: tuple[dict, list[dict]], name: str) -> None:
    scenes, annotations = world
    corrupt = CORRUPTIONS[name]
    tried = 0
    for ann in annotations:
        scene = scenes[ann["image_id"]]
        wrong = corrupt(ann["caption"], scene)
        if wrong is None:
            continue
        tried += 1
        verdict = check_caption(wrong, scene)
        assert not verdict.faithful, (name, ann["caption"], wrong)
        assert verdict.reason is not None and verdict.reason != "unparsed", (wrong, verdict.reason)
    assert tried >= 10, f"{name}: only {tried} captions could be corrupted"


@pytest.mark.parametrize("garble", [
    lambda c: c + " banana",
    lambda c: "zebra " + c,
    lambda c: " ".join(c.split()[:-1]) + " the",
    lambda c: c.replace(" ", " <unk> ", 1),
    lambda c: " and ".join([c, ""]),
])
def test_garbled_reference_captions_are_unparsed(world: tuple[dict, list[dict]], garble) -> None:
    scenes, annotations = world
    for ann in annotations:
        wrong = garble(ann["caption"])
        assert caption_claims(wrong) is None, wrong
        assert check_caption(wrong, scenes[ann["image_id"]]).reason == "unparsed"


# ----------------------------------------------------------------------------- hand-written examples


@pytest.mark.parametrize("caption, reason", [
    ("a small red circle and a large blue square", None),
    ("a picture with a small red triangle on a gray background", None),
    ("A small red circle.", None),
    ("there are three shapes on a gray background", None),
    ("a picture with three shapes", None),
    ("there are two red shapes", None),
    ("there is one square", None),
    ("there are no green shapes", None),
    ("there is a blue square", None),
    ("a red shape and a red shape", None),
    ("the circle is red", None),
    ("the circle is small and red", None),
    ("the blue one is a large square", None),
    ("the square is large", None),
    ("a red circle to the left of a blue square", None),
    ("there is a small red triangle below a large blue square", None),
    ("the triangle is below the circle", None),
    ("the circle is red. the square is large", None),
    ("there are three shapes and the square is blue", None),
    ("a red shape above a red shape", None),
    ("there are three red shapes", "count: said 3 red shapes, the scene has 2"),
    ("there are no red shapes", "count: said 0 red shapes, the scene has 2"),
    ("there are four shapes", "count: said 4 shapes, the scene has 3"),
    ("the circle is blue", "attribute: the circle is not blue"),
    ("the square is a triangle", "attribute: the square is not a triangle"),
    ("the red one is a circle", "reference: 'the red shape' matches 2 objects"),
    ("the green one is small", "reference: 'the green shape' matches 0 objects"),
    ("a green circle", "object: no green circle"),
    ("a large red circle", "object: no large red circle"),
    ("a red circle and a red circle", "object: fewer distinct objects than 'a red circle and a red circle'"),
    ("a red circle to the right of a blue square", "relation: not clearly a red circle to the right of a blue square"),
    ("a red circle above a blue square", "relation: not clearly a red circle above a blue square"),  # 5 px < 12 px margin
    ("a red circle to the left of a red circle", "relation: not clearly a red circle to the left of a red circle"),
    ("there are three shapes and the square is red", "attribute: the square is not red"),
    ("the circle is red and the square is small", "attribute: the square is not small"),
    ("", "unparsed"),
    ("<unk>", "unparsed"),
    ("a red", "unparsed"),
    ("the circle is purple banana", "unparsed"),
    ("a red blue circle", "unparsed"),
    ("there are two red shapes on a red background", "unparsed"),
])
def test_hand_written_captions(caption: str, reason: str | None) -> None:
    verdict = check_caption(caption, _hand_scene())
    assert verdict.reason == reason
    assert verdict.faithful is (reason is None)


def test_claims_of_a_count_and_a_listing() -> None:
    assert caption_claims("there are two red circles. a large square and the blue one") == [
        CountClaim(Description(shape="circle", color="red"), 2),
        ObjectsClaim((Mention(Description(shape="square", size="large"), definite=False),
                      Mention(Description(color="blue"), definite=True))),
    ]


def test_long_garbage_is_rejected_quickly() -> None:
    assert caption_claims("a red circle and " * 30 + "banana") is None
    assert caption_claims("and " * 60) is None


# ----------------------------------------------------------------------------- corpus and files


def test_faithfulness_score_verdicts_and_failure_counts() -> None:
    scene = _hand_scene()
    captions = {1: "the circle is red", 2: "the circle is blue", 3: "banana", 4: "there are two red shapes"}
    result = faithfulness(captions, {i: scene for i in captions})
    assert result.score == 0.5
    assert [v.faithful for v in result.verdicts.values()] == [True, False, False, True]
    assert result.failures == {2: "attribute: the circle is not blue", 3: "unparsed"}
    assert result.failure_counts() == {"unparsed": 1, "attribute": 1}


def test_faithfulness_refuses_bad_input() -> None:
    scene = _hand_scene()
    with pytest.raises(InputError, match="empty"):
        faithfulness({}, {1: scene})
    with pytest.raises(InputError, match="without a scene graph: 2"):
        faithfulness({1: "a red circle", 2: "a red circle"}, {1: scene})
    with pytest.raises(InputError, match="image 1: caption is int"):
        faithfulness({1: 7}, {1: scene})  # type: ignore[dict-item]
    with pytest.raises(DataFormatError, match="scene of image 1: missing key"):
        faithfulness({1: "a red circle"}, {1: {"objects": []}})


def test_read_scene_graphs_rejects_malformed_files(tmp_path: Path) -> None:
    path = tmp_path / "scenes_test.json"
    path.write_text(json.dumps({"images": [{"id": 1, "objects": [], "relations": []}] * 2}), encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"images\[1\]: image id 1 repeated"):
        read_scene_graphs(path)
    path.write_text(json.dumps({"images": [{"id": 1, "objects": [{"id": 0}], "relations": []}]}), encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"objects\[0\]: missing key"):
        read_scene_graphs(path)
    path.write_text(json.dumps({"annotations": []}), encoding="utf-8")
    with pytest.raises(DataFormatError, match="missing key"):
        read_scene_graphs(path)
    with pytest.raises(InputError, match="no such file"):
        read_scene_graphs(tmp_path / "absent.json")
