"""``mmrnn navigate``: play a navigation agent on held-out BabyAI seeds and report success and SPL."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from apps.weights import NAVIGATION_WEIGHTS, resolve_navigation_weights
from multimodal_rnn.errors import InputError
from multimodal_rnn.tasks.navigation import env as nav_env

NAME = "navigate"
HELP = "run a navigation agent on BabyAI levels: success rate, episode length, SPL, reward"

_DESCRIPTION = f"""\
Play a navigation agent (greedy actions) on N fresh seeds of a BabyAI level, disjoint from its
training seeds: seeds {nav_env.EVAL_SEED_OFFSET:,} + S + i for i < N. Prints the success rate, the
mean episode length, SPL (success weighted by the BabyAI bot's path length on the same seed:
mean S * L_bot / max(L_agent, L_bot)) and the mean reward. Shipped agents:
{", ".join(NAVIGATION_WEIGHTS)}."""

_EPILOG = """\
examples:
  mmrnn navigate --level BabyAI-GoToRedBall-v0
  mmrnn navigate --level BabyAI-GoToLocal-v0 --episodes 200 --render gotolocal.gif
  mmrnn navigate --weights runs/nav/best.safetensors --episodes 1000 --json"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = _DESCRIPTION
    parser.epilog = _EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--level", metavar="ID", help="BabyAI level id (default: the level the --weights agent was trained on)")
    parser.add_argument("--episodes", type=int, default=1000, metavar="N", help="episodes to play (default: %(default)s)")
    parser.add_argument("--weights", metavar="FILE", help="navigation checkpoint (default: the shipped agent of --level)")
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help=f"first seed offset: episodes use seeds {nav_env.EVAL_SEED_OFFSET} + S + i (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=100, metavar="N",
                        help="environments stepped in lockstep (default: %(default)s)")
    parser.add_argument("--render", type=Path, metavar="OUT.gif", help="save the first episode as a GIF, mission as caption")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from multimodal_rnn.tasks.navigation.render import save_gif
    from multimodal_rnn.tasks.navigation.rollout import NavigationAgent, evaluate_agent, run_episodes

    if args.episodes < 1:
        raise InputError(f"--episodes must be >= 1, got {args.episodes}")
    if args.seed < 0:
        raise InputError(f"--seed must be >= 0, got {args.seed}")
    if args.level is None and args.weights is None:
        raise InputError("give --level (to use its shipped agent) or --weights FILE")
    if args.level is not None:
        nav_env.check_level(args.level)
    path = resolve_navigation_weights(args.weights, args.level or "")
    agent = NavigationAgent.from_checkpoint(path, device=args.device)
    trained_on = agent.info.get("level")
    level = args.level or trained_on
    if not level:
        raise InputError(f"{path}: the checkpoint names no level; pass --level")
    if trained_on and trained_on != level:
        print(f"note: {path} was trained on {trained_on}, playing {level}", file=sys.stderr)
    first = nav_env.EVAL_SEED_OFFSET + args.seed
    seeds = list(range(first, first + args.episodes))
    agent.check_held_out(seeds)
    start = time.perf_counter()
    with tqdm(total=len(seeds), unit="ep", desc=level, disable=None, file=sys.stderr) as bar:
        summary, results = evaluate_agent(agent, level, seeds, batch_size=args.batch_size,
                                          progress=lambda done: bar.update(done - bar.n))
    seconds = time.perf_counter() - start
    steps = sum(r.length for r in results)
    summary.update({"level": level, "weights": str(path), "first_seed": first, "seconds": round(seconds, 2)})
    if args.render is not None:
        episode = run_episodes(agent, level, seeds[:1], batch_size=1, record=True)[0]
        outcome = "success" if episode.success else "failure"
        save_gif(args.render, episode.frames, f"{episode.mission} ({outcome}, {episode.length} steps)")
        summary["render"] = str(args.render)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{level}: {args.episodes} episodes on seeds [{first}, {first + args.episodes}), weights {path}")
    print(f"  success rate  {100 * summary['success_rate']:.2f} %")
    print(f"  mean length   {summary['mean_length']:.2f} actions")
    print(f"  SPL           {summary['spl']:.4f}  (reference: the BabyAI bot's path on each seed)")
    print(f"  mean reward   {summary['mean_reward']:.4f}")
    print(f"  {seconds:.1f} s ({steps / seconds:.0f} agent steps/s incl. the bot reference runs)")
    if args.render is not None:
        print(f"  first episode rendered to {args.render}")
    return 0
