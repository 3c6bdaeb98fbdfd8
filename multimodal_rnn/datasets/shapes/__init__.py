"""The synthetic shapes world: scenes (:mod:`.scene`), their true captions, questions and dialogs
(:mod:`.captions`, :mod:`.questions`, :mod:`.dialog`), the files in the standard formats
(:mod:`.writers`, :mod:`.world`) and the truth checker that scores generated text against the
scene graphs (:mod:`.truth`; the caption grammar it parses claims with: :mod:`.claims`).

``ShapesConfig`` and ``generate_shapes_world`` (from :mod:`.world`) are the public API that
``mmrnn data shapes`` uses.
"""

from multimodal_rnn.datasets.shapes.world import ShapesConfig, generate_shapes_world

__all__ = ["ShapesConfig", "generate_shapes_world"]
