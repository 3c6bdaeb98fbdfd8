"""The navigation task's commands: ``mmrnn navigate``, ``mmrnn train navigation`` and
``mmrnn data babyai-demos`` (argument declarations and bodies; the app parses and prints).
Declaring the options imports no torch: the agent, demonstrations and training are imported by ``run``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multimodal_rnn.errors import InputError
from multimodal_rnn.options import add_output_argument, int_range, non_negative_float, non_negative_int, positive_int
from multimodal_rnn.shipped import resolve_weights
from multimodal_rnn.tasks.common import (
    TrainingLog,
    add_trainer_arguments,
    model_overrides,
    train_report_line,
    trainer_config_from_args,
)
from multimodal_rnn.tasks.navigation import env as nav_env
from multimodal_rnn.tasks.protocol import Report, RunContext

training_seed = int_range(0, nav_env.VALIDATION_SEED_OFFSET - 1)
"""A first seed of demonstrations: the seeds from ``VALIDATION_SEED_OFFSET`` on are held out."""
training_seed_count = int_range(1, nav_env.VALIDATION_SEED_OFFSET)
"""A number of demonstration seeds (episodes), at most the training seed range."""
tile_size = int_range(1, nav_env.MAX_TILE_SIZE)
"""Pixels per grid cell of the rendered view, 1 to ``MAX_TILE_SIZE``."""


@contextlib.contextmanager
def counted_progress(context: RunContext, total: int, description: str) -> Iterator[Callable[[int], None]]:
    """One of the context's progress bars over ``total`` items, as an ``advance(done)`` callback
    (what the rollout and demonstration functions report); the bar closes on exit."""
    bar = iter(context.progress(range(total), total, description))
    shown = 0

    def advance(done: int) -> None:
        nonlocal shown
        for _ in range(done - shown):
            next(bar, None)
        shown = max(shown, done)

    try:
        yield advance
    finally:
        for _ in bar:  # run the bar to its end, which closes it
            pass


_NAVIGATE_DESCRIPTION = """\
Play a navigation agent (greedy actions) on N fresh seeds of a BabyAI level, disjoint from its
training seeds: seeds {offset:,} + S + i for i < N. Prints the success rate, the
mean episode length, SPL (success weighted by the BabyAI bot's path length on the same seed:
mean S * L_bot / max(L_agent, L_bot)) and the mean reward. Shipped agents:
{shipped}."""

_NAVIGATE_EPILOG = """\
examples:
  mmrnn navigate --level BabyAI-GoToRedBall-v0
  mmrnn navigate --level BabyAI-GoToLocal-v0 --episodes 200 --render gotolocal.gif
  mmrnn navigate --weights runs/nav/best.safetensors --episodes 1000 --json"""


@dataclass
class NavigateCommand:
    """``mmrnn navigate``: play an agent on held-out seeds; success rate, length, SPL, reward.

    ``shipped`` maps a BabyAI level id to the file of its shipped agent (the task's ``shipped``).
    """

    shipped: Mapping[str, str]
    help: str = "run a navigation agent on BabyAI levels: success rate, episode length, SPL, reward"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the options of ``mmrnn navigate``."""
        parser.description = _NAVIGATE_DESCRIPTION.format(offset=nav_env.EVAL_SEED_OFFSET, shipped=", ".join(self.shipped))
        parser.epilog = _NAVIGATE_EPILOG
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.add_argument("--level", metavar="ID", help="BabyAI level id (default: the level the --weights agent was trained on)")
        parser.add_argument("--episodes", type=positive_int, default=1000, metavar="N",
                            help="episodes to play (default: %(default)s)")
        parser.add_argument("--weights", metavar="FILE", help="navigation checkpoint (default: the shipped agent of --level)")
        parser.add_argument("--seed", type=non_negative_int, default=0, metavar="S",
                            help=f"first seed offset: episodes use seeds {nav_env.EVAL_SEED_OFFSET} + S + i (default: %(default)s)")
        parser.add_argument("--batch-size", type=positive_int, default=100, metavar="N",
                            help="environments stepped in lockstep (default: %(default)s)")
        add_output_argument(parser, "--render", suffixes=(".gif",), metavar="OUT.gif", help="save the first episode as a GIF, mission as caption")
        parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
        parser.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        """Play the episodes and report the metrics (one JSON line with ``--json``)."""
        from multimodal_rnn.tasks.navigation.render import save_gif
        from multimodal_rnn.tasks.navigation.rollout import TASK, NavigationAgent, evaluate_agent, run_episodes

        if args.level is None and args.weights is None:
            raise InputError("give --level (to use its shipped agent) or --weights FILE")
        if args.level is not None:
            nav_env.check_level(args.level)
        if args.weights is None and args.level not in self.shipped:
            raise InputError(f"no shipped navigation agent for {args.level} (shipped: {', '.join(self.shipped)}); "
                             "pass --weights FILE")
        path = resolve_weights(args.weights, self.shipped, task=TASK, variant=args.level or "")
        agent = NavigationAgent.from_checkpoint(path, device=args.device)
        trained_on = agent.info.get("level")
        level = args.level or trained_on
        if not level:
            raise InputError(f"{path}: the checkpoint names no level; pass --level")
        notes = [f"note: {path} was trained on {trained_on}, playing {level}"] if trained_on and trained_on != level else []
        first = nav_env.EVAL_SEED_OFFSET + args.seed
        seeds = list(range(first, first + args.episodes))
        agent.check_held_out(seeds)
        start = time.perf_counter()
        with counted_progress(context, len(seeds), level) as advance:
            summary, results = evaluate_agent(agent, level, seeds, batch_size=args.batch_size, progress=advance)
        seconds = time.perf_counter() - start
        steps = sum(r.length for r in results)
        data: dict[str, Any] = {**summary, "level": level, "weights": str(path), "first_seed": first,
                                "seconds": round(seconds, 2)}
        if args.render is not None:
            episode = run_episodes(agent, level, seeds[:1], batch_size=1, record=True)[0]
            outcome = "success" if episode.success else "failure"
            save_gif(args.render, episode.frames, f"{episode.mission} ({outcome}, {episode.length} steps)")
            data["render"] = str(args.render)
        if args.json:
            return Report(lines=(json.dumps(data),), notes=tuple(notes), data=data)
        lines = [
            f"{level}: {args.episodes} episodes on seeds [{first}, {first + args.episodes}), weights {path}",
            f"  success rate  {100 * summary['success_rate']:.2f} %",
            f"  mean length   {summary['mean_length']:.2f} actions",
            f"  SPL           {summary['spl']:.4f}  (reference: the BabyAI bot's path on each seed)",
            f"  mean reward   {summary['mean_reward']:.4f}",
            f"  {seconds:.1f} s ({steps / seconds:.0f} agent steps/s incl. the bot reference runs)",
        ]
        if args.render is not None:
            lines.append(f"  first episode rendered to {args.render}")
        return Report(lines=tuple(lines), notes=tuple(notes), data=data)


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


@dataclass
class DemosCommand:
    """``mmrnn data babyai-demos``: the BabyAI bot's demonstrations (or, with ``--agent``, an
    agent's episodes labeled by the bot) in one ``.npz`` file."""

    help: str = "BabyAI bot demonstrations of a level (.npz)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the options of ``mmrnn data babyai-demos``."""
        parser.description = _DEMOS_DESCRIPTION
        parser.epilog = _DEMOS_EPILOG
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.add_argument("--level", required=True, metavar="ID", help="BabyAI level id, e.g. BabyAI-GoToRedBall-v0")
        parser.add_argument("--episodes", type=training_seed_count, required=True, metavar="N",
                            help=f"seeds to run the bot on, 1-{nav_env.VALIDATION_SEED_OFFSET:,}")
        add_output_argument(parser, "--out", suffixes=(".npz",), required=True, metavar="FILE", help="output .npz file")
        parser.add_argument("--seed", type=training_seed, default=0, metavar="S",
                            help=f"first seed, 0-{nav_env.VALIDATION_SEED_OFFSET - 1:,} (default: %(default)s)")
        parser.add_argument("--workers", type=positive_int, default=nav_env.cpu_count(), metavar="N",
                            help="worker processes (default: all %(default)s cores)")
        parser.add_argument("--pixels", action="store_true", help="store the RGB partial view instead of the symbolic one")
        parser.add_argument("--tile-size", type=tile_size, default=nav_env.DEFAULT_TILE_SIZE, metavar="PX",
                            help=f"pixels per grid cell with --pixels, 1-{nav_env.MAX_TILE_SIZE} (default: %(default)s)")
        parser.add_argument("--agent", metavar="CKPT",
                            help="on-policy data (DAgger): this navigation agent acts, the bot labels every state "
                                 "it reaches; seeds must differ from the agent's training seeds")
        parser.add_argument("--force", action="store_true", help="replace an existing FILE")

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        """Generate and save the demonstrations; one summary line."""
        from multimodal_rnn.tasks.navigation.demos import generate_demonstrations, save_demonstrations

        out: Path = args.out
        if out.exists() and not args.force:
            raise InputError(f"{out}: file exists; pass --force to replace it")
        start = time.perf_counter()
        if args.agent is not None:
            return self._agent_demos(args, context, out, start)
        with counted_progress(context, args.episodes, args.level) as advance:
            demos = generate_demonstrations(
                args.level, args.episodes, seed=args.seed, workers=args.workers,
                obs_mode="pixels" if args.pixels else "symbolic", tile_size=args.tile_size,
                progress=lambda done, _total: advance(done))
        seconds = time.perf_counter() - start
        save_demonstrations(out, demos)
        failed = len(demos.meta["failed_seeds"])
        line = (f"{len(demos)} demonstrations ({demos.num_frames} frames, mean length "
                f"{demos.num_frames / max(1, len(demos)):.1f}) of {args.level} on seeds [{args.seed}, "
                f"{args.seed + args.episodes}) in {seconds:.1f} s ({args.episodes / seconds:.0f} episodes/s); "
                f"bot failures dropped: {failed}; written to {out}")
        return Report(lines=(line,))

    @staticmethod
    def _agent_demos(args: argparse.Namespace, context: RunContext, out: Path, start: float) -> Report:
        from multimodal_rnn.tasks.navigation.dagger import agent_demonstrations
        from multimodal_rnn.tasks.navigation.demos import save_demonstrations
        from multimodal_rnn.tasks.navigation.rollout import NavigationAgent

        agent = NavigationAgent.from_checkpoint(args.agent)
        if args.pixels != (agent.obs_mode == "pixels"):
            raise InputError(f"{args.agent}: the agent sees {agent.obs_mode} observations; "
                             f"{'drop' if not args.pixels else 'add'} --pixels")
        with counted_progress(context, args.episodes, f"{args.level} (agent)") as advance:
            demos = agent_demonstrations(agent, args.level, args.episodes, seed=args.seed,
                                         progress=lambda done, _total: advance(done))
        seconds = time.perf_counter() - start
        demos.meta["agent"] = str(args.agent)
        save_demonstrations(out, demos)
        line = (f"{len(demos)} agent episodes ({demos.num_frames} bot-labeled frames) of {args.level} on seeds "
                f"[{args.seed}, {args.seed + args.episodes}) in {seconds:.1f} s; agent success "
                f"{100 * demos.meta['agent_success_rate']:.1f} %; episodes without labels dropped: "
                f"{len(demos.meta['failed_seeds'])}; written to {out}")
        return Report(lines=(line,))


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


@dataclass
class TrainCommand:
    """``mmrnn train navigation``: imitation learning on demonstration files."""

    help: str = "train a BabyAI navigation agent by imitation"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the options of ``mmrnn train navigation`` (the shared trainer options included)."""
        parser.description = _TRAIN_DESCRIPTION
        parser.epilog = _TRAIN_EPILOG
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.add_argument("--demos", required=True, type=Path, nargs="+", metavar="FILE",
                            help="demonstrations from `mmrnn data babyai-demos` (several files: concatenated)")
        parser.add_argument("--model", default="babyai_film", help="navigation model (default: %(default)s)")
        add_trainer_arguments(parser, metric="success rate", epochs=10, batch_size=64, lr=1e-3, warmup_steps=0)
        parser.add_argument("--tbptt", type=non_negative_int, default=0, metavar="STEPS",
                            help="truncate backpropagation through time every STEPS frames (default: 0 = whole episodes)")
        parser.add_argument("--entropy", type=non_negative_float, default=0.0, metavar="COEF",
                            help="entropy bonus weight, >= 0 (default: %(default)s)")
        parser.add_argument("--val-episodes", type=positive_int, default=200, metavar="N",
                            help="held-out episodes played after each epoch (default: %(default)s)")
        parser.add_argument("--max-demos", type=non_negative_int, default=0, metavar="N",
                            help="use only the first N demonstrations (0 = all)")

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        """Train; one closing line with the best validation success rate and the checkpoints."""
        from multimodal_rnn.tasks.navigation.demos import concatenate, load_demonstrations
        from multimodal_rnn.tasks.navigation.models import MODELS
        from multimodal_rnn.tasks.navigation.training import (
            VALIDATION_METRIC,
            NavigationTrainingConfig,
            train_navigation,
        )

        model = model_overrides(args.set, models=MODELS, model_name=args.model)
        demos = concatenate([load_demonstrations(path) for path in args.demos])
        if args.max_demos > 0:
            demos = demos.subset(range(min(args.max_demos, len(demos))))
            demos.meta["episodes_tried"] = int(demos.seeds.max()) + 1 - int(demos.meta.get("seed_start", 0))
        config = NavigationTrainingConfig(model_name=args.model, model=model, tbptt_steps=args.tbptt,
                                          entropy_coef=args.entropy, val_episodes=args.val_episodes,
                                          init_from=args.init_from)
        start = time.perf_counter()
        result = train_navigation(
            demos, config, trainer_config_from_args(args, validation_metric=VALIDATION_METRIC), args.out,
            progress=context.progress, log=TrainingLog.of(context), resume_from=args.out if args.resume else None,
        )
        minutes = (time.perf_counter() - start) / 60
        return Report(lines=(f"trained on {len(demos)} demonstrations of {demos.meta.get('level')} in {minutes:.1f} min; "
                             + train_report_line(result, "success rate"),))
