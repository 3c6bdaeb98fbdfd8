"""Shapes world captions: five varied, truthful, templated sentences per scene.

Five template families, each a few regular phrasings over a vocabulary of about 40 words, so a
small recurrent captioner can learn them:

- listing: every object left to right, ``"a small red circle and a large blue square"``, maybe
  with ``"a picture with ..."`` or ``"... on a gray background"``;
- total count: ``"there are three shapes"``, ``"a picture with one shape"``;
- attribute count (exact): ``"there are two red shapes"``, ``"there is one circle"``,
  ``"there are two red circles"``, ``"there is one small shape"``;
- relation (clearly true, see :func:`relation_state`): ``"a red circle to the left of a large
  blue square"``, ``"there is a ... above a ..."``;
- attribute of a uniquely described object: ``"the circle is red"``, ``"the red one is a
  square"``, ``"the blue square is large"``.

Captions are lowercase, without punctuation.
"""

from __future__ import annotations

import random

from multimodal_rnn.datasets.shapes.scene import (
    NUMBER_WORDS,
    Scene,
    clear_relations,
    matching,
    unique_reference,
)

CAPTIONS_PER_IMAGE = 5
RELATION_PHRASES: dict[str, str] = {
    "left of": "to the left of",
    "right of": "to the right of",
    "above": "above",
    "below": "below",
}
_COUNT_KEYS = (("color",), ("shape",), ("size",), ("color", "shape"))


def captions_for(scene: Scene, rng: random.Random) -> list[str]:
    """Five distinct captions of ``scene``, one family after another (listing first)."""
    families = [
        _listing_captions(scene),
        _total_count_captions(scene),
        _attribute_count_captions(scene),
        _relation_captions(scene, rng),
        _attribute_captions(scene),
    ]
    for candidates in families:
        rng.shuffle(candidates)
    captions: list[str] = []
    while len(captions) < CAPTIONS_PER_IMAGE and any(families):
        for candidates in families:
            while candidates and candidates[-1] in captions:
                candidates.pop()
            if candidates and len(captions) < CAPTIONS_PER_IMAGE:
                captions.append(candidates.pop())
    return captions


def plural_phrase(count: int, **attributes: str) -> str:
    """``"two red shapes"``, ``"one circle"``, ``"three small shapes"``, ``"two red circles"``."""
    words = [NUMBER_WORDS[count]]
    words += [attributes[key] for key in ("size", "color") if key in attributes]
    noun = attributes.get("shape", "shape")
    words.append(noun if count == 1 else noun + "s")
    return " ".join(words)


def _listing_captions(scene: Scene) -> list[str]:
    listing = " and ".join(f"a {o.description()}" for o in scene.objects)
    return [listing, f"a picture with {listing}", f"{listing} on a gray background"]


def _total_count_captions(scene: Scene) -> list[str]:
    count = len(scene.objects)
    phrase = plural_phrase(count)
    there = "there is" if count == 1 else "there are"
    return [f"{there} {phrase}", f"a picture with {phrase}", f"{phrase} on a gray background"]


def _attribute_count_captions(scene: Scene) -> list[str]:
    captions = []
    for keys in _COUNT_KEYS:
        seen = {tuple(getattr(o, key) for key in keys) for o in scene.objects}
        for combination in sorted(seen):
            attributes = dict(zip(keys, combination))
            count = len(matching(scene, **attributes))
            there = "there is" if count == 1 else "there are"
            captions.append(f"{there} {plural_phrase(count, **attributes)}")
    return captions


def _relation_captions(scene: Scene, rng: random.Random) -> list[str]:
    captions = []
    for subject, relation, reference in clear_relations(scene):
        first = _indefinite(scene, subject, rng)
        second = _indefinite(scene, reference, rng)
        sentence = f"{first} {RELATION_PHRASES[relation]} {second}"
        captions.append(sentence if rng.random() < 0.5 else f"there is {sentence}")
    return captions


def _indefinite(scene: Scene, index: int, rng: random.Random) -> str:
    """``"a red circle"`` or ``"a small red circle"`` (always with the color and the shape)."""
    obj = scene.objects[index]
    return f"a {obj.description()}" if rng.random() < 0.5 else f"a {obj.color} {obj.shape}"


def _attribute_captions(scene: Scene) -> list[str]:
    captions = []
    for index, obj in enumerate(scene.objects):
        for attribute in ("color", "size", "shape"):
            reference = unique_reference(scene, index, exclude=attribute)
            if reference is None:
                continue
            value = f"a {obj.shape}" if attribute == "shape" else getattr(obj, attribute)
            captions.append(f"the {reference} is {value}")
    return captions
