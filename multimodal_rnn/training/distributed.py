"""Data order and the few torch.distributed helpers the trainer needs.

The trainer owns its sampler (:func:`epoch_batches`): a permutation per epoch drawn from a
generator seeded with ``(seed, epoch)``, sharded across processes the way
``torch.utils.data.DistributedSampler`` does (pad by wrapping around to a multiple of the world
size, then every ``world_size``-th index from ``rank``), then cut into batches. The same call
gives every process its shard and lets a resumed run slice off the batches already done.

Distributed mode is on when ``torch.distributed`` is initialised (e.g. under ``torchrun``; see
:func:`multimodal_rnn.training.launch.torchrun_process_group`). Without it every helper behaves as
a single process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


def derived_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers (e.g. ``(seed, epoch)``) with NumPy's SeedSequence."""
    words = np.random.SeedSequence([int(p) % 2**63 for p in parts]).generate_state(2, dtype=np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


def epoch_batches(
    dataset_size: int,
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    rank: int = 0,
    world_size: int = 1,
    drop_last: bool = False,
) -> list[list[int]]:
    """Index batches of one epoch for process ``rank``: shuffled, sharded, batched.

    Every process gets ``ceil(dataset_size / world_size)`` indices (a few repeated when the size
    does not divide), hence the same number of batches. The last batch is smaller unless
    ``drop_last``.
    """
    if dataset_size <= 0:
        raise ValueError(f"dataset_size must be positive, got {dataset_size}")
    generator = torch.Generator().manual_seed(derived_seed(seed, epoch))
    order = torch.randperm(dataset_size, generator=generator)
    shard = shard_indices(order, rank, world_size).tolist()
    stop = len(shard) - len(shard) % batch_size if drop_last else len(shard)
    return [shard[i : i + batch_size] for i in range(0, stop, batch_size)]


def shard_indices(indices: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """The ``rank``-th of ``world_size`` equal shards of 1-D ``indices`` (wrap-around padding, strided)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside world size {world_size}")
    padding = (-len(indices)) % world_size
    if padding:
        repeats = -(-padding // len(indices))
        indices = torch.cat([indices, indices.repeat(repeats)[:padding]])
    return indices[rank::world_size]


def is_distributed() -> bool:
    """True when a torch.distributed process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """True on rank 0: the only process that writes checkpoints and logs."""
    return rank() == 0


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` wrapped in DistributedDataParallel when distributed, else ``model`` itself."""
    if not is_distributed():
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def communication_device(device: torch.device) -> torch.device:
    """Where collective tensors must live: the CUDA device for NCCL, the CPU otherwise."""
    return device if is_distributed() and dist.get_backend() == "nccl" else torch.device("cpu")


def all_reduce_mean(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Mean of each value over all processes (identity when not distributed); same keys on every rank."""
    if not is_distributed() or not values:
        return dict(values)
    names = sorted(values)
    packed = torch.tensor([float(values[n]) for n in names], dtype=torch.float64, device=communication_device(device))
    dist.all_reduce(packed, op=dist.ReduceOp.SUM)
    packed /= dist.get_world_size()
    return dict(zip(names, packed.tolist()))


def all_true(flag: bool, device: torch.device) -> bool:
    """True when ``flag`` is true on every process (logical AND; ``flag`` itself when not distributed).

    Lets the processes take one decision together (e.g. skip a batch that any of them cannot use),
    so that none of them waits in a collective the others never reach.
    """
    if not is_distributed():
        return bool(flag)
    packed = torch.tensor([1 if flag else 0], dtype=torch.int32, device=communication_device(device))
    dist.all_reduce(packed, op=dist.ReduceOp.MIN)
    return bool(packed.item())


def all_gather_tensors(tensors: dict[str, torch.Tensor], device: torch.device) -> list[dict[str, torch.Tensor]]:
    """Every process's ``tensors`` (same keys and shapes on all ranks), in rank order, on the CPU."""
    if not is_distributed():
        return [dict(tensors)]
    gathered: list[dict[str, torch.Tensor]] = [{} for _ in range(dist.get_world_size())]
    comm = communication_device(device)
    for name in sorted(tensors):
        local = tensors[name].to(comm)
        parts = [torch.empty_like(local) for _ in gathered]
        dist.all_gather(parts, local)
        for process, part in zip(gathered, parts):
            process[name] = part.cpu()
    return gathered


def barrier() -> None:
    """Wait for every process (no-op when not distributed)."""
    if is_distributed():
        dist.barrier()


@contextmanager
def main_process_first() -> Iterator[None]:
    """Run the body on rank 0 first, then on the others (e.g. build a shared cache once, then reuse it).

    The other processes wait at a barrier until rank 0 has left the body. If rank 0 raises, it does
    not reach the barrier; the launcher (``torchrun``) then stops the waiting processes.
    """
    if not is_main_process():
        barrier()
    yield
    if is_main_process():
        barrier()
