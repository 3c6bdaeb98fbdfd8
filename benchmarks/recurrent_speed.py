"""Our recurrent layer and core against ``torch.nn.RNN/GRU/LSTM`` called as a user would call them.

Baseline: ``torch.nn.LSTM(I, H, batch_first=True)`` (and GRU, RNN with tanh) applied to a
(B, T, I) batch, the output summed for the backward pass. Contenders, on the same weights
(copied into ours, so all compute the same function; the script checks their outputs agree):

- ``layer fused``: :class:`RecurrentLayer` with ``path="fused"`` (wraps the same torch.nn module);
- ``layer loop``: :class:`RecurrentLayer` with ``path="loop"`` (explicit steps in Python);
- ``core step``: :meth:`RecurrentCore.step` called T times, as greedy decoding and beam search do.

Two modes: ``forward`` (under ``torch.no_grad()``, inference) and ``forward+backward`` (training).
For every cell and mode the contenders run in rotating order for ``--repeats`` rounds after a
warm-up; each row gives the contender's median ms per batch, sequences/s, the median of the
per-round ratios torch/ours (above 1: ours is faster) with their spread (min-max), and the load
average before and after the row. The activation memory autograd saves between forward and
backward (parameters excluded) is printed for forward+backward rows.

    OMP_NUM_THREADS=1 python benchmarks/recurrent_speed.py     # B=64, T=20, H=512, 1 thread
    python benchmarks/recurrent_speed.py --cells lstm --device cuda --repeats 10
    python benchmarks/recurrent_speed.py --dry-run             # tiny sizes, a smoke test
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from timing import Load, interleaved, machine_line, ratio_text
from torch import nn

from multimodal_rnn.recurrent import CoreConfig, RecurrentConfig, RecurrentCore, RecurrentLayer

TORCH_MODULES = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def contenders(
    cell: str, args: argparse.Namespace, device: torch.device, parameters: set[int]
) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Functions x (B, T, I) -> outputs (B, T, H) of torch.nn and of our layer and core, on equal
    weights; the data pointers of all their parameters' storages are added to ``parameters``."""
    baseline = TORCH_MODULES[cell](args.input_size, args.hidden_size, num_layers=args.num_layers, batch_first=True)
    baseline = baseline.to(device)
    shared = dict(cell=cell, input_size=args.input_size, hidden_size=args.hidden_size, num_layers=args.num_layers)
    fused = RecurrentLayer(RecurrentConfig(**shared, return_sequences=True, path="fused")).to(device)
    loop = RecurrentLayer(RecurrentConfig(**shared, return_sequences=True, path="loop")).to(device)
    core = RecurrentCore(CoreConfig(**shared)).to(device)
    for ours in (fused.rnn, loop.rnn, core.layer.rnn):
        ours.load_state_dict(baseline.state_dict())
    for module in (baseline, fused, loop, core):
        parameters.update(p.untyped_storage().data_ptr() for p in module.parameters())

    def core_steps(x: torch.Tensor) -> torch.Tensor:
        state = None
        outputs = []
        for t in range(x.shape[1]):
            h_t, state = core.step(x[:, t], state)
            outputs.append(h_t)
        return torch.stack(outputs, dim=1)

    return {
        f"torch.nn.{TORCH_MODULES[cell].__name__}": lambda x: baseline(x)[0],
        "layer fused": fused,
        "layer loop": loop,
        "core step": core_steps,
    }


def saved_activation_bytes(
    function: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, parameters: set[int]
) -> int:
    """Bytes of the distinct storages autograd saves during one forward pass, excluding the storages
    whose ``data_ptr`` is in ``parameters`` (weights and their views, e.g. transposes)."""
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        outputs = function(x)
    outputs.sum().backward()
    return sum(saved.values())


def mode_runner(mode: str, function: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Callable[[], None]:
    """One call of ``function`` on x: under no_grad (``forward``) or with a backward pass of the summed outputs."""

    def forward() -> None:
        with torch.no_grad():
            function(x)

    def forward_backward() -> None:
        function(x).sum().backward()

    return forward if mode == "forward" else forward_backward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", choices=list(TORCH_MODULES), default=list(TORCH_MODULES))
    parser.add_argument(
        "--modes", nargs="+", choices=["forward", "forward+backward"], default=["forward", "forward+backward"]
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="sequence length T")
    parser.add_argument("--input-size", type=int, default=512)
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (one gives steadier timings)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes and two rounds")
    args = parser.parse_args()
    if args.dry_run:
        args.batch_size, args.steps, args.input_size, args.hidden_size, args.repeats = 4, 3, 8, 8, 2
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    synchronize = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None
    x = torch.randn(args.batch_size, args.steps, args.input_size, device=device)
    print(
        f"device={device} B={args.batch_size} T={args.steps} I={args.input_size} H={args.hidden_size} "
        f"layers={args.num_layers} threads={torch.get_num_threads()} rounds={args.repeats} torch={torch.__version__}"
    )
    print(machine_line())
    header = (
        f"{'cell':<5} {'mode':<16} {'contender':<17} {'ms/batch':>9} {'seq/s':>9} {'saved MiB':>9}  torch/ours   load"
    )
    print(header)
    print("-" * len(header))
    for cell in args.cells:
        parameters: set[int] = set()
        functions = contenders(cell, args, device, parameters)
        baseline_name = next(iter(functions))
        with torch.no_grad():
            expected = functions[baseline_name](x)
            for name, function in functions.items():
                difference = (function(x) - expected).abs().max().item()
                if difference > 1e-4:
                    raise SystemExit(f"{cell} {name}: outputs differ from {baseline_name} by {difference:.2e}")
        for mode in args.modes:
            with Load() as load:
                runs = {name: mode_runner(mode, function, x) for name, function in functions.items()}
                rounds = interleaved(runs, args.repeats, synchronize=synchronize)
            for name, function in functions.items():
                median = rounds.median(name)
                saved = (
                    f"{saved_activation_bytes(function, x, parameters) / 2**20:>9.2f}"
                    if mode != "forward"
                    else f"{'':>9}"
                )
                ratio = "" if name == baseline_name else ratio_text(rounds.ratio(baseline_name, name))
                print(
                    f"{cell:<5} {mode:<16} {name:<17} {median * 1e3:>9.2f} {args.batch_size / median:>9.0f} "
                    f"{saved}  {ratio:<22} {load}"
                )


if __name__ == "__main__":
    main()
