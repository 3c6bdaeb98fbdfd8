"""Shapes world visual dialogs: a caption and ten question-answer rounds with 100 answer options.

Questions follow VisDial's conventions (lowercase, no question mark; readers add it). Some only
make sense with the history:

- ``"it"`` is the *focus*: the object last singled out, by ``"is there a circle"`` answered
  yes with exactly one match, by ``"what color is the circle"`` / ``"what shape is the red
  one"``, by ``"what about the square"``, or by a ``"what is to the left of it"`` that names an
  object. Count questions and existence questions with zero or several matches clear it.
- ``"what color is it"``, ``"what shape is it"``, ``"what size is it"``, ``"is it large"``,
  ``"is it to the left of the blue square"``, ``"what is above it"`` ask about the focus.
- ``"what about the square"`` repeats the previous attribute question (color, shape, size or
  ``"is it small"``) for another object, which becomes the focus.

Answers come in a few phrasings per meaning (``"yes"``, ``"yes it is"``; ``"red"``, ``"it is
red"``, ``"it looks red"``); :data:`ANSWER_MEANINGS` maps every phrasing to its meaning (all
yes-answers share ``"yes"``, so ``"yes there are two"`` means the same as ``"yes it is"``).

**Options rule.** The 99 wrong options of a round are distinct strings drawn from
:data:`ANSWER_POOL`, every answer this module can give, *leaving out every answer with the
ground truth's meaning*: no wrong option is a rewording of the right one, so exactly one option
is correct and a model that understands the question can rank it first (MRR 1 is reachable).
:func:`answer_relevance` still gives 0.5 to a same-meaning option, but generated rounds never
have one, so their dense annotations are 1.0 for the ground truth and 0.0 elsewhere.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from multimodal_rnn.datasets.shapes.captions import RELATION_PHRASES, captions_for
from multimodal_rnn.datasets.shapes.questions import ATTRIBUTE_VALUES, noun_phrase
from multimodal_rnn.datasets.shapes.scene import (
    COLORS,
    NUMBER_WORDS,
    RELATIONS,
    SHAPES,
    SIZES,
    Scene,
    matching,
    relation_state,
    unique_reference,
)

if TYPE_CHECKING:
    import numpy as np

ROUNDS_PER_DIALOG = 10
OPTIONS_PER_ROUND = 100
_FOLLOW_UP_PROBABILITY = 0.7
_TRIES = 1000


def _count_answers(count: int) -> list[str]:
    if count == 0:
        return ["none", "zero", "there are none"]
    if count == 1:
        return ["one", "just one", "there is one"]
    word = NUMBER_WORDS[count]
    return [word, f"there are {word}", f"{word} of them"]


def _exists_answers(count: int) -> list[str]:
    if count == 0:
        return ["no", "no there is not"]
    if count == 1:
        return ["yes", "yes there is"]
    word = NUMBER_WORDS[count]
    return [f"yes there are {word}", f"yes {word}"]


def _property_answers(holds: bool, actual_size: str | None = None) -> list[str]:
    if holds:
        return ["yes", "yes it is"]
    return ["no", "no it is not"] + ([f"no it is {actual_size}"] if actual_size else [])


def _attribute_answers(attribute: str, value: str) -> list[str]:
    if attribute == "color":
        return [value, f"it is {value}", f"it looks {value}"]
    if attribute == "shape":
        return [value, f"a {value}", f"it is a {value}"]
    return [value, f"it is {value}"]


def _object_answers(description: str | None) -> list[str]:
    if description is None:
        return ["nothing", "there is nothing"]
    return [f"a {description}", f"there is a {description}"]


def _answer_meanings() -> dict[str, str]:
    """Every answer string this module can produce, mapped to its meaning."""
    meanings: dict[str, str] = {}
    groups: list[tuple[str, list[str]]] = []
    for count in range(len(NUMBER_WORDS)):
        groups.append((f"count {count}", _count_answers(count)))
        groups.append(("yes" if count else "no", _exists_answers(count)))
    groups += [("yes", _property_answers(True))] + [("no", _property_answers(False, size)) for size in SIZES]
    for attribute, values in ATTRIBUTE_VALUES.items():
        groups += [(f"{attribute} {value}", _attribute_answers(attribute, value)) for value in values]
    groups.append(("nothing", _object_answers(None)))
    for size in SIZES:
        for color in COLORS:
            for shape in SHAPES:
                description = noun_phrase(size=size, color=color, shape=shape)
                groups.append((f"object {description}", _object_answers(description)))
    for meaning, answers in groups:
        for answer in answers:
            assert meanings.setdefault(answer, meaning) == meaning, answer
    return meanings


ANSWER_MEANINGS: dict[str, str] = _answer_meanings()
"""Every dialog answer -> its meaning: ``"yes"``, ``"no"``, ``"count 2"``, ``"color red"``,
``"object small red circle"``, ... (a round's wrong options never share the answer's meaning)."""
ANSWER_POOL: tuple[str, ...] = tuple(sorted(ANSWER_MEANINGS))
"""Every dialog answer, sorted; wrong answer options are drawn from it (134 strings)."""


def answer_relevance(answer: str, options: Sequence[str]) -> list[float]:
    """Dense relevance of each option: 1.0 for ``answer``, 0.5 for the same meaning, else 0.0.

    Options made by :func:`dialog_for` never share the answer's meaning, so on them this is 1.0
    for the ground truth and 0.0 for the other 99.
    """
    meaning = ANSWER_MEANINGS.get(answer)
    return [1.0 if o == answer else 0.5 if ANSWER_MEANINGS.get(o) == meaning else 0.0 for o in options]


@dataclass
class _DialogState:
    """What the history makes askable: the focus object, its revealed attributes, the last question."""

    focus: int | None = None
    known: set[str] = field(default_factory=set)
    last: tuple[str, ...] | None = None  # ("color",), ("shape",), ("size",) or ("is", "small")
    asked: set[tuple[str, object]] = field(default_factory=set)

    def set_focus(self, index: int | None, known: Iterable[str] = (), last: tuple[str, ...] | None = None) -> None:
        self.focus, self.known, self.last = index, set(known), last


Turn = tuple[str, list[str], object, Callable[[], None]]
"""(question, answer phrasings, context that makes a repeated question new, state update)."""
TurnMaker = Callable[[Scene, random.Random, _DialogState], Turn | None]
"""Makes a turn for a scene, or None when it has nothing to ask."""
Round = dict[str, object]
"""``{"question": str, "answer": str, "answer_options": [100 str], "gt_index": int}``."""


def dialog_for(scene: Scene, rng: random.Random, caption: str | None = None) -> dict[str, object]:
    """A dialog about ``scene``: ``{"caption": str, "rounds": [Round] * 10}``.

    ``caption`` defaults to one of :func:`captions_for`'s captions, drawn from ``rng``.
    """
    if caption is None:
        caption = rng.choice(captions_for(scene, rng))
    state = _DialogState()
    import numpy as np  # here, not at import: `mmrnn data shapes --help` needs no numpy

    option_rng = np.random.default_rng(rng.getrandbits(64))  # fast permutations of the answer pool
    rounds: list[Round] = []
    for attempt in itertools.count():
        if len(rounds) == ROUNDS_PER_DIALOG:
            break
        if attempt == _TRIES:  # openers alone offer dozens of distinct questions: a bug if reached
            raise RuntimeError(f"dialog_for: only {len(rounds)} rounds after {_TRIES} attempts")
        follow_up = state.focus is not None and rng.random() < _FOLLOW_UP_PROBABILITY
        makers: tuple[TurnMaker, ...] = _FOLLOW_UPS if follow_up else _OPENERS
        if follow_up and state.last is not None:
            makers = makers + (_what_about,)
        turn = rng.choice(makers)(scene, rng, state)
        if turn is None:
            continue
        question, answers, context, update = turn
        if (question, context) in state.asked:
            continue
        state.asked.add((question, context))
        update()
        answer = rng.choice(answers)
        rounds.append({"question": question, "answer": answer, **_options(answer, option_rng)})
    return {"caption": caption, "rounds": rounds}


def _options(answer: str, rng: np.random.Generator) -> dict[str, object]:
    """The answer at a random position among 99 distinct pool answers of other meanings, shuffled."""
    meaning = ANSWER_MEANINGS[answer]
    drawn = (ANSWER_POOL[i] for i in rng.permutation(len(ANSWER_POOL)).tolist())
    options = [o for o in drawn if ANSWER_MEANINGS[o] != meaning][: OPTIONS_PER_ROUND - 1]
    gt_index = int(rng.integers(OPTIONS_PER_ROUND))
    options.insert(gt_index, answer)
    return {"answer_options": options, "gt_index": gt_index}


def _count_all(scene: Scene, rng: random.Random, state: _DialogState) -> Turn:
    return "how many shapes are there", _count_answers(len(scene.objects)), None, lambda: state.set_focus(None)


def _count_some(scene: Scene, rng: random.Random, state: _DialogState) -> Turn:
    key = rng.choice(("color", "shape", "size"))
    value = getattr(rng.choice(scene.objects), key) if rng.random() < 0.5 else rng.choice(ATTRIBUTE_VALUES[key])
    noun = f"{value}s" if key == "shape" else f"{value} shapes"
    answers = _count_answers(len(matching(scene, **{key: value})))
    return f"how many {noun} are there", answers, None, lambda: state.set_focus(None)


def _exists(scene: Scene, rng: random.Random, state: _DialogState) -> Turn:
    keys = rng.choice((("shape",), ("color", "shape"), ("color",)))
    attributes = {key: rng.choice(ATTRIBUTE_VALUES[key]) for key in keys}
    if rng.random() < 0.5:  # ask about something that is there as often as about anything
        source = rng.choice(scene.objects)
        attributes = {key: getattr(source, key) for key in keys}
    matches = matching(scene, **attributes)
    if keys == ("color",):
        question = f"is there anything {attributes['color']}"
    else:
        question = f"is there a {noun_phrase(**attributes)}"
    focus = matches[0] if len(matches) == 1 else None
    return question, _exists_answers(len(matches)), None, lambda: state.set_focus(focus, keys)


def _ask_attribute(scene: Scene, rng: random.Random, state: _DialogState) -> Turn | None:
    attribute = rng.choice(("color", "shape"))
    options = [(i, r) for i in range(len(scene.objects)) if (r := unique_reference(scene, i, exclude=attribute))]
    if not options:
        return None
    index, reference = rng.choice(options)
    answers = _attribute_answers(attribute, getattr(scene.objects[index], attribute))
    known = [attribute] + [key for key in ("size", "color", "shape") if key in _reference_keys(reference)]
    update = lambda: state.set_focus(index, known, (attribute,))  # noqa: E731
    return f"what {attribute} is the {reference}", answers, None, update


def _it_attribute(scene: Scene, rng: random.Random, state: _DialogState) -> Turn | None:
    unknown = [a for a in ("color", "shape", "size") if a not in state.known]
    if state.focus is None or not unknown:
        return None
    attribute, obj, focus = rng.choice(unknown), scene.objects[state.focus], state.focus
    known = state.known | {attribute}
    if attribute == "size" and rng.random() < 0.5:
        asked = rng.choice(tuple(SIZES))
        answers = _property_answers(obj.size == asked, obj.size)
        return f"is it {asked}", answers, focus, lambda: state.set_focus(focus, known, ("is", asked))
    answers = _attribute_answers(attribute, getattr(obj, attribute))
    return f"what {attribute} is it", answers, focus, lambda: state.set_focus(focus, known, (attribute,))


def _what_about(scene: Scene, rng: random.Random, state: _DialogState) -> Turn | None:
    if state.last is None:
        return None
    attribute = "size" if state.last[0] == "is" else state.last[0]
    options = [
        (i, r)
        for i in range(len(scene.objects))
        if i != state.focus and (r := unique_reference(scene, i, exclude=attribute))
    ]
    if not options:
        return None
    index, reference = rng.choice(options)
    obj, last = scene.objects[index], state.last
    if last[0] == "is":
        answers = _property_answers(obj.size == last[1], obj.size)
    else:
        answers = _attribute_answers(attribute, getattr(obj, attribute))
    known = [attribute] + [key for key in ("size", "color", "shape") if key in _reference_keys(reference)]
    return f"what about the {reference}", answers, last, lambda: state.set_focus(index, known, last)


def _it_relation(scene: Scene, rng: random.Random, state: _DialogState) -> Turn | None:
    if state.focus is None:
        return None
    focus, relation = state.focus, rng.choice(RELATIONS)
    others = [
        j for j in range(len(scene.objects)) if j != focus and relation_state(scene, focus, relation, j) is not None
    ]
    if not others:
        return None
    other = rng.choice(others)
    reference = unique_reference(scene, other)
    if reference is None:
        return None
    answers = _property_answers(bool(relation_state(scene, focus, relation, other)))
    known = state.known
    return f"is it {RELATION_PHRASES[relation]} the {reference}", answers, focus, lambda: state.set_focus(focus, known)


def _what_is_there(scene: Scene, rng: random.Random, state: _DialogState) -> Turn | None:
    if state.focus is None:
        return None
    focus, relation = state.focus, rng.choice(RELATIONS)
    states = [relation_state(scene, j, relation, focus) for j in range(len(scene.objects)) if j != focus]
    holding = [j for j in range(len(scene.objects)) if j != focus and relation_state(scene, j, relation, focus)]
    if None in states or len(holding) > 1:
        return None
    question = f"what is {RELATION_PHRASES[relation]} it"
    if not holding:
        known = state.known
        return question, _object_answers(None), focus, lambda: state.set_focus(focus, known)
    index = holding[0]
    answers = _object_answers(scene.objects[index].description())
    return question, answers, focus, lambda: state.set_focus(index, ("size", "color", "shape"))


def _reference_keys(reference: str) -> set[str]:
    words = set(reference.split())
    return {key for key, values in ATTRIBUTE_VALUES.items() if words & set(values)}


_OPENERS = (_count_all, _count_some, _exists, _exists, _ask_attribute, _ask_attribute)
_FOLLOW_UPS = (_it_attribute, _it_attribute, _it_relation, _what_is_there)
