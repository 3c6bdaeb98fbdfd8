"""The moving-shapes caption language and truth checker: every true caption passes, wrong ones fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multimodal_rnn.datasets.moving_shapes import ACTION_CLASSES, MovingShapesConfig
from multimodal_rnn.datasets.moving_shapes.language import ACTION_PHRASES, parse_caption
from multimodal_rnn.datasets.moving_shapes.truth import (
    ClipTruth,
    ObjectTruth,
    check_video_caption,
    read_clip_truths,
    video_faithfulness,
)
from multimodal_rnn.datasets.moving_shapes.world import clip_records, truth_file
from multimodal_rnn.errors import DataFormatError, InputError

CONFIG = MovingShapesConfig(seed=11, train_size=120, val_size=0, test_size=0)


@pytest.fixture(scope="module")
def truths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ClipTruth]:
    path = tmp_path_factory.mktemp("truth") / "truth.json"
    path.write_text(json.dumps(truth_file(clip_records(CONFIG), CONFIG.frame_size)), encoding="utf-8")
    return read_clip_truths(path)


def _clip(action: str = "MovesLeft", **actor: str) -> ClipTruth:
    objects = (
        ObjectTruth("actor", actor.get("shape", "circle"), actor.get("color", "red"), action,
                    actor.get("final_color"), actor.get("first_direction")),
        ObjectTruth("still", "square", "blue", "StaysStill"),
    )  # fmt: skip
    return ClipTruth("video0", action, objects, ("still",) * 16, (), "test", f"{action}/v_{action}_g01_c01.avi")


def test_every_generated_caption_is_faithful_and_the_truths_read_back(truths: dict[str, ClipTruth]) -> None:
    assert len(truths) == 120 and {t.label for t in truths.values()} == set(ACTION_CLASSES)
    for truth in truths.values():
        assert 2 <= len(truth.captions) <= 5 and len(set(truth.captions)) == len(truth.captions)
        for caption in truth.captions:
            assert check_video_caption(caption, truth).faithful, (truth.video_id, caption)
    result = video_faithfulness({v: t.captions[-1] for v, t in truths.items()}, truths)
    assert result.score == 1.0 and result.failures == {} and result.failure_counts() == {}


def test_the_grammar_parses_every_phrase_with_any_joiner_and_punctuation() -> None:
    said = parse_caption("The red circle moves to the right and bounces back, while a blue square stays still.")
    assert [(s.color, s.shape, s.action, s.detail("direction")) for s in said or ()] == [
        ("red", "circle", "BouncesHorizontally", "right"),
        ("blue", "square", "StaysStill", None),
    ]
    said = parse_caption("a green triangle changes from green to cyan. a red square does not move")
    assert said is not None and said[0].details == (("color", "cyan"), ("from", "green"))
    for action, phrases in ACTION_PHRASES.items():
        horizontal = action == "BouncesHorizontally"
        words = {"toward": "to the left" if horizontal else "up", "edge": "left" if horizontal else "top"}
        for phrase in phrases:
            filled = phrase.format(**words, color="blue", **{"from": "red"})
            parsed = parse_caption(f"a yellow square {filled} as a cyan circle stays in place")
            assert parsed is not None and parsed[0].action == action, filled
    wrong = ["", "a red circle", "red circle moves left", "a red circle moves", "a pink circle grows"]
    wrong += [
        "a red blob grows",
        "a red circle grows quickly",
        "a red circle grows while",
        "a red circle moves up down",
    ]
    for caption in wrong:
        assert parse_caption(caption) is None, caption


@pytest.mark.parametrize(
    ("caption", "kind"),
    [
        ("a green circle moves to the left", "object"),  # wrong color
        ("a red triangle moves to the left", "object"),  # wrong shape
        ("a red circle moves to the right", "action"),  # wrong direction
        ("a red circle grows", "action"),  # wrong action
        ("a red circle stays still", "action"),
        ("a red circle moves left while a blue square moves up", "action"),  # the still object does not move
        ("a red circle moves left while a blue circle stays still", "object"),
        ("a blue square stays still", "missing"),  # true, but nothing about the actor
        ("a red circle wanders off", "unparsed"),
    ],
)
def test_wrong_captions_are_refused_with_the_kind_of_mistake(caption: str, kind: str) -> None:
    truth = _clip()
    assert check_video_caption("a red circle moves left while a blue square does not move", truth).faithful
    verdict = check_video_caption(caption, truth)
    assert not verdict.faithful and verdict.reason is not None and verdict.reason.split(":")[0] == kind


def test_details_of_bounces_and_color_changes_are_checked() -> None:
    bounce = _clip("BouncesVertically", first_direction="down")
    assert check_video_caption("a red circle moves down and bounces back", bounce).faithful
    assert check_video_caption("a red circle bounces off the bottom edge", bounce).faithful
    assert check_video_caption("a red circle bounces up and down", bounce).faithful
    for wrong in ("a red circle moves up and bounces back", "a red circle bounces off the top edge",
                  "a red circle bounces left and right"):  # fmt: skip
        verdict = check_video_caption(wrong, bounce)
        assert verdict.reason == f"action: the red circle moves down and bounces back, not '{wrong[13:]}'"
    change = _clip("ChangesColor", final_color="yellow")
    assert check_video_caption("a red circle turns yellow", change).faithful
    assert check_video_caption("the red circle changes from red to yellow", change).faithful
    for wrong in (
        "a red circle turns green",
        "a red circle changes from purple to yellow",
        "a yellow circle turns red",
    ):
        assert not check_video_caption(wrong, change).faithful, wrong


def test_faithfulness_counts_failures_by_kind_and_refuses_bad_input(truths: dict[str, ClipTruth]) -> None:
    ids = sorted(truths)[:4]
    results = {ids[0]: truths[ids[0]].captions[0], ids[1]: "nonsense words", ids[2]: "a pink thing", ids[3]: ""}
    result = video_faithfulness(results, truths)
    assert result.score == 0.25 and result.failure_counts() == {"unparsed": 3}
    assert set(result.failures) == set(ids[1:])
    with pytest.raises(InputError, match="empty"):
        video_faithfulness({}, truths)
    with pytest.raises(InputError, match="without a clip truth: 'nope'"):
        video_faithfulness({"nope": "a red circle grows"}, truths)
    with pytest.raises(InputError, match="not a string"):
        video_faithfulness({ids[0]: 3}, truths)  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("clips"), "clips"),
        (lambda d: d.update(version=2), "version-1"),
        (lambda d: d["clips"]["video0"].update(label="Dances"), "unknown action class 'Dances'"),
        (lambda d: d["clips"]["video0"].update(frame_labels=["jumping"]), "frame_labels"),
        (lambda d: d["clips"]["video0"].update(objects=[]), "non-empty list"),
        (lambda d: d["clips"]["video0"]["objects"][0].update(color="pink"), r"objects\[0\]: unknown color 'pink'"),
        (lambda d: d["clips"]["video0"]["objects"][0].update(role="still"), "must be the actor"),
        (lambda d: d["clips"]["video0"].pop("captions"), "captions"),
    ],
)
def test_malformed_truth_files_are_refused_in_one_line(tmp_path: Path, change, message: str) -> None:
    data = truth_file(clip_records(MovingShapesConfig(train_size=2, val_size=0, test_size=0)), 64)
    change(data)
    path = tmp_path / "truth.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DataFormatError, match=message):
        read_clip_truths(path)
    with pytest.raises(InputError, match="no such file|not found|does not exist"):
        read_clip_truths(tmp_path / "missing.json")
