"""The navigation task's entry point: ``TASK``, what the apps iterate."""

from __future__ import annotations

from multimodal_rnn.tasks.navigation.cli import (
           DemosCommand,
           NavigateCommand,
           TrainCommand,
)
from multimodal_rnn.tasks.navigation.models import MODELS
from multimodal_rnn.tasks.navigation.rollout import NavigationAgent
from multimodal_rnn.tasks.protocol import TaskSpec

SHIPPED = {"BabyAI-GoToRedBall-v0": "navigation_gotoredball.safetensors",
           "BabyAI-GoToLocal-v0": "navigation_gotolocal.safetensors"}
"""Shipped agents, by BabyAI level id (the level is the variant)."""

TASK = TaskSpec(
    name="navigation",
    summary="vision-language navigation on BabyAI: instruction + views -> actions",
    models=MODELS,
    predictor_loader=NavigationAgent.from_checkpoint,
    shipped=SHIPPED,
    commands={"navigate": NavigateCommand(SHIPPED), "train": TrainCommand(), "data babyai-demos": DemosCommand()},
)
