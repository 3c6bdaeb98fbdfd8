"""Forward+backward throughput of RecurrentLayer's fused and loop paths for rnn, gru and lstm.

Both paths run in the same process on layers holding the same weights. For each cell the table
gives sequences/s and tokens/s (best of ``--repeats`` timed iterations after one warm-up),
the activation memory saved for backward (bytes of the distinct tensors autograd keeps between
forward and backward, parameters excluded), and the fused/loop ratios of both. The process peak
RSS of the whole run is printed at the end.

    python benchmarks/recurrent_speed.py                     # B=64, T=20, H=512, CPU, < 1 min
    python benchmarks/recurrent_speed.py --cells lstm --device cuda --repeats 10
    python benchmarks/recurrent_speed.py --dry-run           # tiny sizes, a smoke test
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import time

import torch

from multimodal_rnn.recurrent import RecurrentConfig, RecurrentLayer


def train_step(layer: RecurrentLayer, x: torch.Tensor) -> None:
    """One forward+backward pass over x (B, T, I)."""
    layer.zero_grad(set_to_none=True)
    layer(x).sum().backward()


def best_seconds(layer: RecurrentLayer, x: torch.Tensor, repeats: int) -> float:
    """Fastest wall-clock seconds of ``repeats`` forward+backward passes after one warm-up."""
    train_step(layer, x)
    times = []
    for _ in range(repeats):
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        start = time.perf_counter()
        train_step(layer, x)
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        times.append(time.perf_counter() - start)
    return min(times)


def saved_activation_bytes(layer: RecurrentLayer, x: torch.Tensor) -> int:
    """Bytes of the distinct non-parameter storages autograd saves during one forward pass."""
    parameter_storages = {p.untyped_storage().data_ptr() for p in layer.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameter_storages:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        outputs = layer(x)
    outputs.sum().backward()
    return sum(saved.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", choices=["rnn", "gru", "lstm"], default=["rnn", "gru", "lstm"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="sequence length T")
    parser.add_argument("--input-size", type=int, default=512)
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes and one repeat")
    args = parser.parse_args()
    if args.dry_run:
        args.batch_size, args.steps, args.input_size, args.hidden_size, args.repeats = 4, 3, 8, 8, 1
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    x = torch.randn(args.batch_size, args.steps, args.input_size, device=device)
    tokens = args.batch_size * args.steps
    print(
        f"device={device} B={args.batch_size} T={args.steps} I={args.input_size} H={args.hidden_size} "
        f"layers={args.num_layers} threads={torch.get_num_threads()} repeats={args.repeats} torch={torch.__version__}"
    )
    header = f"{'cell':<5} {'path':<6} {'seq/s':>10} {'tokens/s':>11} {'ms/iter':>9} {'saved MiB':>10}  fused/loop"
    print(header)
    print("-" * len(header))
    for cell in args.cells:
        config = RecurrentConfig(
            cell=cell, input_size=args.input_size, hidden_size=args.hidden_size,
            num_layers=args.num_layers, return_sequences=True, path="fused",
        )
        fused = RecurrentLayer(config).to(device)
        loop = RecurrentLayer(dataclasses.replace(config, path="loop")).to(device)
        loop.load_state_dict(fused.state_dict())
        results = {}
        for path, layer in (("fused", fused), ("loop", loop)):
            results[path] = (best_seconds(layer, x, args.repeats), saved_activation_bytes(layer, x))
        for path in ("fused", "loop"):
            seconds, saved = results[path]
            ratio = ""
            if path == "fused":
                speed_ratio = results["loop"][0] / seconds
                memory_ratio = saved / max(results["loop"][1], 1)
                ratio = f"speed x{speed_ratio:.2f}, memory x{memory_ratio:.2f}"
            print(
                f"{cell:<5} {path:<6} {args.batch_size / seconds:>10.1f} {tokens / seconds:>11.0f} "
                f"{seconds * 1e3:>9.2f} {saved / 2**20:>10.2f}  {ratio}"
            )
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    peak_mib = peak_kib / 2**20 if sys.platform == "darwin" else peak_kib / 2**10
    print(f"process peak RSS (whole run): {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
