"""Joining the process group that ``torchrun`` prepares: backend, device per process, clean exit.

``torchrun --nproc_per_node=N ...`` starts N processes and gives each of them ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in its environment.
:func:`torchrun_process_group` reads them (:func:`torchrun_environment`), picks the backend (NCCL
for CUDA, gloo for the CPU), binds the process to GPU ``LOCAL_RANK``, initialises
``torch.distributed`` and destroys the group on exit. Inside it, the
:class:`~multimodal_rnn.training.trainer.Trainer` runs DistributedDataParallel by itself (see
:mod:`multimodal_rnn.training.distributed`).

Typical use (an app's ``main``)::

    with torchrun_process_group("auto") as device:     # cuda:<LOCAL_RANK> or cpu
        Trainer(model, replace(config, device=str(device)), ...).fit()
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from multimodal_rnn.errors import ConfigError
from multimodal_rnn.training.distributed import is_main_process

__all__ = ["TorchrunEnvironment", "is_main_process", "torchrun_environment", "torchrun_process_group"]

TORCHRUN_VARIABLES: tuple[str, ...] = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
"""Environment variables ``torchrun`` sets for every process it starts."""


@dataclass(frozen=True)
class TorchrunEnvironment:
    """Where this process sits: global ``rank`` of ``world_size``, ``local_rank`` on its machine."""

    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int


def torchrun_environment(environ: Mapping[str, str] | None = None) -> TorchrunEnvironment:
    """This process's place in the run, read from ``environ`` (default ``os.environ``) as torchrun sets it.

    Raises:
        ConfigError: a variable is missing (the process was not started by ``torchrun``) or invalid.
    """
    environ = os.environ if environ is None else environ
    missing = [name for name in TORCHRUN_VARIABLES if not environ.get(name)]
    if missing:
        raise ConfigError(
            f"distributed training needs the environment torchrun sets ({', '.join(missing)} missing): "
            f"start it with `torchrun --nproc_per_node=N ...`"
        )
    try:
        numbers = {name: int(environ[name]) for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    except ValueError:
        values = ", ".join(f"{name}={environ[name]!r}" for name in TORCHRUN_VARIABLES)
        raise ConfigError(f"distributed training: torchrun environment has a non-integer value ({values})") from None
    env = TorchrunEnvironment(
        rank=numbers["RANK"],
        world_size=numbers["WORLD_SIZE"],
        local_rank=numbers["LOCAL_RANK"],
        master_addr=environ["MASTER_ADDR"],
        master_port=numbers["MASTER_PORT"],
    )
    if not (env.world_size >= 1 and 0 <= env.rank < env.world_size and 0 <= env.local_rank <= env.rank):
        raise ConfigError(
            f"distributed training: inconsistent torchrun environment RANK={env.rank} "
            f"WORLD_SIZE={env.world_size} LOCAL_RANK={env.local_rank}"
        )
    return env


def process_device(requested: str, local_rank: int) -> torch.device:
    """The device of the process with ``local_rank``: ``cuda:<local_rank>`` or ``cpu``.

    ``requested`` is ``auto`` (CUDA if available), ``cpu`` or ``cuda``; an explicit ``cuda:<index>``
    is refused because every process would pick the same GPU (choose GPUs with ``CUDA_VISIBLE_DEVICES``).
    """
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cpu":
        return torch.device("cpu")
    if requested != "cuda":
        raise ConfigError(
            f"distributed training: device must be auto, cpu or cuda (process i uses GPU LOCAL_RANK i; "
            f"choose GPUs with CUDA_VISIBLE_DEVICES), got {requested!r}"
        )
    if not torch.cuda.is_available():
        raise ConfigError("distributed training: device 'cuda' but CUDA is not available")
    if local_rank >= torch.cuda.device_count():
        raise ConfigError(
            f"distributed training: LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPU(s) "
            f"are visible; start at most that many processes per machine"
        )
    return torch.device("cuda", local_rank)


def backend_for(device: torch.device) -> str:
    """``nccl`` for a CUDA device, ``gloo`` for the CPU."""
    return "nccl" if device.type == "cuda" else "gloo"


@contextmanager
def torchrun_process_group(
    requested_device: str = "auto",
    *,
    timeout: timedelta = timedelta(hours=2),
) -> Iterator[torch.device]:
    """Join the torchrun process group for the body; yields this process's device.

    Initialises ``torch.distributed`` from ``os.environ`` (``env://``, which also reuses the
    rendezvous store that torchrun's agent already hosts), with NCCL when the device is CUDA
    (after ``torch.cuda.set_device(LOCAL_RANK)``) and gloo otherwise, and destroys the group when
    the body ends, normally (after a barrier) or not. Objects that still use the group (a
    :class:`~multimodal_rnn.training.trainer.Trainer`) should not outlive the body.

    ``timeout`` bounds how long a collective waits for the other processes before the run fails
    instead of hanging; the default is long because the other processes wait while rank 0 alone
    builds shared data (the shapes world, a feature cache).

    Raises:
        ConfigError: not started by torchrun, a device that cannot be used, or a group already initialised.
    """
    env = torchrun_environment()
    if dist.is_initialized():
        raise ConfigError("distributed training: a process group is already initialised in this process")
    device = process_device(requested_device, env.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend_for(device), init_method="env://", rank=env.rank, world_size=env.world_size, timeout=timeout
    )
    try:
        yield device
        dist.barrier()  # every process is done before any leaves (rank 0 may host the rendezvous store)
    finally:
        # Free what still holds the group (DistributedDataParallel wrappers sit in reference cycles)
        # while every process is connected; left to interpreter exit, gloo can abort the process.
        gc.collect()
        dist.destroy_process_group()
