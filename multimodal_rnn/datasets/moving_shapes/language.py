"""The caption language of the moving-shapes world: generating true captions, and parsing any caption.

A caption is one or more *clauses* joined by ``while``, ``and``, ``as`` or a sentence end
(``.``, ``;``, ``!``, ``?``; commas are ignored, case does not matter). A clause is an object
and what it does::

    clause  := ("a" | "the") COLOR SHAPE ACTION
    COLOR   := red | green | blue | yellow | purple | cyan
    SHAPE   := circle | square | triangle

and ACTION is one of the phrases of :data:`ACTION_PHRASES` (``{toward}`` is "to the left", "to
the right", "up" or "down"; ``{edge}`` is "left", "right", "top" or "bottom"; ``{color}`` and
``{from}`` are colors): for example ``"a red circle moves to the left while a blue square stays
still"`` or ``"a green triangle changes from green to cyan"``. Everything else (another word, a
clause without its action, an empty caption) does not parse.

Generated captions (:func:`captions_for`) always name the actor by its first color and its
shape, and the still object, when they mention it, by its color and shape.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass, field

from multimodal_rnn.datasets.moving_shapes.clips import Clip
from multimodal_rnn.datasets.shapes.scene import COLORS, SHAPES

ACTION_PHRASES: dict[str, tuple[str, ...]] = {
    "StaysStill": ("stays still", "does not move", "stays in place"),
    "MovesLeft": ("moves to the left", "moves left", "slides to the left"),
    "MovesRight": ("moves to the right", "moves right", "slides to the right"),
    "MovesUp": ("moves up", "moves upward", "rises"),
    "MovesDown": ("moves down", "moves downward", "sinks"),
    "BouncesHorizontally": ("bounces left and right", "bounces off the {edge} edge", "moves {toward} and bounces back"),
    "BouncesVertically": ("bounces up and down", "bounces off the {edge} edge", "moves {toward} and bounces back"),
    "Grows": ("grows", "gets bigger", "grows larger"),
    "Shrinks": ("shrinks", "gets smaller"),
    "ChangesColor": ("turns {color}", "changes color to {color}", "changes from {from} to {color}"),
    "Appears": ("appears", "comes into view"),
    "Disappears": ("disappears", "vanishes"),
}
"""Every action class and the phrases that say it; the first one is the plain description."""

CAPTIONS_PER_CLIP = 5
"""Most captions generated per clip (clips with few phrasings get fewer, at least two)."""

TOWARD = {"left": "to the left", "right": "to the right", "up": "up", "down": "down"}
"""How the bounces' first direction is said in ``{toward}``."""
EDGE = {"left": "left", "right": "right", "up": "top", "down": "bottom"}
"""The edge of the frame a bounce that first goes that way touches (``{edge}``)."""
_AXIS_DIRECTIONS = {"BouncesHorizontally": ("left", "right"), "BouncesVertically": ("up", "down")}
_JOINERS = ("while", "and", "as", ".")
_ARTICLES = ("a", "the")
_SENTENCE_END = re.compile(r"[.;!?]")


@dataclass(frozen=True)
class Statement:
    """One parsed clause: the object it names (``color``, ``shape``), the ``action`` class its
    phrase says and the phrase's details (``direction`` of a bounce, ``color`` and ``from`` of a
    color change); ``words`` is the action phrase as said."""

    color: str
    shape: str
    action: str
    words: str
    details: tuple[tuple[str, str], ...] = field(default=())

    def detail(self, key: str) -> str | None:
        """A detail of the phrase, None when it names none."""
        return dict(self.details).get(key)


def _expansions() -> dict[tuple[str, ...], tuple[str, tuple[tuple[str, str], ...]]]:
    """Every concrete action phrase (as words) -> the action and details it says (one each)."""
    table: dict[tuple[str, ...], tuple[str, tuple[tuple[str, str], ...]]] = {}
    for action, phrases in ACTION_PHRASES.items():
        for phrase in phrases:
            for text, details in _fill(action, phrase):
                assert tuple(text.split()) not in table, f"phrase {text!r} said twice"
                table[tuple(text.split())] = (action, details)
    return table


def _fill(action: str, phrase: str) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    if "{toward}" in phrase or "{edge}" in phrase:
        return [(phrase.format(toward=TOWARD[d], edge=EDGE[d]), (("direction", d),)) for d in _AXIS_DIRECTIONS[action]]
    if "{from}" in phrase:
        return [
            (phrase.format(**{"from": a, "color": b}), (("color", b), ("from", a)))
            for a, b in itertools.permutations(COLORS, 2)
        ]
    if "{color}" in phrase:
        return [(phrase.format(color=c), (("color", c),)) for c in COLORS]
    return [(phrase, ())]


_PHRASES = _expansions()
_LONGEST = max(len(words) for words in _PHRASES)


def parse_caption(caption: str) -> list[Statement] | None:
    """The clauses of ``caption`` (see the module docstring), or None when it does not parse."""
    text = _SENTENCE_END.sub(" . ", caption.lower().replace(",", " "))
    words = tuple(text.split())
    while words and words[-1] == ".":
        words = words[:-1]
    return _clauses(words, 0) if words else None


def _clauses(words: tuple[str, ...], start: int) -> list[Statement] | None:
    """Clauses from ``start`` to the end, trying longer action phrases first (backtracking on "and")."""
    if len(words) - start < 4 or words[start] not in _ARTICLES:
        return None
    color, shape = words[start + 1], words[start + 2]
    if color not in COLORS or shape not in SHAPES:
        return None
    first = start + 3
    for length in range(min(_LONGEST, len(words) - first), 0, -1):
        phrase = words[first : first + length]
        if phrase not in _PHRASES:
            continue
        end = first + length
        if end == len(words):
            rest: list[Statement] | None = []
        elif words[end] in _JOINERS:
            rest = _clauses(words, end + 1)
        else:
            continue
        if rest is not None:
            action, details = _PHRASES[phrase]
            return [Statement(color, shape, action, " ".join(phrase), details), *rest]
    return None


def action_phrases(action: str, *, color: str, final_color: str | None, direction: str | None) -> list[str]:
    """Every true phrase of ``action`` done by an object first of ``color``."""
    phrases = []
    for phrase in ACTION_PHRASES[action]:
        if "{toward}" in phrase or "{edge}" in phrase:
            assert direction is not None
            phrases.append(phrase.format(toward=TOWARD[direction], edge=EDGE[direction]))
        else:
            phrases.append(phrase.format(**{"from": color, "color": final_color}) if "{" in phrase else phrase)
    return phrases


def captions_for(clip: Clip, rng: random.Random) -> list[str]:
    """Distinct true captions of ``clip`` (at most :data:`CAPTIONS_PER_CLIP`), in a random order."""
    actor = clip.actor
    subjects = [f"{article} {actor.color} {actor.shape}" for article in _ARTICLES]
    phrases = action_phrases(
        actor.action, color=actor.color, final_color=actor.final_color, direction=actor.first_direction
    )
    actor_clauses = [f"{subject} {phrase}" for subject in subjects for phrase in phrases]
    candidates = list(actor_clauses)
    if clip.still is not None:
        still = f"a {clip.still.color} {clip.still.shape}"
        still_clauses = [f"{still} {phrase}" for phrase in ACTION_PHRASES["StaysStill"]]
        plain = [clause for clause in actor_clauses if clause.startswith("a ")]
        candidates += [f"{a} {joiner} {s}" for a in plain for s in still_clauses for joiner in ("while", "and")]
        candidates += [f"{s} while {a}" for a in plain for s in still_clauses]
    rng.shuffle(candidates)
    return candidates[:CAPTIONS_PER_CLIP]
