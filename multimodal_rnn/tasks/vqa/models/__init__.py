"""Visual question answering heads: a question read by the shared core, fused with the image.

Four registered models, each with its own config class (a key a model does not use is an
error naming the model and the key), one contract, ``forward(batch) -> {"loss", "logits"}``
(many-to-one: the whole question in, one distribution over the answer vocabulary out):

* ``lstm_q_norm_i`` (:mod:`.lstm_q_norm_i`): question and pooled image, projected, multiplied;
* ``saaa`` (:mod:`.saaa`): question-conditioned attention glimpses over the image grid;
* ``saaa_rel`` (:mod:`.saaa_rel`): SAAA made to compare and count objects (the shipped model);
* ``film`` (:mod:`.film`): question-conditioned residual blocks over the image grid.

What they share (the common config, the question encoder, the losses) is in :mod:`.base`.

Checkpoints written before the per-model configs hold every option of every model (one flat
config of 24 fields, the unused ones ignored). :func:`~multimodal_rnn.registry.drop_retired_defaults` is each entry's
``upgrade`` for such stored configs: it drops the options the model does not have when they
hold their old default value, so those files load as before; an unused option with any other
value is still an error.
"""

from __future__ import annotations

from typing import Any

from multimodal_rnn.registry import ModelEntry, Registry, drop_retired_defaults
from multimodal_rnn.tasks.vqa.models.base import GlimpseConfig, QuestionFeatures, VQAModel, VQAModelConfig
from multimodal_rnn.tasks.vqa.models.film import FiLMConfig, FiLMNet
from multimodal_rnn.tasks.vqa.models.lstm_q_norm_i import LSTMQNormI, LSTMQNormIConfig
from multimodal_rnn.tasks.vqa.models.saaa import SAAAConfig, ShowAskAttendAnswer
from multimodal_rnn.tasks.vqa.models.saaa_rel import COUNT_BINS, RelationalSAAA, RelationalSAAAConfig, count_distribution

FLAT_CONFIG_DEFAULTS: dict[str, Any] = {
    "fusion_size": 512, "attention_size": 256, "glimpses": 2, "grid_coordinates": True, "normalize_image": True,
    "film_blocks": 3, "film_size": 64, "glimpse_query": "embeddings", "relation_path": True, "count_path": True,
    "path_size": 32,
}
"""The model-specific options of the old flat config, with their defaults."""


VQA_MODELS: dict[str, tuple[type[VQAModelConfig], type[VQAModel]]] = {
    "lstm_q_norm_i": (LSTMQNormIConfig, LSTMQNormI),
    "saaa": (SAAAConfig, ShowAskAttendAnswer),
    "saaa_rel": (RelationalSAAAConfig, RelationalSAAA),
    "film": (FiLMConfig, FiLMNet),
}
"""Registered name -> (config class, model class)."""

MODELS = Registry(ModelEntry(name, "vqa", config_class, model_class, upgrade=drop_retired_defaults(config_class, FLAT_CONFIG_DEFAULTS))
                  for name, (config_class, model_class) in VQA_MODELS.items())
"""The VQA task's registered models."""

__all__ = [
    "COUNT_BINS", "FiLMConfig", "FiLMNet", "GlimpseConfig", "LSTMQNormI", "LSTMQNormIConfig", "MODELS",
    "QuestionFeatures", "RelationalSAAA", "RelationalSAAAConfig", "SAAAConfig", "ShowAskAttendAnswer", "VQAModel",
    "VQAModelConfig", "count_distribution",
]
