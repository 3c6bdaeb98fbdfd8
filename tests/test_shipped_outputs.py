"""Pinned outputs of every shipped checkpoint in ``weights/``: a refactor that changes a number fails here.

The values were computed once from the code and weights of the commit that added this file (CPU,
one torch thread) and are written below as literals; they must not change unless the shipped
files are retrained (then recompute them and say so in the commit). Covered: three beam-3
captions, 20 VQA answers (the sample images and three generated shapes scenes with their own
questions), one two-question dialog round, and 20 held-out navigation seeds per shipped agent
(success, episode length and the actions taken).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from multimodal_rnn.datasets.shapes.scene import ShapesConfig, render_scene
from multimodal_rnn.datasets.shapes.world import image_record
from multimodal_rnn.shipped import resolve_weights
from multimodal_rnn.tasks import TASKS
from multimodal_rnn.tasks.navigation.rollout import run_episodes

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
SCENES = ShapesConfig(seed=12345, train_size=0, val_size=0, test_size=3)
"""Three generated test scenes; VQA_ANSWERS rows with an int image are (scene index, its own question)."""
PROBABILITY_TOLERANCE = 1e-4
SCORE_TOLERANCE = 1e-3
FIRST_SEED = 10**9

CAPTIONS: list[tuple[str, str, float]] = [
    ("shapes_test_1.png", "a large blue square on a gray background", -1.8474),
    ("shapes_test_2.png", "a large blue circle", -1.8825),
    ("shapes_test_3.png", "a picture with three shapes", -2.5996),
]
VQA_ANSWERS: list[tuple[str | int, str, str, float]] = [
    ("shapes_test_1.png", "how many shapes are there?", "1", 1.0),
    ("shapes_test_1.png", "what color is the square?", "blue", 0.999997),
    ("shapes_test_2.png", "what shape is the blue one?", "circle", 1.0),
    ("shapes_test_2.png", "is there a red triangle?", "no", 1.0),
    ("shapes_test_3.png", "how many shapes are there?", "3", 0.999936),
    (0, "what color is the circle?", "cyan", 0.999998),
    (0, "what shape is the small cyan one?", "circle", 0.988781),
    (0, "how many green shapes are there?", "0", 0.999991),
    (0, "is there a cyan square?", "yes", 0.999987),
    (0, "is the blue square below the cyan square?", "no", 1.0),
    (1, "what color is the small circle?", "yellow", 1.0),
    (1, "what shape is the yellow one?", "circle", 1.0),
    (1, "how many shapes are there?", "3", 0.999767),
    (1, "is there a blue triangle?", "no", 0.999998),
    (1, "is there a large blue circle?", "yes", 0.999988),
    (2, "what color is the circle?", "green", 1.0),
    (2, "what shape is the green one?", "circle", 1.0),
    (2, "how many squares are there?", "0", 1.0),
    (2, "is there a small square?", "no", 1.0),
    (2, "is there a green circle?", "yes", 1.0),
]
DIALOG_ROUND: list[tuple[str, str, float]] = [
    ("how many shapes are there?", "one", 0.35393),
    ("is there a circle?", "no there is not", 0.748293),
]
NAVIGATION: dict[str, list[tuple[int, int, str]]] = {
    "BabyAI-GoToRedBall-v0": [
        (1, 3, "221"),
        (1, 3, "002"),
        (1, 3, "221"),
        (1, 9, "112202212"),
        (1, 6, "122122"),
        (1, 1, "2"),
        (1, 2, "02"),
        (1, 3, "022"),
        (1, 2, "02"),
        (1, 5, "12122"),
        (1, 4, "2122"),
        (1, 2, "21"),
        (1, 3, "121"),
        (1, 4, "2202"),
        (1, 5, "22202"),
        (1, 9, "222122212"),
        (1, 7, "2202212"),
        (1, 5, "21220"),
        (1, 7, "2220212"),
        (1, 6, "022221"),
    ],
    "BabyAI-GoToLocal-v0": [
        (1, 9, "120212221"),
        (1, 6, "022220"),
        (1, 2, "20"),
        (1, 7, "1222122"),
        (1, 3, "212"),
        (1, 10, "1221222022"),
        (1, 4, "1121"),
        (1, 3, "202"),
        (1, 4, "2202"),
        (1, 5, "22122"),
        (1, 5, "11221"),
        (1, 5, "11221"),
        (1, 13, "0102212222122"),
        (1, 1, "2"),
        (1, 3, "212"),
        (1, 4, "2212"),
        (1, 8, "02212220"),
        (1, 5, "12221"),
        (1, 3, "220"),
        (1, 7, "0222220"),
    ],
}


def _predictor(task: str, variant: str = "default") -> Any:
    spec = TASKS[task]
    return spec.load_predictor(resolve_weights(None, spec.shipped, task=task, variant=variant))


def _sample(name: str) -> Image.Image:
    with Image.open(SAMPLES / name) as image:
        return image.convert("RGB")


def test_every_shipped_file_is_pinned() -> None:
    pinned = {"caption": {"default"}, "vqa": {"default"}, "dialog": {"default"}, "navigation": set(NAVIGATION),
              "action": {"default"}, "frames": {"default"},  # action and frames: tests/test_video_shipped.py
              "video_caption": {"default"}}  # tests/test_video_caption_shipped.py
    assert {name: set(task.shipped) for name, task in TASKS.items()} == pinned


def test_shipped_captions() -> None:
    results = _predictor("caption").caption([_sample(name) for name, _, _ in CAPTIONS], beam_size=3)
    assert [r.caption for r in results] == [caption for _, caption, _ in CAPTIONS]
    assert [r.score for r in results] == pytest.approx([score for _, _, score in CAPTIONS], abs=SCORE_TOLERANCE)


def test_shipped_vqa_answers() -> None:
    records = [image_record(SCENES, "test", index) for index in range(SCENES.test_size)]
    generated = [(index, question["question"]) for index, record in enumerate(records) for question in record.questions]
    assert generated == [(image, question) for image, question, _, _ in VQA_ANSWERS if isinstance(image, int)]
    scenes = [render_scene(record.scene, SCENES.image_size) for record in records]
    images = [scenes[image] if isinstance(image, int) else _sample(image) for image, _, _, _ in VQA_ANSWERS]
    results = _predictor("vqa").answer(images, [question for _, question, _, _ in VQA_ANSWERS], top=1)
    assert [r.answers[0][0] for r in results] == [answer for _, _, answer, _ in VQA_ANSWERS]
    assert [r.answers[0][1] for r in results] == pytest.approx([p for _, _, _, p in VQA_ANSWERS],
                                                               abs=PROBABILITY_TOLERANCE)


def test_shipped_dialog_round() -> None:
    session = _predictor("dialog").session(_sample("shapes_test_1.png"))
    turns = [session.ask(question) for question, _, _ in DIALOG_ROUND]
    assert [t.answer for t in turns] == [answer for _, answer, _ in DIALOG_ROUND]
    assert [t.alternatives[0][1] for t in turns] == pytest.approx([p for _, _, p in DIALOG_ROUND],
                                                                  abs=PROBABILITY_TOLERANCE)


@pytest.mark.parametrize("level", sorted(NAVIGATION))
def test_shipped_navigation_seeds(level: str) -> None:
    expected = NAVIGATION[level]
    seeds = [FIRST_SEED + i for i in range(len(expected))]
    results = run_episodes(_predictor("navigation", level), level, seeds, batch_size=len(seeds))
    assert [(int(r.success), r.length, "".join(map(str, r.actions))) for r in results] == expected
