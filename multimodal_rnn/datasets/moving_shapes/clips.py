"""Moving-shapes clips: the configuration, the action classes and every clip's frame-by-frame states.

A clip shows one *actor* (a circle, square or triangle in one of the image world's six colors)
doing one action, and, in about half the clips, a second *still* object of another color that
never moves. Coordinates are fractions of the frame side (x grows to the right, y downwards), so
a clip renders at any size; objects never overlap and never leave the frame.

The action classes (:data:`ACTION_CLASSES`, the clip labels, alphabetical as in UCF-101's
``classInd.txt``) and what the actor does in them:

- ``StaysStill``: nothing, the whole clip;
- ``MovesLeft`` / ``MovesRight`` / ``MovesUp`` / ``MovesDown``: still, then moves in a straight
  line at constant speed, then still again;
- ``BouncesHorizontally`` / ``BouncesVertically``: moves towards a side of the frame, touches it
  and comes back the way it came (first direction at random);
- ``Grows`` / ``Shrinks``: still, then its size changes steadily, then still again;
- ``ChangesColor``: still, then its color blends into another one over four frames;
- ``Appears`` / ``Disappears``: absent then present (or present then absent), without moving.

Each clip is a pure function of its ``random.Random``; see :func:`make_clip`. The per-frame
labels (:data:`FRAME_LABELS`) follow from the states by one rule, :func:`frame_labels`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from multimodal_rnn.datasets.shapes.scene import COLORS, SHAPES
from multimodal_rnn.errors import ConfigError

ACTION_CLASSES: tuple[str, ...] = (
    "Appears",
    "BouncesHorizontally",
    "BouncesVertically",
    "ChangesColor",
    "Disappears",
    "Grows",
    "MovesDown",
    "MovesLeft",
    "MovesRight",
    "MovesUp",
    "Shrinks",
    "StaysStill",
)
"""The clip labels, alphabetical (their 1-based position is the UCF-101 class index)."""

TIME_REVERSED: dict[str, str] = {
    "Appears": "Disappears",
    "Disappears": "Appears",
    "Grows": "Shrinks",
    "Shrinks": "Grows",
    "MovesLeft": "MovesRight",
    "MovesRight": "MovesLeft",
    "MovesUp": "MovesDown",
    "MovesDown": "MovesUp",
}
"""Each class whose clips, played backwards, are drawn exactly like the clips of another class."""

MOTION_CLASSES: tuple[str, ...] = tuple(c for c in ACTION_CLASSES if c in TIME_REVERSED)
"""Classes that neither one frame nor the frames in any order can tell apart: every one has a
time-reversed twin (:data:`TIME_REVERSED`) whose clips show the same frames with the same
probabilities, only in the opposite order. Only the order of the frames separates them."""

FRAME_LABELS: tuple[str, ...] = (
    "absent",
    "still",
    "moving left",
    "moving right",
    "moving up",
    "moving down",
    "growing",
    "shrinking",
    "changing color",
)
"""What the actor does at a frame (see :func:`frame_labels`)."""

MIN_FRAMES, MAX_FRAMES = 8, 64
"""Fewest and most frames per clip."""
MIN_FRAME_SIZE, MAX_FRAME_SIZE = 32, 256
"""Smallest and largest side of the square frames, pixels (even: H.264 needs even sides)."""
MAX_FPS = 60

_EXTENT = {"circle": 1.0, "square": 0.88 * math.sqrt(2.0), "triangle": 1.35}  # as in the image world
_BORDER = 0.03  # free margin between an object and the frame edge (fraction of the side)
_GAP = 0.04  # free margin between the two objects' circumscribed circles
_SPEED = (0.035, 0.05)  # fraction of the side per frame (1.1-1.6 pixels at 32x32)
_GROWTH = (0.014, 0.02)  # radius change per frame (0.45-0.64 pixels at 32x32)
_RADIUS = (0.07, 0.12)  # actor radius of the classes that keep their size
_GROWTH_RADIUS = (0.06, 0.2)  # radius range of Grows / Shrinks
_STILL_RADIUS = (0.07, 0.11)
_MAX_PATH = 0.5  # longest straight path, fraction of the side
_BLEND_FRAMES = 4  # frames a color change takes (three blends, then the new color)
_PLACEMENT_TRIES = 200


@dataclass(frozen=True)
class MovingShapesConfig:
    """Configuration of a generated moving-shapes world.

    Attributes:
        seed: master seed; the same seed gives the same clips and byte-identical JSON files.
        train_size, val_size, test_size: clips per split (classes take turns, so every split is
            balanced to within one clip per class).
        num_frames: frames per clip, ``MIN_FRAMES``..``MAX_FRAMES``.
        frame_size: side of the square frames in pixels, even, ``MIN_FRAME_SIZE``..``MAX_FRAME_SIZE``.
        fps: frame rate written into the video files, 1..``MAX_FPS`` frames per second.
        still_object_probability: chance that a clip has a second, still object.
    """

    seed: int = 0
    train_size: int = 3000
    val_size: int = 300
    test_size: int = 600
    num_frames: int = 16
    frame_size: int = 64
    fps: int = 8
    still_object_probability: float = 0.5

    def __post_init__(self) -> None:
        for name in ("train_size", "val_size", "test_size"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.train_size + self.val_size + self.test_size == 0:
            raise ConfigError("train_size, val_size and test_size are all 0: nothing to generate")
        if not MIN_FRAMES <= self.num_frames <= MAX_FRAMES:
            raise ConfigError(f"num_frames must be in {MIN_FRAMES}..{MAX_FRAMES}, got {self.num_frames}")
        if not MIN_FRAME_SIZE <= self.frame_size <= MAX_FRAME_SIZE or self.frame_size % 2:
            raise ConfigError(
                f"frame_size must be an even number of pixels in {MIN_FRAME_SIZE}..{MAX_FRAME_SIZE}, "
                f"got {self.frame_size}"
            )
        if not 1 <= self.fps <= MAX_FPS:
            raise ConfigError(f"fps must be in 1..{MAX_FPS}, got {self.fps}")
        if not 0.0 <= self.still_object_probability <= 1.0:
            raise ConfigError(f"still_object_probability must be in 0..1, got {self.still_object_probability}")


@dataclass(frozen=True)
class FrameState:
    """The actor at one frame: center ``x``, ``y`` and nominal ``radius`` (fractions of the side),
    fill ``color`` (RGB, blended during a color change) and whether it is ``visible``."""

    x: float
    y: float
    radius: float
    color: tuple[float, float, float]
    visible: bool = True


@dataclass(frozen=True)
class Actor:
    """The object that acts: its shape, first ``color`` and, for ``ChangesColor``, ``final_color``;
    ``first_direction`` ("left"/"right"/"up"/"down") for the bounces; one state per frame."""

    shape: str
    color: str
    action: str
    states: tuple[FrameState, ...]
    final_color: str | None = None
    first_direction: str | None = None


@dataclass(frozen=True)
class StillObject:
    """The second object, which stays still the whole clip (fractions of the side)."""

    shape: str
    color: str
    x: float
    y: float
    radius: float


@dataclass(frozen=True)
class Clip:
    """One clip: the actor, the optional still object, the background color and noise seed."""

    actor: Actor
    still: StillObject | None
    background: tuple[int, int, int]
    noise_seed: int


def extent(shape: str, radius: float) -> float:
    """Radius of the circumscribed circle of ``shape`` drawn with nominal ``radius``."""
    return radius * _EXTENT[shape]


def make_clip(rng: random.Random, action: str, config: MovingShapesConfig) -> Clip:
    """Draw a clip of class ``action`` (one of :data:`ACTION_CLASSES`) with ``config.num_frames`` frames."""
    if action not in ACTION_CLASSES:
        raise ConfigError(f"unknown action class {action!r}; one of {', '.join(ACTION_CLASSES)}")
    actor = _actor(rng, action, config.num_frames)
    still = _still_object(rng, actor) if rng.random() < config.still_object_probability else None
    level = rng.randint(212, 236)
    background = tuple(min(255, level + rng.randint(-6, 6)) for _ in range(3))
    return Clip(actor, still, background, rng.getrandbits(32))  # type: ignore[arg-type]


def frame_labels(states: tuple[FrameState, ...]) -> tuple[str, ...]:
    """One label of :data:`FRAME_LABELS` per frame: ``"absent"`` where the actor is not visible,
    else what changed since the previous frame (position: ``"moving ..."``, size: ``"growing"`` /
    ``"shrinking"``, color: ``"changing color"``, nothing: ``"still"``). A frame without a visible
    previous frame (the first frame, the frame it appears in) takes what changes until the next."""
    labels = []
    for t, state in enumerate(states):
        if not state.visible:
            labels.append("absent")
        elif t > 0 and states[t - 1].visible:
            labels.append(_change(states[t - 1], state))
        elif t + 1 < len(states) and states[t + 1].visible:
            labels.append(_change(state, states[t + 1]))
        else:
            labels.append("still")
    return tuple(labels)


def _change(before: FrameState, after: FrameState) -> str:
    if after.x != before.x:
        return "moving right" if after.x > before.x else "moving left"
    if after.y != before.y:
        return "moving down" if after.y > before.y else "moving up"
    if after.radius != before.radius:
        return "growing" if after.radius > before.radius else "shrinking"
    return "changing color" if after.color != before.color else "still"


def _actor(rng: random.Random, action: str, frames: int) -> Actor:
    shape, color = rng.choice(SHAPES), rng.choice(list(COLORS))
    rgb = tuple(float(c) for c in COLORS[color])
    if action in ("Grows", "Shrinks"):
        return _resize(rng, action, shape, color, rgb, frames)
    radius = rng.uniform(*_RADIUS)
    low, high = _BORDER + extent(shape, radius), 1.0 - _BORDER - extent(shape, radius)
    x, y = rng.uniform(low, high), rng.uniform(low, high)
    if action.startswith("Moves"):
        direction = action.removeprefix("Moves").lower()
        speed = rng.uniform(*_SPEED)
        steps = _active_steps(rng, frames, min(_MAX_PATH, high - low) / speed)
        sign = 1.0 if direction in ("right", "down") else -1.0
        distance = speed * steps[-1]
        start = rng.uniform(low, high - distance) if sign > 0 else rng.uniform(low + distance, high)
        path = [start + sign * speed * k for k in steps]
        states = [
            _state(p, y, radius, rgb) if direction in ("left", "right") else _state(x, p, radius, rgb) for p in path
        ]
        return Actor(shape, color, action, tuple(states))
    if action.startswith("Bounces"):
        return _bounce(rng, action, shape, color, rgb, radius, (low, high), (x, y), frames)
    if action == "ChangesColor":
        final = rng.choice([c for c in COLORS if c != color])
        start = rng.randint(2, frames - _BLEND_FRAMES - 2)
        target = COLORS[final]
        states = []
        for t in range(frames):
            k = min(max(t - start + 1, 0), _BLEND_FRAMES) / _BLEND_FRAMES
            states.append(_state(x, y, radius, tuple(a + (b - a) * k for a, b in zip(rgb, target))))
        return Actor(shape, color, action, tuple(states), final_color=final)
    cut = rng.randint(2, frames - 2)  # Appears / Disappears / StaysStill
    visible = [action == "StaysStill" or (t >= cut) == (action == "Appears") for t in range(frames)]
    return Actor(shape, color, action, tuple(_state(x, y, radius, rgb, v) for v in visible))


def _state(x: float, y: float, radius: float, color: tuple[float, ...], visible: bool = True) -> FrameState:
    return FrameState(x, y, radius, (color[0], color[1], color[2]), visible)


def _active_steps(rng: random.Random, frames: int, most: float) -> list[int]:
    """Steps taken by each frame: 0 for at least two frames, then 1, 2, ..., m, then m for at
    least two frames (m changes, 4 <= m <= ``most``). The two still spans are drawn alike."""
    high = max(4, min(frames - 4, int(most)))
    changes = rng.randint(min(high, max(4, frames // 4)), high)
    start = rng.randint(2, frames - changes - 2)
    return [min(max(t - start + 1, 0), changes) for t in range(frames)]


def _resize(rng: random.Random, action: str, shape: str, color: str, rgb: tuple[float, ...], frames: int) -> Actor:
    rate = rng.uniform(*_GROWTH)
    low, high = _GROWTH_RADIUS
    steps = _active_steps(rng, frames, (high - low) / rate)
    change = rate * steps[-1]
    first = rng.uniform(low, high - change) if action == "Grows" else rng.uniform(low + change, high)
    sign = 1.0 if action == "Grows" else -1.0
    room = extent(shape, max(first, first + sign * change))
    x, y = (rng.uniform(_BORDER + room, 1.0 - _BORDER - room) for _ in range(2))
    return Actor(shape, color, action, tuple(_state(x, y, first + sign * rate * k, rgb) for k in steps))


def _bounce(
    rng: random.Random,
    action: str,
    shape: str,
    color: str,
    rgb: tuple[float, ...],
    radius: float,
    bounds: tuple[float, float],
    center: tuple[float, float],
    frames: int,
) -> Actor:
    """Move towards a side, touch it and come back: one leg there, one back, at constant speed."""
    low, high = bounds
    speed = rng.uniform(*_SPEED)
    leg = int(min(_MAX_PATH, high - low) / speed)  # most steps of one leg
    moving = frames if frames <= 2 * leg else rng.randint(leg, min(2 * leg, frames - 4))
    before = 0 if moving == frames else rng.randint(2, frames - moving - 2)
    there = rng.randint(max(2, moving - 1 - leg), min(leg, moving - 3))
    horizontal = action == "BouncesHorizontally"
    first = rng.choice(("left", "right") if horizontal else ("up", "down"))
    toward_high = first in ("right", "down")
    wall = high if toward_high else low
    sign = 1.0 if toward_high else -1.0
    path = []
    for t in range(frames):
        k = min(max(t - before, 0), moving - 1)  # steps taken
        path.append(wall - sign * speed * abs(there - k))
    x, y = center
    states = [_state(p, y, radius, rgb) if horizontal else _state(x, p, radius, rgb) for p in path]
    return Actor(shape, color, action, tuple(states), first_direction=first)


def _still_object(rng: random.Random, actor: Actor) -> StillObject | None:
    """A still object of a color the actor never has, clear of the actor in every frame (None
    when no place is found in ``_PLACEMENT_TRIES`` tries)."""
    shape = rng.choice(SHAPES)
    color = rng.choice([c for c in COLORS if c not in (actor.color, actor.final_color)])
    radius = rng.uniform(*_STILL_RADIUS)
    own = extent(shape, radius)
    shown = [s for s in actor.states if s.visible]
    for _ in range(_PLACEMENT_TRIES):
        x, y = (rng.uniform(_BORDER + own, 1.0 - _BORDER - own) for _ in range(2))
        if all(math.hypot(x - s.x, y - s.y) >= own + extent(actor.shape, s.radius) + _GAP for s in shown):
            return StillObject(shape, color, x, y, radius)
    return None
