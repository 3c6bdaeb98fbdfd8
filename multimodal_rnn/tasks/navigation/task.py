"""The navigation task's entry point: ``TASK``, what the apps iterate.

It names its models and predictor by import path, so listing the task and building
its commands' parsers import no torch (:class:`~multimodal_rnn.tasks.protocol.TaskSpec`).
"""

from __future__ import annotations

from multimodal_rnn.tasks.navigation.cli import (
           DemosCommand,
           NavigateCommand,
           TrainCommand,
)
from multimodal_rnn.tasks.protocol import TaskSpec

SHIPPED = {"BabyAI-GoToRedBall-v0": "navigation_gotoredball.safetensors",
           "BabyAI-GoToLocal-v0": "navigation_gotolocal.safetensors"}
"""Shipped agents, by BabyAI level id (the level is the variant)."""

TASK = TaskSpec(
    name="navigation",
    summary="vision-language navigation on BabyAI: instruction + views -> actions",
    models="multimodal_rnn.tasks.navigation.models:MODELS",
    predictor_loader="multimodal_rnn.tasks.navigation.rollout:NavigationAgent.from_checkpoint",
    shipped=SHIPPED,
    commands={"navigate": NavigateCommand(SHIPPED), "train": TrainCommand(), "data babyai-demos": DemosCommand()},
)
