"""Shapes world VQA questions: five truthful questions per scene, yes/no balanced.

Every scene gets, in this order: a color question (``"what color is the circle?"``), a shape
question (``"what shape is the red one?"``), a count question (``"how many red shapes are
there?"``, answered with a digit as in VQA v2), then two yes/no questions with opposite answers:
an existence question (``"is there a blue square?"``) and a relation question (``"is the circle
to the left of the red square?"``), so exactly half of all yes/no answers are "yes". When a
question of a kind cannot be asked unambiguously (no object can be singled out, no clear
relation), another count or existence question with the same kind of answer takes its place.
Questions are lowercase and end with ``?``.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

from multimodal_rnn.datasets.shapes.captions import RELATION_PHRASES
from multimodal_rnn.datasets.shapes.scene import (
    COLORS,
    RELATIONS,
    SHAPES,
    SIZES,
    Scene,
    matching,
    relation_state,
    unique_reference,
)

QUESTIONS_PER_IMAGE = 5
ATTRIBUTE_VALUES: dict[str, tuple[str, ...]] = {"shape": SHAPES, "color": tuple(COLORS), "size": tuple(SIZES)}
_COUNT_KEYS = ((), ("color",), ("shape",), ("size",), ("color", "shape"))
_EXISTENCE_KEYS = (("shape",), ("color", "shape"), ("size", "shape"), ("size", "color", "shape"))
_TRIES = 50

Question = dict[str, str]
"""``{"question", "answer", "question_type", "answer_type"}``; question types are VQA-style prefixes."""


def questions_for(scene: Scene, rng: random.Random) -> list[Question]:
    """Five distinct questions with their answers (see the module docstring for the mix)."""
    questions: list[Question] = []
    first_answer_yes = rng.random() < 0.5
    makers: list[Callable[[], Question | None]] = [
        lambda: _color_question(scene, rng) or _count_question(scene, rng),
        lambda: _shape_question(scene, rng) or _count_question(scene, rng),
        lambda: _count_question(scene, rng),
        lambda: _existence_question(scene, rng, first_answer_yes),
        lambda: _relation_question(scene, rng, not first_answer_yes)
        or _existence_question(scene, rng, not first_answer_yes),
    ]
    for make in makers:
        for _ in range(_TRIES):
            question = make()
            if question is not None and all(q["question"] != question["question"] for q in questions):
                questions.append(question)
                break
    return questions


def noun_phrase(**attributes: str) -> str:
    """``"small red circle"`` from the given attributes, in size-color-shape order."""
    return " ".join(attributes[key] for key in ("size", "color", "shape") if key in attributes)


def _color_question(scene: Scene, rng: random.Random) -> Question | None:
    options = [(i, ref) for i in range(len(scene.objects)) if (ref := unique_reference(scene, i, exclude="color"))]
    if not options:
        return None
    index, reference = rng.choice(options)
    return _question(f"what color is the {reference}?", scene.objects[index].color, "what color is the", "other")


def _shape_question(scene: Scene, rng: random.Random) -> Question | None:
    options = [(i, ref) for i in range(len(scene.objects)) if (ref := unique_reference(scene, i, exclude="shape"))]
    if not options:
        return None
    index, reference = rng.choice(options)
    return _question(f"what shape is the {reference}?", scene.objects[index].shape, "what shape is the", "other")


def _count_question(scene: Scene, rng: random.Random) -> Question:
    keys = rng.choice(_COUNT_KEYS)
    if rng.random() < 0.5:
        source = rng.choice(scene.objects)
        attributes = {key: getattr(source, key) for key in keys}
    else:
        attributes = {key: rng.choice(ATTRIBUTE_VALUES[key]) for key in keys}
    words = [attributes[key] for key in ("size", "color") if key in attributes]
    words.append(attributes["shape"] + "s" if "shape" in attributes else "shapes")
    count = len(matching(scene, **attributes))
    return _question(f"how many {' '.join(words)} are there?", str(count), "how many", "number")


def _existence_question(scene: Scene, rng: random.Random, answer_yes: bool) -> Question:
    """``"is there a {phrase}?"``; a "no" asks for a near miss (one attribute changed) when possible."""
    keys = rng.choice(_EXISTENCE_KEYS)
    source = rng.choice(scene.objects)
    attributes = {key: getattr(source, key) for key in keys}
    if not answer_yes:
        absent = [
            dict(zip(keys, values))
            for values in itertools.product(*(ATTRIBUTE_VALUES[key] for key in keys))
            if not matching(scene, **dict(zip(keys, values)))
        ]
        near_misses = [a for a in absent if sum(a[key] != attributes[key] for key in keys) == 1]
        attributes = rng.choice(near_misses or absent or [_absent_object(scene, rng)])
    answer = "yes" if answer_yes else "no"
    return _question(f"is there a {noun_phrase(**attributes)}?", answer, "is there a", "yes/no")


def _absent_object(scene: Scene, rng: random.Random) -> dict[str, str]:
    """Full attributes of an object that is not in the scene (there are 36 kinds, at most 4 objects)."""
    while True:
        attributes = {key: rng.choice(values) for key, values in ATTRIBUTE_VALUES.items()}
        if not matching(scene, **attributes):
            return attributes


def _relation_question(scene: Scene, rng: random.Random, answer_yes: bool) -> Question | None:
    count = len(scene.objects)
    options = [
        (i, relation, j)
        for i in range(count)
        for j in range(count)
        if i != j
        for relation in RELATIONS
        if relation_state(scene, i, relation, j) is answer_yes
    ]
    rng.shuffle(options)
    for subject, relation, reference in options:
        first, second = unique_reference(scene, subject), unique_reference(scene, reference)
        if first and second:
            text = f"is the {first} {RELATION_PHRASES[relation]} the {second}?"
            return _question(text, "yes" if answer_yes else "no", "is the", "yes/no")
    return None


def _question(text: str, answer: str, question_type: str, answer_type: str) -> Question:
    return {"question": text, "answer": answer, "question_type": question_type, "answer_type": answer_type}
