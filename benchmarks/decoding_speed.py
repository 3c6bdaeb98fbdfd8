"""Throughput of batched beam search and greedy decoding on a synthetic GRU decoder.

Beam search runs all B items at once (B * beam_size rows per step); the baseline runs the same
``beam_search`` one item at a time on the first ``--baseline-items`` items. Reports items per
second and the speed-up of batching.

    python benchmarks/decoding_speed.py                 # B=64, beams 3 and 5, V=1000, T=16, CPU
    python benchmarks/decoding_speed.py --device cuda --repeats 5
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch import nn

from multimodal_rnn.decoding import beam_search, greedy_decode, select_state

BOS_ID, EOS_ID = 1, 2


class SyntheticDecoder(nn.Module):
    """Embedding -> GRU cell -> linear -> log-softmax, with state ``{"hidden": (B, hidden_size)}``."""

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.cell = nn.GRUCell(embedding_size, hidden_size)
        self.output = nn.Linear(hidden_size, vocab_size)

    def step(self, tokens: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        """tokens (B,) -> logprobs (B, V) and the next state."""
        hidden = self.cell(self.embedding(tokens), state["hidden"])  # (B, H)
        return torch.log_softmax(self.output(hidden), dim=-1), {"hidden": hidden}


def best_time(run: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Fastest wall-clock seconds of ``repeats`` calls after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--beam-sizes", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--vocab-size", type=int, default=1000)
    parser.add_argument("--max-length", type=int, default=16)
    parser.add_argument("--embedding-size", type=int, default=128)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--baseline-items", type=int, default=16, help="items decoded one at a time")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of torch (one gives steadier timings)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    decoder = SyntheticDecoder(args.vocab_size, args.embedding_size, args.hidden_size).to(device).eval()
    state = {"hidden": torch.randn(args.batch_size, args.hidden_size, device=device)}
    items = args.batch_size
    common = dict(bos_id=BOS_ID, eos_id=EOS_ID, max_length=args.max_length)
    print(
        f"device={device} B={items} V={args.vocab_size} T={args.max_length} "
        f"hidden={args.hidden_size} threads={torch.get_num_threads()} repeats={args.repeats}"
    )
    with torch.no_grad():
        greedy_seconds = best_time(
            lambda: greedy_decode(decoder.step, state, batch_size=items, **common), args.repeats, device
        )
        print(f"greedy          batched {items / greedy_seconds:10.1f} items/s")
        for beam_size in args.beam_sizes:
            batched_seconds = best_time(
                lambda: beam_search(decoder.step, state, batch_size=items, beam_size=beam_size, **common),
                args.repeats, device,
            )
            baseline_items = min(args.baseline_items, items)
            single_states = [select_state(state, torch.tensor([item], device=device)) for item in range(baseline_items)]
            single_seconds = best_time(
                lambda: [
                    beam_search(decoder.step, one, batch_size=1, beam_size=beam_size, **common)
                    for one in single_states
                ],
                args.repeats, device,
            )
            batched_rate, single_rate = items / batched_seconds, baseline_items / single_seconds
            print(
                f"beam {beam_size:<2}         batched {batched_rate:10.1f} items/s   "
                f"one-by-one {single_rate:8.1f} items/s   speed-up x{batched_rate / single_rate:.1f}"
            )


if __name__ == "__main__":
    main()
