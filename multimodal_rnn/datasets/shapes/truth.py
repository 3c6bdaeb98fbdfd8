"""Faithfulness of shapes-world captions: does everything a caption says hold in its scene graph?

A caption is parsed into claims (:func:`caption_claims`) and every claim is checked against the
scene graph of its image (an entry of ``scenes_{split}.json``: ``objects`` with ``id``,
``shape``, ``color``, ``size``, and the clearly true ``relations``). A caption is faithful when
it parses and all its claims hold; the score of a set of captions is the share of faithful ones.

The language is that of :mod:`multimodal_rnn.datasets.shapes.captions` and its grammatical
variants; clauses may be joined by "and", sentences by ``.``/``;``/``!``/``?`` (commas are
ignored). Claims and what makes them true:

- objects: ``"a small red circle and a large blue square"`` (optionally after ``"there is"`` or
  ``"a picture with"``): distinct objects with those attributes exist. A listing need not be
  complete: leaving an object out says nothing false.
- count: ``"there are two red shapes"``, ``"one circle"``, ``"no squares"``: exactly that many
  objects have those attributes.
- relation: ``"a red circle to the left of a blue square"``, ``"the circle is above the
  square"``: some pair of distinct matching objects is in that relation by the generator's rule
  (the centers are offset by more than the relation margin; the scene graph stores exactly
  those pairs, see :func:`multimodal_rnn.datasets.shapes.scene.relation_state`).
- attribute: ``"the circle is red"``, ``"the red one is a square"``, ``"the circle is small and
  red"``: the object has those attributes.

Every ``"the ..."`` phrase must single out exactly one object. Any suffix ``"on a gray
background"`` is accepted (the background is always gray). Words outside the language, a
broken phrase, or an empty caption make a caption unparsed, which counts as unfaithful.
Singular/plural agreement ("there is two circles") is not checked.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping

from multimodal_rnn.datasets.shapes.scene import COLORS, NUMBER_WORDS, SHAPES, SIZES
from multimodal_rnn.errors import DataFormatError, InputError
from multimodal_rnn.files import read_json, require_keys
from multimodal_rnn.metrics.corpus import ImageId, first_ids

UNPARSED = "unparsed"
"""The reason of a caption that does not parse."""
FAILURE_KINDS = (UNPARSED, "reference", "object", "count", "relation", "attribute")
"""First word of every failure reason: unparsed, an ambiguous or absent ``"the ..."``, then the claim kind."""

_NUMBERS = {word: value for value, word in enumerate(NUMBER_WORDS)} | {"no": 0} | {str(n): n for n in range(10)}
_GENERIC_NOUNS = ("shape", "object")
_RELATION_PHRASES: dict[tuple[str, ...], str] = {
    ("to", "the", "left", "of"): "left of",
    ("on", "the", "left", "of"): "left of",
    ("left", "of"): "left of",
    ("to", "the", "right", "of"): "right of",
    ("on", "the", "right", "of"): "right of",
    ("right", "of"): "right of",
    ("above",): "above",
    ("below",): "below",
}
_RELATION_WORDS = {"left of": "to the left of", "right of": "to the right of", "above": "above", "below": "below"}
_LEAD_INS = (("there", "is"), ("there", "are"), ("a", "picture", "with"), ("a", "picture", "of"),
             ("an", "image", "with"), ("an", "image", "of"))
_BACKGROUNDS = (("on", "a", "gray", "background"), ("on", "a", "grey", "background"))
_SENTENCE_END = re.compile(r"[.;!?]")
_IGNORED = re.compile(r",")


@dataclass(frozen=True)
class Description:
    """The attributes a phrase names; None where it names none (``"red shapes"``: color only)."""

    shape: str | None = None
    color: str | None = None
    size: str | None = None

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether a scene-graph object has every attribute this description names."""
        return all(value is None or obj[key] == value for key, value in self._named())

    def phrase(self, *, plural: bool = False) -> str:
        """``"small red circle"``, ``"red shapes"`` (generic noun when no shape is named)."""
        noun = (self.shape or "shape") + ("s" if plural else "")
        return " ".join([word for word in (self.size, self.color) if word] + [noun])

    def _named(self) -> list[tuple[str, str | None]]:
        return [("shape", self.shape), ("color", self.color), ("size", self.size)]


@dataclass(frozen=True)
class Mention:
    """A phrase naming one object: ``"a red circle"`` or, when ``definite``, ``"the red circle"``."""

    description: Description
    definite: bool

    def __str__(self) -> str:
        return ("the " if self.definite else "a ") + self.description.phrase()


@dataclass(frozen=True)
class ObjectsClaim:
    """``"a small red circle and a large blue square"``: one distinct object per mention exists."""

    mentions: tuple[Mention, ...]


@dataclass(frozen=True)
class CountClaim:
    """``"there are two red shapes"``: exactly ``count`` objects match ``description``."""

    description: Description
    count: int


@dataclass(frozen=True)
class RelationClaim:
    """``"a red circle to the left of a square"``: ``relation`` is one of "left of", "right of", "above", "below"."""

    subject: Mention
    relation: str
    reference: Mention


@dataclass(frozen=True)
class AttributeClaim:
    """``"the circle is red"``: the object ``subject`` names has every attribute in ``attributes``."""

    subject: Mention
    attributes: Description


Claim = ObjectsClaim | CountClaim | RelationClaim | AttributeClaim


@dataclass(frozen=True)
class Verdict:
    """Whether one caption is faithful; ``reason`` is None when it is, else ``"<kind>: <detail>"`` or ``"unparsed"``."""

    faithful: bool
    reason: str | None = None


@dataclass(frozen=True)
class FaithfulnessResult:
    """Share of faithful captions (``score`` in [0, 1]) and the verdict of every image."""

    score: float
    verdicts: dict[ImageId, Verdict]

    @property
    def failures(self) -> dict[ImageId, str]:
        """The reason of every unfaithful caption, by image id."""
        return {image_id: v.reason for image_id, v in self.verdicts.items() if v.reason is not None}

    def failure_counts(self) -> dict[str, int]:
        """Unfaithful captions per kind of failure (the kinds of :data:`FAILURE_KINDS` that occur)."""
        counts = Counter(reason.split(":")[0] for reason in self.failures.values())
        return {kind: counts[kind] for kind in FAILURE_KINDS if counts[kind]}


# ----------------------------------------------------------------------------- parsing


def caption_claims(caption: str) -> list[Claim] | None:
    """The claims of a shapes-world caption, or None when it does not parse (see the module docstring)."""
    claims: list[Claim] = []
    sentences = [s.split() for s in _SENTENCE_END.split(_IGNORED.sub(" ", caption.lower()))]
    for words in sentences:
        if not words:
            continue
        parsed = _sentence(tuple(words))
        if parsed is None:
            return None
        claims.extend(parsed)
    return claims or None


def _sentence(words: tuple[str, ...]) -> list[Claim] | None:
    """Claims of one or more clauses joined by "and" (the whole span as one clause is tried first)."""
    parsed_from: dict[int, list[Claim] | None] = {}

    def parse_from(start: int) -> list[Claim] | None:  # memoised: O(len^2) clause parses at most
        if start not in parsed_from:
            parsed_from[start] = _clause(words[start:]) or split_at_and(start)
        return parsed_from[start]

    def split_at_and(start: int) -> list[Claim] | None:
        for cut in range(start + 1, len(words) - 1):
            if words[cut] == "and" and (left := _clause(words[start:cut])) is not None:
                if (rest := parse_from(cut + 1)) is not None:
                    return left + rest
        return None

    return parse_from(0)


def _clause(words: tuple[str, ...]) -> list[Claim] | None:
    for background in _BACKGROUNDS:
        if words[-len(background):] == background:
            words = words[: -len(background)]
    for lead_in in _LEAD_INS:
        if words[: len(lead_in)] == lead_in:
            body = words[len(lead_in):]
            claim = _count(body) or _relation(body) or _objects(body)
            return None if claim is None else [claim]
    claim = _count(words) or _relation(words) or _attribute(words) or _objects(words)
    return None if claim is None else [claim]


def _count(words: tuple[str, ...]) -> CountClaim | None:
    """``"two red shapes"``, ``"one circle"``, ``"no squares"``."""
    if len(words) < 2 or words[0] not in _NUMBERS:
        return None
    description = _noun_group(words[1:], plural=True)
    return None if description is None else CountClaim(description, _NUMBERS[words[0]])


def _relation(words: tuple[str, ...]) -> RelationClaim | None:
    """``"a red circle to the left of a square"``, ``"the circle is above the square"``."""
    for start in range(1, len(words)):
        for phrase, relation in _RELATION_PHRASES.items():
            if words[start : start + len(phrase)] != phrase:
                continue
            left = words[:start]
            if left[-1] in ("is", "are"):
                left = left[:-1]
            subject, reference = _mention(left), _mention(words[start + len(phrase):])
            if subject is not None and reference is not None:
                return RelationClaim(subject, relation, reference)
    return None


def _attribute(words: tuple[str, ...]) -> AttributeClaim | None:
    """``"the circle is red"``, ``"the red one is a square"``, ``"the circle is small and red"``."""
    for cut in range(1, len(words) - 1):
        if words[cut] != "is":
            continue
        subject, attributes = _mention(words[:cut]), _predicate(words[cut + 1:])
        if subject is not None and attributes is not None:
            return AttributeClaim(subject, attributes)
    return None


def _objects(words: tuple[str, ...]) -> ObjectsClaim | None:
    """``"a small red circle and a large blue square"``."""
    mentions = []
    for part in " ".join(words).split(" and "):
        mention = _mention(tuple(part.split()))
        if mention is None:
            return None
        mentions.append(mention)
    return ObjectsClaim(tuple(mentions))


def _mention(words: tuple[str, ...]) -> Mention | None:
    """``"a small red circle"``, ``"the red one"``, ``"an object"``."""
    if len(words) < 2 or words[0] not in ("a", "an", "the"):
        return None
    description = _noun_group(words[1:], plural=False)
    return None if description is None else Mention(description, definite=words[0] == "the")


def _noun_group(words: tuple[str, ...], *, plural: bool) -> Description | None:
    """Size and color words in any order, then a noun: a shape, "shape", "object" or (after an attribute) "one"."""
    attributes = _modifiers(words[:-1])
    if attributes is None:
        return None
    noun = words[-1]
    singular = noun[:-1] if plural and noun.endswith("s") else noun
    if singular in SHAPES:
        return Description(shape=singular, **attributes)
    if singular in _GENERIC_NOUNS or (noun == "one" and attributes):
        return Description(**attributes)
    return None


def _modifiers(words: tuple[str, ...]) -> dict[str, str] | None:
    """``{"size": ..., "color": ...}`` of size and color words, each attribute said at most once."""
    attributes: dict[str, str] = {}
    for word in words:
        key = "color" if word in COLORS else "size" if word in SIZES else None
        if key is None or key in attributes:
            return None
        attributes[key] = word
    return attributes


def _predicate(words: tuple[str, ...]) -> Description | None:
    """``"red"``, ``"a square"``, ``"a large square"``, ``"small and red"``: at least one attribute."""
    if words and words[0] in ("a", "an"):
        description = _noun_group(words[1:], plural=False) if len(words) > 1 else None
    else:
        if not words or "and" in (words[0], words[-1]):
            return None
        plain = tuple(word for word in words if word != "and")
        shapes = [word for word in plain if word in SHAPES]
        attributes = _modifiers(tuple(word for word in plain if word not in SHAPES))
        if attributes is None or len(shapes) > 1:
            return None
        description = Description(shape=shapes[0] if shapes else None, **attributes)
    return description if description is not None and description != Description() else None


# ----------------------------------------------------------------------------- checking


def check_caption(caption: str, scene: Mapping[str, Any], *, where: str = "scene graph") -> Verdict:
    """The verdict on one caption against one scene-graph entry (``objects`` and ``relations``).

    Raises:
        DataFormatError: the scene entry lacks ``objects``/``relations`` or their keys (``where`` names it).
    """
    view = _SceneView(scene, where)
    claims = caption_claims(caption)
    if claims is None:
        return Verdict(False, UNPARSED)
    for claim in claims:
        reason = view.refute(claim)
        if reason is not None:
            return Verdict(False, reason)
    return Verdict(True)


def is_faithful(caption: str, scene: Mapping[str, Any]) -> bool:
    """Whether ``caption`` parses and every one of its claims holds in ``scene`` (a scene-graph entry)."""
    return check_caption(caption, scene).faithful


def faithfulness(captions: Mapping[ImageId, str], scenes: Mapping[ImageId, Mapping[str, Any]]) -> FaithfulnessResult:
    """Score one caption per image against the scene graphs (see :func:`read_scene_graphs`).

    Raises:
        InputError: no captions, a caption that is not a string, or an image id without a scene.
        DataFormatError: a malformed scene entry.
    """
    if not captions:
        raise InputError("no captions to score: the caption set is empty")
    missing = [image_id for image_id in captions if image_id not in scenes]
    if missing:
        raise InputError(f"captions for image ids without a scene graph: {first_ids(missing)}")
    verdicts = {}
    for image_id, caption in captions.items():
        if not isinstance(caption, str):
            raise InputError(f"image {image_id!r}: caption is {type(caption).__name__}, not a string")
        verdicts[image_id] = check_caption(caption, scenes[image_id], where=f"scene of image {image_id!r}")
    faithful = sum(v.faithful for v in verdicts.values())
    return FaithfulnessResult(faithful / len(verdicts), verdicts)


def read_scene_graphs(path: str | os.PathLike[str]) -> dict[int, dict[str, Any]]:
    """Read ``scenes_{split}.json`` (written by the shapes-world generator) into ``{image_id: entry}``.

    Raises:
        InputError: the file is missing or unreadable.
        DataFormatError: not a scene-graph file, or a repeated image id.
    """
    data = require_keys(read_json(path), ("images",), where=str(path))
    if not isinstance(data["images"], list):
        raise DataFormatError(f"{path}: 'images' must be a list")
    scenes: dict[int, dict[str, Any]] = {}
    for index, image in enumerate(data["images"]):
        where = f"{path}: images[{index}]"
        require_keys(image, ("id", "objects", "relations"), where=where)
        if image["id"] in scenes:
            raise DataFormatError(f"{where}: image id {image['id']!r} repeated")
        _SceneView(image, where)
        scenes[image["id"]] = image
    return scenes


class _SceneView:
    """A scene-graph entry indexed for checking: objects by position, relations as index triples."""

    def __init__(self, scene: Mapping[str, Any], where: str) -> None:
        require_keys(scene, ("objects", "relations"), where=where)
        position = {}
        for index, obj in enumerate(scene["objects"]):
            require_keys(obj, ("id", "shape", "color", "size"), where=f"{where}: objects[{index}]")
            position[obj["id"]] = index
        self.objects: list[Mapping[str, Any]] = list(scene["objects"])
        self.relations: set[tuple[int, str, int]] = set()
        for index, rel in enumerate(scene["relations"]):
            require_keys(rel, ("subject", "relation", "object"), where=f"{where}: relations[{index}]")
            if rel["subject"] not in position or rel["object"] not in position:
                raise DataFormatError(f"{where}: relations[{index}] names an object id that does not exist")
            self.relations.add((position[rel["subject"]], rel["relation"], position[rel["object"]]))

    def matching(self, description: Description) -> list[int]:
        return [i for i, obj in enumerate(self.objects) if description.matches(obj)]

    def refute(self, claim: Claim) -> str | None:
        """Why ``claim`` is false in this scene, or None when it holds."""
        mentions = _mentions_of(claim)
        for mention in mentions:
            if mention.definite and len(found := self.matching(mention.description)) != 1:
                return f"reference: '{mention}' matches {len(found)} objects"
        candidates = [self.matching(m.description) for m in mentions]
        if isinstance(claim, ObjectsClaim):
            for mention, found in zip(mentions, candidates):
                if not found:
                    return f"object: no {mention.description.phrase()}"
            if not _distinct_choice(candidates):
                return f"object: fewer distinct objects than '{' and '.join(map(str, mentions))}'"
        elif isinstance(claim, CountClaim):
            actual = len(self.matching(claim.description))
            if actual != claim.count:
                noun = claim.description.phrase(plural=True)
                return f"count: said {claim.count} {noun}, the scene has {actual}"
        elif isinstance(claim, RelationClaim):
            subjects, references = candidates
            if not any((a, claim.relation, b) in self.relations for a in subjects for b in references if a != b):
                return f"relation: not clearly {claim.subject} {_RELATION_WORDS[claim.relation]} {claim.reference}"
        elif not any(claim.attributes.matches(self.objects[i]) for i in candidates[0]):
            said = claim.attributes
            value = f"a {said.phrase()}" if said.shape else said.phrase().removesuffix(" shape")
            return f"attribute: {claim.subject} is not {value}"
        return None


def _mentions_of(claim: Claim) -> tuple[Mention, ...]:
    if isinstance(claim, ObjectsClaim):
        return claim.mentions
    if isinstance(claim, RelationClaim):
        return (claim.subject, claim.reference)
    if isinstance(claim, AttributeClaim):
        return (claim.subject,)
    return ()


def _distinct_choice(candidates: list[list[int]]) -> bool:
    """Whether each list can give a different object (a bipartite matching covering every list)."""
    owner: dict[int, int] = {}  # object index -> list index that holds it

    def place(mention: int, seen: set[int]) -> bool:  # Kuhn's augmenting path
        for obj in candidates[mention]:
            if obj not in seen:
                seen.add(obj)
                if obj not in owner or place(owner[obj], seen):
                    owner[obj] = mention
                    return True
        return False

    return all(place(mention, set()) for mention in range(len(candidates)))
