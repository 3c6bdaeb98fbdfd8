"""Shapes world scenes: the configuration, the scene graph, spatial relations and rendering.

A scene holds 1-4 flat shapes (circle, square, triangle) in six well-separated colors and two
sizes on a light gray background. Coordinates are normalized: x grows to the right and y grows
downwards, both in [0, 1] of the image side, so a scene renders at any resolution. Objects never
overlap (their circumscribed circles keep a gap), and a spatial relation is only *clear* when the
centers are offset by more than ``ShapesConfig.relation_margin`` along its axis; the language
generators state (or deny) a relation only when it is clear.

Everything here is a pure function of its arguments: randomness comes from the
``random.Random`` passed in, and the background noise from a seed stored in the scene.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

from multimodal_rnn.errors import ConfigError

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (215, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 215),
    "yellow": (235, 205, 30),
    "purple": (145, 55, 185),
    "cyan": (30, 195, 210),
}
"""Color names and their RGB fill; hues are at least ~40 degrees apart."""
SIZES: dict[str, float] = {"small": 0.08, "large": 0.13}
"""Size names and their nominal radius as a fraction of the image side."""
NUMBER_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four")
RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")
MAX_OBJECTS = 4
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 32, 1024
"""The smallest and largest side of the square images, pixels."""

# Circumscribed radius of each shape per unit of nominal radius (areas are roughly equal).
_EXTENT = {"circle": 1.0, "square": 0.88 * math.sqrt(2.0), "triangle": 1.35}
_BORDER = 0.03  # free margin between any object and the image edge (fraction of the side)
_GAP = 0.04  # free margin between two objects' circumscribed circles
_SUPERSAMPLE = 4  # draw at 4x and downsample with LANCZOS for anti-aliasing
_PLACEMENT_TRIES = 200


@dataclass(frozen=True)
class ShapesConfig:
    """Configuration of a generated shapes world.

    Attributes:
        seed: master seed; the same seed gives byte-identical files.
        image_size: side of the square PNG images, in pixels.
        train_size, val_size, test_size: number of images per split.
        min_objects, max_objects: objects per scene, drawn uniformly in this range (1..4).
        relation_margin: smallest center offset (fraction of the image side) along an axis for
            "left of"/"right of" (x) or "above"/"below" (y) to be stated or denied.
    """

    seed: int = 0
    image_size: int = 64
    train_size: int = 8000
    val_size: int = 500
    test_size: int = 500
    min_objects: int = 1
    max_objects: int = 4
    relation_margin: float = 0.12

    def __post_init__(self) -> None:
        if not MIN_IMAGE_SIZE <= self.image_size <= MAX_IMAGE_SIZE:
            raise ConfigError(f"image_size must be in {MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE} pixels, got {self.image_size}")
        for name in ("train_size", "val_size", "test_size"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.train_size + self.val_size + self.test_size == 0:
            raise ConfigError("train_size, val_size and test_size are all 0: nothing to generate")
        if not 1 <= self.min_objects <= self.max_objects <= MAX_OBJECTS:
            raise ConfigError(
                f"need 1 <= min_objects <= max_objects <= {MAX_OBJECTS}, "
                f"got min_objects={self.min_objects} max_objects={self.max_objects}"
            )
        if not 0.02 <= self.relation_margin <= 0.5:
            raise ConfigError(f"relation_margin must be in 0.02..0.5, got {self.relation_margin}")


@dataclass(frozen=True)
class ShapeObject:
    """One object; ``x``, ``y`` (center) and ``radius`` (nominal) are fractions of the image side."""

    shape: str
    color: str
    size: str
    x: float
    y: float

    @property
    def radius(self) -> float:
        """Nominal radius (circle radius; the square's half side is 0.88 of it)."""
        return SIZES[self.size]

    @property
    def extent(self) -> float:
        """Radius of the circumscribed circle, the one used to keep objects apart."""
        return SIZES[self.size] * _EXTENT[self.shape]

    def description(self) -> str:
        """Full noun phrase without article, e.g. ``"small red circle"``."""
        return f"{self.size} {self.color} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """A scene graph: objects (sorted left to right), background color and noise seed."""

    objects: tuple[ShapeObject, ...]
    background: tuple[int, int, int]
    noise_seed: int
    relation_margin: float


def make_scene(rng: random.Random, config: ShapesConfig) -> Scene:
    """Draw a random non-overlapping scene; objects are sorted by ``x`` (left to right)."""
    count = rng.randint(config.min_objects, config.max_objects)
    while True:
        objects = _place_objects(rng, count)
        if objects is not None:
            break
    level = rng.randint(212, 236)
    background = tuple(min(255, level + rng.randint(-6, 6)) for _ in range(3))
    return Scene(
        objects=tuple(sorted(objects, key=lambda o: (o.x, o.y))),
        background=background,  # type: ignore[arg-type]
        noise_seed=rng.getrandbits(32),
        relation_margin=config.relation_margin,
    )


def _place_objects(rng: random.Random, count: int) -> list[ShapeObject] | None:
    objects: list[ShapeObject] = []
    for _ in range(count):
        shape, color, size = rng.choice(SHAPES), rng.choice(list(COLORS)), rng.choice(list(SIZES))
        extent = SIZES[size] * _EXTENT[shape]
        low, high = _BORDER + extent, 1.0 - _BORDER - extent
        for _ in range(_PLACEMENT_TRIES):
            x, y = rng.uniform(low, high), rng.uniform(low, high)
            if all(math.hypot(x - o.x, y - o.y) >= extent + o.extent + _GAP for o in objects):
                objects.append(ShapeObject(shape, color, size, round(x, 4), round(y, 4)))
                break
        else:
            return None
    return objects


def relation_state(scene: Scene, subject: int, relation: str, reference: int) -> bool | None:
    """Whether ``objects[subject]`` is ``relation`` (one of :data:`RELATIONS`) ``objects[reference]``.

    Returns True when clearly so, False when clearly the opposite, None when the center offset
    along the relation's axis is within ``relation_margin`` (then nothing is stated).
    """
    a, b = scene.objects[subject], scene.objects[reference]
    offset = {"left of": b.x - a.x, "right of": a.x - b.x, "above": b.y - a.y, "below": a.y - b.y}[relation]
    if offset > scene.relation_margin:
        return True
    if offset < -scene.relation_margin:
        return False
    return None


def clear_relations(scene: Scene) -> list[tuple[int, str, int]]:
    """Every (subject, relation, reference) index triple that is clearly true in the scene."""
    return [
        (i, relation, j)
        for i in range(len(scene.objects))
        for j in range(len(scene.objects))
        if i != j
        for relation in RELATIONS
        if relation_state(scene, i, relation, j)
    ]


def matching(scene: Scene, **attributes: str) -> list[int]:
    """Indices of the objects whose attributes (``shape=``, ``color=``, ``size=``) all match."""
    return [
        i for i, o in enumerate(scene.objects) if all(getattr(o, key) == value for key, value in attributes.items())
    ]


# Referring phrases in order of preference: with the shape first, then "... one".
_REFERENCE_ATTRIBUTES = (
    ("shape",),
    ("color", "shape"),
    ("size", "shape"),
    ("size", "color", "shape"),
    ("color",),
    ("size",),
    ("size", "color"),
)


def unique_reference(scene: Scene, index: int, *, exclude: str | None = None) -> str | None:
    """A short phrase (no article) that singles out ``objects[index]``, not using ``exclude``.

    The first of ``"circle"``, ``"red circle"``, ``"small circle"``, ``"small red circle"``,
    then (without the shape) ``"red one"``, ``"small one"``, ``"small red one"`` that matches
    exactly this object; None when none does.
    """
    obj = scene.objects[index]
    for keys in _REFERENCE_ATTRIBUTES:
        if exclude in keys:
            continue
        if matching(scene, **{key: getattr(obj, key) for key in keys}) == [index]:
            words = [getattr(obj, key) for key in ("size", "color", "shape") if key in keys]
            return " ".join(words) if "shape" in keys else " ".join(words + ["one"])
    return None


def render_scene(scene: Scene, size: int) -> Image.Image:
    """Render ``scene`` as an RGB image of ``size`` x ``size`` pixels (anti-aliased, mild noise)."""
    canvas_side = size * _SUPERSAMPLE
    canvas = Image.new("RGB", (canvas_side, canvas_side), scene.background)
    draw = ImageDraw.Draw(canvas)
    for obj in scene.objects:
        if obj.shape == "circle":
            draw.ellipse(_box(obj.x, obj.y, obj.radius, canvas_side), fill=COLORS[obj.color])
        else:
            draw.polygon(_outline(obj, canvas_side), fill=COLORS[obj.color])
    image = canvas.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
    import numpy as np  # here, not at import: `mmrnn data shapes --help` needs no numpy

    noise = np.random.default_rng(scene.noise_seed).integers(-3, 4, size=(size, size, 1), dtype=np.int16)
    pixels = np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8)  # (H, W, 3)
    return Image.fromarray(pixels, mode="RGB")


def _box(x: float, y: float, radius: float, side: int) -> tuple[float, float, float, float]:
    return ((x - radius) * side, (y - radius) * side, (x + radius) * side, (y + radius) * side)


def _outline(obj: ShapeObject, side: float) -> list[tuple[float, float]]:
    """Polygon vertices in pixels of a canvas ``side`` wide (square, or triangle pointing up)."""
    if obj.shape == "square":
        half = 0.88 * obj.radius
        corners = [(-half, -half), (half, -half), (half, half), (-half, half)]
    else:
        extent = obj.extent
        corners = [(extent * math.cos(a), extent * math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    return [((obj.x + dx) * side, (obj.y + dy) * side) for dx, dy in corners]


def bounding_box(obj: ShapeObject, side: int) -> tuple[float, float, float, float]:
    """COCO-style ``[x, y, width, height]`` of the drawn shape, in pixels of an image ``side`` wide."""
    if obj.shape == "circle":
        left, top, right, bottom = _box(obj.x, obj.y, obj.radius, side)
    else:
        xs, ys = zip(*_outline(obj, side))
        left, top, right, bottom = min(xs), min(ys), max(xs), max(ys)
    return (left, top, right - left, bottom - top)


def scene_graph(scene: Scene, side: int) -> dict[str, object]:
    """The scene as plain JSON data in pixels of an image ``side`` wide: objects and clear relations."""
    objects = [
        {
            "id": i,
            "shape": o.shape,
            "color": o.color,
            "size": o.size,
            "center": [round(o.x * side, 2), round(o.y * side, 2)],
            "radius": round(o.extent * side, 2),
            "bbox": [round(v, 2) for v in bounding_box(o, side)],
        }
        for i, o in enumerate(scene.objects)
    ]
    relations = [{"subject": i, "relation": r, "object": j} for i, r, j in clear_relations(scene)]
    return {"objects": objects, "relations": relations}

