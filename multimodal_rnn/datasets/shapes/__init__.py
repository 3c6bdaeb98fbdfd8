"""The synthetic shapes world: scenes (:mod:`.scene`), their true captions, questions and dialogs
(:mod:`.captions`, :mod:`.questions`, :mod:`.dialog`), the files in the standard formats
(:mod:`.writers`, :mod:`.world`) and the truth checker that scores generated text against the
scene graphs (:mod:`.truth`; the caption grammar it parses claims with: :mod:`.claims`).

``ShapesConfig`` and ``generate_shapes_world`` (from :mod:`.world`) and the bounds of the
config (``MAX_OBJECTS`` objects per scene, image sides from ``MIN_IMAGE_SIZE`` to
``MAX_IMAGE_SIZE`` pixels) are the public API that ``mmrnn data shapes`` uses.
"""

from multimodal_rnn.datasets.shapes.scene import MAX_IMAGE_SIZE, MAX_OBJECTS, MIN_IMAGE_SIZE
from multimodal_rnn.datasets.shapes.world import ShapesConfig, generate_shapes_world

__all__ = ["MAX_IMAGE_SIZE", "MAX_OBJECTS", "MIN_IMAGE_SIZE", "ShapesConfig", "generate_shapes_world"]
