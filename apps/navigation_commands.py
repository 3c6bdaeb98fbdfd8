"""``mmrnn data babyai-demos`` and ``mmrnn train navigation``: parsers and bodies.

``apps/commands/data.py`` registers the data subcommand with ``add_data_babyai(datasets)`` and
``apps/commands/train.py`` the training one with ``add_train_navigation(tasks)``; ``mmrnn navigate``
lives in ``apps/commands/navigate.py``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from apps.commands.train import progress_bar
from multimodal_rnn.errors import InputError
from multimodal_rnn.tasks.navigation import env as nav_env
from multimodal_rnn.tasks.navigation.demos import (
    concatenate,
    generate_demonstrations,
    load_demonstrations,
    save_demonstrations,
)

_DEMOS_DESCRIPTION = """\
Run the BabyAI bot (minigrid.utils.baby_ai_bot.BabyAIBot) on seeds [SEED, SEED + N) of a BabyAI
level and store its episodes in one compressed .npz file: observations (the 7x7x3 symbolic view,
or --pixels: the RGB partial view), directions, actions, missions, seeds and rewards. Episodes the
bot fails are counted and dropped. Seeds from 500,000,000 on are reserved for held-out
validation and evaluation."""

_DEMOS_EPILOG = """\
examples:
  mmrnn data babyai-demos --level BabyAI-GoToRedBall-v0 --episodes 10000 --out runs/demos/gotoredball.npz
  mmrnn data babyai-demos --level BabyAI-GoToLocal-v0 --episodes 50000 --out runs/demos/gotolocal.npz --workers 2
  mmrnn data babyai-demos --level BabyAI-GoToLocal-v0 --episodes 2000 --pixels --out runs/demos/gotolocal_rgb.npz
  mmrnn data babyai-demos --level BabyAI-GoToLocal-v0 --episodes 20000 --seed 50000 \
      --agent runs/nav_gotolocal/best.safetensors --out runs/demos/gotolocal_dagger.npz"""

_TRAIN_DESCRIPTION = """\
Train a navigation agent by imitation of BabyAI bot demonstrations (made by `mmrnn data
babyai-demos`). A training item is one whole episode (--batch-size counts episodes): the
instruction GRU, a FiLM-conditioned CNN over each view and an LSTM memory over the episode predict
the bot's actions (cross-entropy; --tbptt truncates backpropagation through time, --entropy adds
an entropy bonus). After every epoch the agent plays --val-episodes held-out seeds; the best
success rate is kept in best.safetensors."""

_TRAIN_EPILOG = """\
examples:
  mmrnn train navigation --demos runs/demos/gotoredball.npz --out runs/nav_gotoredball --epochs 10
  mmrnn train navigation --demos runs/demos/gotolocal.npz --out runs/nav_gotolocal --epochs 20 \\
      --set channels=128 --set memory_size=128 --val-episodes 500"""


def add_data_babyai(datasets: Any) -> None:
    """Register ``mmrnn data babyai-demos`` on the ``data`` command's sub-parsers."""
    parser = datasets.add_parser("babyai-demos", help="BabyAI bot demonstrations of a level (.npz)",
                                 description=_DEMOS_DESCRIPTION, epilog=_DEMOS_EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--level", required=True, metavar="ID", help="BabyAI level id, e.g. BabyAI-GoToRedBall-v0")
    parser.add_argument("--episodes", type=int, required=True, metavar="N", help="seeds to run the bot on")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE", help="output .npz file")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="first seed (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=nav_env.cpu_count(), metavar="N",
                        help="worker processes (default: all %(default)s cores)")
    parser.add_argument("--pixels", action="store_true", help="store the RGB partial view instead of the symbolic one")
    parser.add_argument("--tile-size", type=int, default=nav_env.DEFAULT_TILE_SIZE, metavar="PX",
                        help="pixels per grid cell with --pixels (default: %(default)s)")
    parser.add_argument("--agent", metavar="CKPT",
                        help="on-policy data (DAgger): this navigation agent acts, the bot labels every state "
                             "it reaches; seeds must differ from the agent's training seeds")
    parser.add_argument("--force", action="store_true", help="replace an existing FILE")
    parser.set_defaults(_run_dataset=run_data_babyai)


def run_data_babyai(args: argparse.Namespace) -> int:
    """Body of ``mmrnn data babyai-demos``."""
    out: Path = args.out
    if out.exists() and not args.force:
        raise InputError(f"{out}: file exists; pass --force to replace it")
    start = time.perf_counter()
    if args.agent is not None:
        return _run_agent_demos(args, out, start)
    with tqdm(total=args.episodes, unit="ep", desc=args.level, disable=None) as bar:
        demos = generate_demonstrations(
            args.level, args.episodes, seed=args.seed, workers=args.workers,
            obs_mode="pixels" if args.pixels else "symbolic", tile_size=args.tile_size,
            progress=lambda done, _total: bar.update(done - bar.n))
    seconds = time.perf_counter() - start
    save_demonstrations(out, demos)
    failed = len(demos.meta["failed_seeds"])
    print(f"{len(demos)} demonstrations ({demos.num_frames} frames, mean length {demos.num_frames / max(1, len(demos)):.1f}) "
          f"of {args.level} on seeds [{args.seed}, {args.seed + args.episodes}) in {seconds:.1f} s "
          f"({args.episodes / seconds:.0f} episodes/s); bot failures dropped: {failed}; written to {out}")
    return 0


def _run_agent_demos(args: argparse.Namespace, out: Path, start: float) -> int:
    from multimodal_rnn.tasks.navigation.dagger import agent_demonstrations
    from multimodal_rnn.tasks.navigation.rollout import NavigationAgent

    agent = NavigationAgent.from_checkpoint(args.agent)
    if args.pixels != (agent.obs_mode == "pixels"):
        raise InputError(f"{args.agent}: the agent sees {agent.obs_mode} observations; "
                         f"{'drop' if not args.pixels else 'add'} --pixels")
    with tqdm(total=args.episodes, unit="ep", desc=f"{args.level} (agent)", disable=None) as bar:
        demos = agent_demonstrations(agent, args.level, args.episodes, seed=args.seed,
                                     progress=lambda done, _total: bar.update(done - bar.n))
    seconds = time.perf_counter() - start
    demos.meta["agent"] = str(args.agent)
    save_demonstrations(out, demos)
    print(f"{len(demos)} agent episodes ({demos.num_frames} bot-labeled frames) of {args.level} on seeds "
          f"[{args.seed}, {args.seed + args.episodes}) in {seconds:.1f} s; agent success "
          f"{100 * demos.meta['agent_success_rate']:.1f} %; episodes without labels dropped: "
          f"{len(demos.meta['failed_seeds'])}; written to {out}")
    return 0


def add_train_navigation(tasks: Any) -> None:
    """Register ``mmrnn train navigation`` on the ``train`` command's sub-parsers."""
    from apps.commands.train import add_trainer_arguments  # train.py imports this module lazily

    parser = tasks.add_parser("navigation", help="train a BabyAI navigation agent by imitation",
                              description=_TRAIN_DESCRIPTION, epilog=_TRAIN_EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demos", required=True, type=Path, nargs="+", metavar="FILE",
                        help="demonstrations from `mmrnn data babyai-demos` (several files: concatenated)")
    parser.add_argument("--model", default="babyai_film", help="navigation model (default: %(default)s)")
    add_trainer_arguments(parser, metric="success rate", epochs=10, batch_size=64, lr=1e-3, warmup_steps=0)
    parser.add_argument("--tbptt", type=int, default=0, metavar="STEPS",
                        help="truncate backpropagation through time every STEPS frames (default: 0 = whole episodes)")
    parser.add_argument("--entropy", type=float, default=0.0, metavar="COEF",
                        help="entropy bonus weight (default: %(default)s)")
    parser.add_argument("--val-episodes", type=int, default=200, metavar="N",
                        help="held-out episodes played after each epoch (default: %(default)s)")
    parser.add_argument("--max-demos", type=int, default=0, metavar="N", help="use only the first N demonstrations (0 = all)")
    parser.set_defaults(_run_task=run_train_navigation)


def run_train_navigation(args: argparse.Namespace) -> int:
    """Body of ``mmrnn train navigation``."""
    from apps.commands.train import _model_overrides, trainer_config_from_args
    from multimodal_rnn.tasks.navigation.training import VALIDATION_METRIC, NavigationTrainingConfig, train_navigation

    demos = concatenate([load_demonstrations(path) for path in args.demos])
    if args.max_demos > 0:
        demos = demos.subset(range(min(args.max_demos, len(demos))))
        demos.meta["episodes_tried"] = int(demos.seeds.max()) + 1 - int(demos.meta.get("seed_start", 0))
    config = NavigationTrainingConfig(model_name=args.model, model=_model_overrides(args.set), tbptt_steps=args.tbptt,
                                      entropy_coef=args.entropy, val_episodes=args.val_episodes, init_from=args.init_from)
    start = time.perf_counter()
    result = train_navigation(
        demos, config, trainer_config_from_args(args, validation_metric=VALIDATION_METRIC), args.out,
        progress=progress_bar,
        resume_from=args.out if args.resume else None,
    )
    minutes = (time.perf_counter() - start) / 60
    print(f"trained on {len(demos)} demonstrations of {demos.meta.get('level')} in {minutes:.1f} min; "
          f"best validation success rate {result.best_metric} at step {result.best_step}; "
          f"checkpoints: {result.best_checkpoint} (best), {result.last_checkpoint} (last)")
    return 0
