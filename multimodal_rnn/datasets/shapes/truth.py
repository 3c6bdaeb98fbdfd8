"""Faithfulness of shapes-world captions: does everything a caption says hold in its scene graph?

A caption is parsed into claims (:func:`~multimodal_rnn.datasets.shapes.claims.caption_claims`)
and every claim is checked against the scene graph of its image (an entry of
``scenes_{split}.json``: ``objects`` with ``id``, ``shape``, ``color``, ``size``, and the clearly
true ``relations``). A caption is faithful when it parses and all its claims hold; the score of
a set of captions is the share of faithful ones.

The claims a caption can make, and the language they are said in, are in
:mod:`multimodal_rnn.datasets.shapes.claims`; a caption that does not parse counts as unfaithful.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping

from multimodal_rnn.datasets.shapes.claims import (
    RELATION_WORDS,
    AttributeClaim,
    Claim,
    CountClaim,
    Description,
    Mention,
    ObjectsClaim,
    RelationClaim,
    caption_claims,
)
from multimodal_rnn.errors import DataFormatError, InputError, first_ids
from multimodal_rnn.files import read_json, require_keys

ImageId = Any
"""An image id, as the caption metrics key them (any hashable; ``Any`` because mapping keys are invariant)."""

UNPARSED = "unparsed"
"""The reason of a caption that does not parse."""
FAILURE_KINDS = (UNPARSED, "reference", "object", "count", "relation", "attribute")
"""First word of every failure reason: unparsed, an ambiguous or absent ``"the ..."``, then the claim kind."""


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
                return f"relation: not clearly {claim.subject} {RELATION_WORDS[claim.relation]} {claim.reference}"
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
