"""The navigation task behind the Task protocol: the agent's device, strict model overrides, its commands."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from multimodal_rnn.checkpoint import save_checkpoint
from multimodal_rnn.errors import ConfigError
from multimodal_rnn.tasks import TASKS
from multimodal_rnn.tasks.navigation.demos import (
    Demonstrations,
    generate_demonstrations,
)
from multimodal_rnn.tasks.navigation.models import (
    NavigationModel,
    NavigationModelConfig,
)
from multimodal_rnn.tasks.navigation.rollout import NavigationAgent
from multimodal_rnn.tasks.navigation.training import (
    NavigationTrainingConfig,
    build_mission_vocabulary,
    train_navigation,
)
from multimodal_rnn.tasks.protocol import Predictor, TaskCommand
from multimodal_rnn.text.vocab import Vocabulary
from multimodal_rnn.training.trainer import TrainerConfig

LEVEL = "BabyAI-GoToRedBall-v0"
SMALL = {"channels": 8, "instruction_size": 8, "word_size": 8, "memory_size": 8, "actor_size": 8}


@pytest.fixture(scope="module")
def demos() -> Demonstrations:
    return generate_demonstrations(LEVEL, 2, seed=3)


def _agent(demos: Demonstrations) -> tuple[NavigationModel, Vocabulary]:
    vocab = build_mission_vocabulary(demos.missions)
    return NavigationModel(NavigationModelConfig(num_words=len(vocab), **SMALL)), vocab


def test_agent_reads_its_device_from_the_model(demos: Demonstrations, tmp_path: Path) -> None:
    model, vocab = _agent(demos)
    agent = NavigationAgent(model, vocab, {"level": LEVEL})
    assert isinstance(agent, Predictor) and agent.device == torch.device("cpu") and not model.training
    assert "device" not in vars(agent)  # no stored copy to go stale
    model.to("meta")
    assert agent.device.type == "meta"
    path = tmp_path / "agent.safetensors"
    fresh, _ = _agent(demos)
    save_checkpoint(path, fresh, task="navigation", model_name="babyai_film", model_config=fresh.config,
                    vocab=vocab.to_dict(), extra={"level": LEVEL})
    loaded = NavigationAgent.from_checkpoint(path, device="meta")
    assert loaded.device.type == "meta" and loaded.info == {"level": LEVEL} and loaded.checkpoint is not None
    assert TASKS["navigation"].load_predictor(path).device == torch.device("cpu")


@pytest.mark.parametrize("overrides, message", [
    ({"film_blocks": 5}, "babyai_film model: unknown key.*film_blocks"),
    ({"encoder": {"channels": [8]}}, "babyai_film model: encoder is used with pixels observations only"),
    ({"num_words": 3}, "babyai_film model: num_words is set from the demonstrations"),
    ({"obs_mode": "pixels"}, "babyai_film model: obs_mode is set from the demonstrations"),
])
def test_a_model_override_the_model_does_not_use_is_an_error(demos: Demonstrations, tmp_path: Path,
                                                               overrides: dict[str, object], message: str) -> None:
    config = NavigationTrainingConfig(model={**SMALL, **overrides}, val_episodes=1)
    with pytest.raises(ConfigError, match=message):
        train_navigation(demos, config, TrainerConfig(epochs=1, batch_size=2, device="cpu"), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_overrides_must_agree_with_the_init_from_checkpoint(demos: Demonstrations, tmp_path: Path) -> None:
    model, vocab = _agent(demos)
    path = tmp_path / "start.safetensors"
    save_checkpoint(path, model, task="navigation", model_name="babyai_film", model_config=model.config,
                    vocab=vocab.to_dict(), extra={"level": LEVEL, "train_seeds": [[3, 5]]})
    trainer_config = TrainerConfig(epochs=1, batch_size=2, device="cpu")
    for overrides, message in (({**SMALL, "channels": 16}, "differs in channels"),
                               ({"film_blocks": 5}, "babyai_film model: unknown key.*film_blocks")):
        config = NavigationTrainingConfig(model=overrides, val_episodes=1, init_from=str(path))
        with pytest.raises(ConfigError, match=message):
            train_navigation(demos, config, trainer_config, tmp_path / "run")


def test_the_task_declares_its_commands_and_shipped_agents() -> None:
    task = TASKS["navigation"]
    assert set(task.commands) == {"navigate", "train", "data babyai-demos"}
    assert all(isinstance(command, TaskCommand) for command in task.commands.values())
    assert set(task.shipped) == {"BabyAI-GoToRedBall-v0", "BabyAI-GoToLocal-v0"}
