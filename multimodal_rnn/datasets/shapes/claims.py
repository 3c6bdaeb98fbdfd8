"""What a shapes-world caption claims: the caption grammar, parsed into claims.

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
broken phrase, or an empty caption make a caption unparsed (:func:`caption_claims` gives None).
Singular/plural agreement ("there is two circles") is not checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from multimodal_rnn.datasets.shapes.scene import COLORS, NUMBER_WORDS, SHAPES, SIZES

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
RELATION_WORDS = {"left of": "to the left of", "right of": "to the right of", "above": "above", "below": "below"}
"""How each relation of :class:`RelationClaim` is said in full."""
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
            claim: Claim | None = _count(body) or _relation(body) or _objects(body)
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
