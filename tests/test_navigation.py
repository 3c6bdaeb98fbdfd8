"""BabyAI navigation: environments, bot demonstrations, the navigation model, training and rollouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from multimodal_rnn.checkpoint import read_header
from multimodal_rnn.encoders.image import ImageEncoderConfig
from multimodal_rnn.errors import DataFormatError, InputError
from multimodal_rnn.tasks.navigation.models import NavigationModel, NavigationModelConfig
from multimodal_rnn.tasks.navigation import env as nav_env
from multimodal_rnn.tasks.navigation.demos import (
    bot_episode,
    generate_demonstrations,
    load_demonstrations,
    save_demonstrations,
)
from multimodal_rnn.tasks.navigation.render import save_gif
from multimodal_rnn.tasks.navigation.rollout import NavigationAgent, evaluate_agent, run_episodes
from multimodal_rnn.tasks.navigation.training import (
    EpisodeDataset,
    NavigationTrainingConfig,
    build_mission_vocabulary,
    collate_episodes,
    train_navigation,
)
from multimodal_rnn.training.trainer import TrainerConfig

LEVEL = "BabyAI-GoToRedBall-v0"
SMALL = {"channels": 16, "instruction_size": 16, "word_size": 8, "memory_size": 16, "actor_size": 16}


@pytest.fixture(scope="module")
def demos():  # type: ignore[no-untyped-def]
    return generate_demonstrations(LEVEL, 6, seed=3)


def test_unknown_level_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown BabyAI level"):
        nav_env.make_env("BabyAI-NoSuchLevel-v0")
    with pytest.raises(InputError, match="observation mode"):
        nav_env.make_env(LEVEL, obs_mode="depth")


def test_bot_episode_solves_the_level_quietly(capsys: pytest.CaptureFixture[str]) -> None:
    env = nav_env.make_env("BabyAI-GoToLocal-v0")
    episodes = [bot_episode(env, seed) for seed in range(20)]  # some layouts print "Sampling rejected"
    assert capsys.readouterr().out == ""
    assert all(e is not None and e.reward > 0 for e in episodes)
    first = episodes[0]
    assert first is not None
    assert first.images.shape == (len(first), 7, 7, 3) and first.images.dtype == np.uint8
    assert first.mission.startswith("go to ")
    # replaying the bot's actions from the same seed reaches the goal in exactly that many steps
    nav_env.reset(env, 0)
    rewards = [nav_env.step(env, a)[1] for a in first.actions]
    assert rewards[-1] == pytest.approx(first.reward) and all(r == 0 for r in rewards[:-1])


def test_demonstrations_are_the_same_with_two_workers(demos) -> None:  # type: ignore[no-untyped-def]
    parallel = generate_demonstrations(LEVEL, 6, seed=3, workers=2, chunk_size=2)
    assert list(demos.seeds) == [3, 4, 5, 6, 7, 8] == list(parallel.seeds)
    assert demos.missions == parallel.missions
    assert np.array_equal(demos.images, parallel.images) and np.array_equal(demos.actions, parallel.actions)
    assert demos.meta["seed_start"] == 3 and demos.meta["episodes_tried"] == 6 and demos.meta["failed_seeds"] == []
    assert demos.offsets[-1] == demos.images.shape[0] == int(demos.lengths.sum())


def test_training_seeds_may_not_reach_the_held_out_ranges() -> None:
    with pytest.raises(InputError, match="training seeds"):
        generate_demonstrations(LEVEL, 2, seed=nav_env.VALIDATION_SEED_OFFSET - 1)


def test_demonstrations_round_trip_and_corrupt_files(demos, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "demos.npz"
    save_demonstrations(path, demos)
    back = load_demonstrations(path)
    assert back.missions == demos.missions and back.meta == demos.meta
    assert np.array_equal(back.images, demos.images) and np.array_equal(back.offsets, demos.offsets)
    episode = back.episode(2)
    assert episode.seed == 5 and len(episode) == int(demos.lengths[2])
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataFormatError, match="bad.npz"):
        load_demonstrations(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(DataFormatError, match="missing"):
        load_demonstrations(tmp_path / "other.npz")
    with pytest.raises(DataFormatError, match="not found"):
        load_demonstrations(tmp_path / "absent.npz")


def _model(vocab_size: int, **overrides: object) -> NavigationModel:
    torch.manual_seed(0)
    return NavigationModel(NavigationModelConfig(num_words=vocab_size, **{**SMALL, **overrides})).eval()


def _batch(demos, tbptt: int = 0):  # type: ignore[no-untyped-def]
    vocab = build_mission_vocabulary(demos.missions)
    dataset = EpisodeDataset(demos, vocab)
    return vocab, collate_episodes([dataset[i] for i in range(len(dataset))], tbptt_steps=tbptt)


def test_forward_matches_step_by_step_acting_and_ignores_padding(demos) -> None:  # type: ignore[no-untyped-def]
    vocab, batch = _batch(demos)
    model = _model(len(vocab))
    with torch.no_grad():
        logits = model(batch)["logits"]
        for i in range(len(demos)):  # the same episode alone (no padding) and one step at a time
            length = int(batch["lengths"][i])
            instruction = model.encode_instruction(batch["instructions"][i:i + 1, :int(batch["instruction_lengths"][i])],
                                                   batch["instruction_lengths"][i:i + 1])
            memory = model.initial_memory(1)
            for t in range(length):
                step_logits, memory = model.act(batch["images"][i:i + 1, t], batch["directions"][i:i + 1, t],
                                                instruction, memory)
                torch.testing.assert_close(step_logits[0], logits[i, t], atol=1e-5, rtol=1e-4)
            assert torch.all(logits[i, length:] == 0)


def test_tbptt_keeps_the_loss_and_cuts_the_gradient(demos) -> None:  # type: ignore[no-untyped-def]
    vocab, whole = _batch(demos)
    _, truncated = _batch(demos, tbptt=2)
    assert int(whole["lengths"].max()) > 2
    model = _model(len(vocab)).train()
    losses, grads = [], []
    for batch in (whole, truncated):
        model.zero_grad()
        loss = model(batch)["loss"]
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten() for p in model.memory.parameters()]))
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    assert not torch.allclose(grads[0], grads[1])


def test_entropy_bonus_lowers_the_loss(demos) -> None:  # type: ignore[no-untyped-def]
    vocab, batch = _batch(demos)
    model = _model(len(vocab))
    with torch.no_grad():
        plain = model(batch)
        bonus = model({**batch, "entropy_coef": 0.5})
    assert bonus["loss"].item() == pytest.approx(plain["loss"].item() - 0.5 * plain["entropy"].item(), rel=1e-5)
    assert 0 < plain["entropy"].item() <= np.log(7) + 1e-6


def test_film_off_and_pixels_mode_build_and_run(demos) -> None:  # type: ignore[no-untyped-def]
    vocab, batch = _batch(demos)
    assert torch.isfinite(_model(len(vocab), film=False)(batch)["loss"])
    pixels = generate_demonstrations(LEVEL, 2, obs_mode="pixels", tile_size=4)
    assert pixels.images.shape[1:] == (28, 28, 3)
    pvocab, pbatch = _batch(pixels)
    model = _model(len(pvocab), obs_mode="pixels", 
                   encoder=ImageEncoderConfig(backbone="small_cnn", image_size=28, channels=(8,)))
    output = model(pbatch)
    assert output["logits"].shape == (2, int(pbatch["lengths"].max()), 7) and torch.isfinite(output["loss"])


def test_training_writes_a_checkpoint_that_plays(demos, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = NavigationTrainingConfig(model={**SMALL}, val_episodes=3, eval_batch_size=2, tbptt_steps=4)
    trainer_config = TrainerConfig(epochs=2, batch_size=3, device="cpu", validation_metric="success_rate")
    result = train_navigation(demos, config, trainer_config, tmp_path / "run")
    assert result.final_step == 4 and len(result.history) == 2
    assert 0 <= result.history[-1]["success_rate"] <= 1 and 0 <= result.history[-1]["spl"] <= 1
    header = read_header(result.best_checkpoint)
    extra = header["extra"]
    assert header["task"] == "navigation" and extra["level"] == LEVEL
    assert extra["train_seeds"] == [[3, 9]] and extra["demonstrations"] == 6
    assert extra["validation_seeds"] == [nav_env.VALIDATION_SEED_OFFSET, nav_env.VALIDATION_SEED_OFFSET + 3]
    agent = NavigationAgent.from_checkpoint(result.best_checkpoint)
    with pytest.raises(InputError, match="overlap the agent.s training seeds"):
        agent.check_held_out([8, 9])
    agent.check_held_out([9, 10])
    seeds = [nav_env.EVAL_SEED_OFFSET + i for i in range(3)]
    summary, results = evaluate_agent(agent, LEVEL, seeds, batch_size=2)
    assert [r.seed for r in results] == seeds
    assert summary["episodes"] == 3 and summary["success_rate"] == sum(r.success for r in results) / 3
    assert all(1 <= r.length <= 64 and len(r.actions) == r.length for r in results)
    again = run_episodes(agent, LEVEL, seeds, batch_size=3)  # greedy: batching does not change the play
    assert [r.actions for r in again] == [r.actions for r in results]


def test_render_writes_a_gif(demos, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    frames = [np.full((32, 40, 3), i * 40, dtype=np.uint8) for i in range(3)]
    save_gif(tmp_path / "e.gif", frames, "go to the red ball")
    with Image.open(tmp_path / "e.gif") as image:
        assert image.n_frames == 3 and image.size == (40, 32 + 24)


def test_pixel_agent_trains_and_plays_on_rgb_views(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pixels = generate_demonstrations(LEVEL, 2, obs_mode="pixels", tile_size=4)
    config = NavigationTrainingConfig(model={**SMALL, "encoder": {"backbone": "small_cnn", "image_size": 28,
                                                                  "channels": [8]}}, val_episodes=2)
    trainer_config = TrainerConfig(epochs=1, batch_size=2, device="cpu", validation_metric="success_rate")
    result = train_navigation(pixels, config, trainer_config, tmp_path / "run")
    agent = NavigationAgent.from_checkpoint(result.best_checkpoint)
    assert agent.obs_mode == "pixels" and agent.tile_size == 4
    played = run_episodes(agent, LEVEL, [nav_env.EVAL_SEED_OFFSET], batch_size=1)
    assert 1 <= played[0].length <= 64


def test_dagger_labels_the_agents_own_states_and_sets_concatenate(demos, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from multimodal_rnn.tasks.navigation.dagger import agent_demonstrations
    from multimodal_rnn.tasks.navigation.demos import concatenate, seed_ranges, union_ranges

    config = NavigationTrainingConfig(model={**SMALL}, val_episodes=2)
    result = train_navigation(demos, config, TrainerConfig(epochs=1, batch_size=6, device="cpu"), tmp_path / "run")
    agent = NavigationAgent.from_checkpoint(result.last_checkpoint)
    with pytest.raises(InputError, match="training seeds"):
        agent_demonstrations(agent, LEVEL, 2, seed=8)  # seed 8 was a training seed
    labeled = agent_demonstrations(agent, LEVEL, 3, seed=20, batch_size=2)
    assert labeled.meta["policy"] == "agent" and 0 <= labeled.meta["agent_success_rate"] <= 1
    assert list(labeled.seeds) == [20, 21, 22]
    env = nav_env.make_env(LEVEL)
    for i in range(len(labeled)):
        episode = labeled.episode(i)
        played = run_episodes(agent, LEVEL, [episode.seed], batch_size=1)[0]
        assert len(episode) == played.length  # one label per state the agent visited
        first = bot_episode(env, episode.seed)  # the bot's first action from the start state is the first label
        assert first is not None and int(episode.actions[0]) == int(first.actions[0])
        assert np.array_equal(episode.images[0], first.images[0])
    assert union_ranges([[20, 23], [3, 9], [9, 12], [5, 7], [30, 31]]) == [[3, 12], [20, 23], [30, 31]]
    both = concatenate([demos, labeled])
    assert len(both) == 9 and seed_ranges(both) == [[3, 9], [20, 23]]
    with pytest.raises(InputError, match="overlap"):
        concatenate([demos, demos])
    tuned = train_navigation(both, NavigationTrainingConfig(model={**SMALL}, val_episodes=2,
                                                             init_from=str(result.last_checkpoint)),
                             TrainerConfig(epochs=1, batch_size=9, device="cpu"), tmp_path / "tuned")
    assert read_header(tuned.last_checkpoint)["extra"]["train_seeds"] == [[3, 9], [20, 23]]
