"""BabyAI navigation speed on CPU: bot demonstrations/s, training frames/s, agent steps/s.

    .venv/bin/python benchmarks/navigation_speed.py                  # defaults, about a minute
    .venv/bin/python benchmarks/navigation_speed.py --level BabyAI-GoToRedBall-v0 --episodes 200
    .venv/bin/python benchmarks/navigation_speed.py --weights weights/navigation_gotolocal.safetensors
    .venv/bin/python benchmarks/navigation_speed.py --dry-run        # tiny sizes, a smoke test

- demonstrations: :func:`generate_demonstrations` (the BabyAI bot on seeds [0, N)) with 1 and 2
  worker processes; the ratio is 2 workers against 1 (the output is identical);
- training: the default :class:`NavigationModelConfig` (what ``mmrnn train navigation`` trains),
  fresh weights, batches of ``--batch`` whole episodes; forward, backward, clipping and AdamW.
  ``library`` runs the memory core once over each padded episode (fused path, CNN over the real
  frames only); the baseline ``per step`` calls ``model.act`` frame by frame as a naive
  recurrent loop would (same loss); frames/s counts real (unpadded) frames;
- evaluation: greedy episodes on held-out seeds, ``--envs`` environments stepped in lockstep
  (one batched model call per step) against one environment at a time; steps/s counts agent
  actions, environment time included. The agent is the fresh model (its episodes mostly run to
  the step limit) or, with ``--weights``, a trained one.

Training and evaluation run library and baseline alternately (``--repeats`` rounds after one
warm-up; evaluation ``--repeats - 2`` rounds, at least one); rates are medians and each ratio is
the median of the per-round ratios with its spread (min-max) and the load average (1 minute)
before and after. Demonstrations: one run each. ``--threads`` torch threads (default 1:
benchmark machines are often shared).
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import torch
import torch.nn.functional as F

from multimodal_rnn.tasks.navigation.models import NavigationModel, NavigationModelConfig
from multimodal_rnn.tasks.navigation import env as nav_env
from multimodal_rnn.tasks.navigation.demos import generate_demonstrations
from multimodal_rnn.tasks.navigation.rollout import NavigationAgent, run_episodes
from multimodal_rnn.tasks.navigation.training import EpisodeDataset, build_mission_vocabulary, collate_episodes
from timing import Load, interleaved, machine_line, ratio_text


def per_step_loss(model: NavigationModel, batch: dict[str, Any]) -> torch.Tensor:
    """The imitation loss with a Python loop over time calling ``model.act`` (the naive baseline)."""
    lengths = batch["lengths"]
    instruction = model.encode_instruction(batch["instructions"], batch["instruction_lengths"])
    memory = model.initial_memory(len(lengths))
    losses = []
    for t in range(int(lengths.max())):
        active = (lengths > t).nonzero().squeeze(1)
        logits, new_memory = model.act(batch["images"][active, t], batch["directions"][active, t],
                                       instruction[active], tuple(s[active] for s in memory))
        memory = tuple(s.index_copy(0, active, n) for s, n in zip(memory, new_memory))
        losses.append(F.cross_entropy(logits, batch["actions"][active, t], reduction="sum"))
    return torch.stack(losses).sum() / lengths.sum()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--level", default="BabyAI-GoToLocal-v0")
    parser.add_argument("--episodes", type=int, default=600, help="bot demonstrations per worker setting")
    parser.add_argument("--batch", type=int, default=64, help="episodes per training batch")
    parser.add_argument("--eval-episodes", type=int, default=200)
    parser.add_argument("--envs", type=int, default=100, help="environments in lockstep at evaluation")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--weights", help="evaluate this trained agent (e.g. weights/navigation_gotolocal.safetensors) "
                                          "instead of the fresh model")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes (smoke test)")
    args = parser.parse_args()
    if args.dry_run:
        args.episodes, args.batch, args.eval_episodes, args.envs, args.repeats = 8, 4, 4, 4, 1
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"level {args.level}, torch threads {args.threads}, cores {nav_env.cpu_count()}")
    print(machine_line())

    print("\n== bot demonstrations ==")
    load = Load()
    rates = {}
    for workers in (1, 2):
        start = time.perf_counter()
        demos = generate_demonstrations(args.level, args.episodes, workers=workers, chunk_size=max(1, args.episodes // 8))
        seconds = time.perf_counter() - start
        rates[workers] = (len(demos) / seconds, demos.num_frames / seconds)
        print(f"  {workers} worker(s): {rates[workers][0]:8.1f} demos/s  {rates[workers][1]:9.1f} frames/s  "
              f"({len(demos)} demos, {demos.num_frames} frames, {seconds:.2f} s)")
    print(f"  ratio 2 workers / 1 worker: {rates[2][0] / rates[1][0]:.2f}x  (one run each, {load.stop()})")

    print("\n== training (imitation, one update per batch) ==")
    vocab = build_mission_vocabulary(demos.missions)
    dataset = EpisodeDataset(demos, vocab)
    batch = collate_episodes([dataset[i] for i in range(min(args.batch, len(dataset)))], pad_id=vocab.pad_id)
    frames = int(batch["lengths"].sum())
    model = NavigationModel(NavigationModelConfig(num_words=len(vocab), pad_id=vocab.pad_id)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    params = sum(p.numel() for p in model.parameters())

    def update(loss_fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            optimizer.zero_grad(set_to_none=True)
            loss_fn().backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
        return run

    with torch.no_grad():
        model.eval()
        check = abs(model(batch)["loss"].item() - per_step_loss(model, batch).item())
        model.train()
    with Load() as load:
        runs = {"per step": update(lambda: per_step_loss(model, batch))}
        rounds = interleaved({**runs, "library": update(lambda: model(batch)["loss"])}, args.repeats)
    library, naive = rounds.median("library"), rounds.median("per step")
    print(f"  model {params / 1e3:.0f}K parameters; batch {len(batch['lengths'])} episodes, {frames} frames "
          f"(padded to {int(batch['lengths'].max())} steps); |loss difference| {check:.2e}")
    print(f"  library (fused memory over episodes): {frames / library:9.1f} frames/s  ({library * 1e3:.1f} ms/update)")
    print(f"  baseline (per-step act loop):         {frames / naive:9.1f} frames/s  ({naive * 1e3:.1f} ms/update)")
    print(f"  speed ratio library / per step: {ratio_text(rounds.ratio('per step', 'library'))}  ({load})")

    print("\n== evaluation (greedy episodes on held-out seeds) ==")
    agent = NavigationAgent(model.eval(), vocab, {"level": args.level})
    if args.weights:
        agent = NavigationAgent.from_checkpoint(args.weights)
        print(f"  agent: {args.weights} (trained on {agent.info.get('level')})")
    seeds = [nav_env.EVAL_SEED_OFFSET + i for i in range(args.eval_episodes)]
    steps: dict[int, int] = {}

    def play(envs: int) -> Callable[[], None]:
        def run() -> None:
            steps[envs] = sum(r.length for r in run_episodes(agent, args.level, seeds, batch_size=envs))

        return run

    with Load() as load:
        played = interleaved({"1": play(1), str(args.envs): play(args.envs)}, max(1, args.repeats - 2))
    for envs in (args.envs, 1):
        seconds = played.median(str(envs))
        print(f"  {envs:4d} env(s) in lockstep: {steps[envs] / seconds:9.1f} agent steps/s  "
              f"({len(seeds) / seconds:7.1f} episodes/s, {steps[envs]} steps)")
    note = "" if args.weights else " (untrained agent: episodes mostly run to the step limit)"
    print(f"  time ratio one at a time / lockstep: {ratio_text(played.ratio('1', str(args.envs)))}  ({load}){note}")


if __name__ == "__main__":
    main()
