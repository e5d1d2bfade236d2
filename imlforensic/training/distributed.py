"""Data-parallel training under ``torchrun`` (PyTorch DDP): the process group and its helpers.

``torchrun --nproc_per_node N -m imlforensic train ...`` starts N processes with ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE`` set; :func:`context` reads them. Without them (a plain
``imlforensic train``) nothing here runs and training is the single-process code, unchanged.

* backend ``nccl`` on CUDA (process ``LOCAL_RANK`` on GPU ``LOCAL_RANK``), ``gloo`` on CPU;
* ``--batch-size`` stays the *global* batch: each process takes ``batch / N`` samples of it, the
  same samples a single process would take for that step (:meth:`TrainingStream.shard`), and
  DDP averages the gradients, so a step sees the same data as a single-process step;
* batch normalisation is synchronised across processes on CUDA (``SyncBatchNorm``); PyTorch has
  no synchronised batch norm on CPU, so there each process normalises with its own part of the
  batch (the loss then differs from a single process's by that noise, docs/benchmarks/scale.md);
* the logged loss is the mean over processes (the global batch's loss); validation, the
  checkpoint, the resume state and the log are written by rank 0 only, the others wait.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    local_rank: int = 0
    world: int = 1

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


SINGLE = DistContext()


def context() -> DistContext:
    """The process's place in a ``torchrun`` launch (:data:`SINGLE` outside one)."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return SINGLE
    return DistContext(
        rank=int(os.environ.get("RANK", "0")), local_rank=int(os.environ.get("LOCAL_RANK", "0")), world=world
    )


def setup(dist_context: DistContext, device: str, batch_size: int) -> str:
    """Join the process group; returns this process's device. Raises ``ValueError`` for a global
    batch that the processes cannot share evenly."""
    if batch_size % dist_context.world:
        raise ValueError(
            f"the batch size ({batch_size}, the global batch) must be a multiple of the {dist_context.world} processes"
        )
    cuda = device.startswith("cuda")
    if cuda:
        device = f"cuda:{dist_context.local_rank}"
        torch.cuda.set_device(device)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if cuda else "gloo")
    return device


def wrap(model: torch.nn.Module, dist_context: DistContext, device: str) -> torch.nn.Module:
    """The model in DDP (with synchronised batch norm on CUDA); the model itself outside torchrun."""
    if not dist_context.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if device.startswith("cuda"):
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[torch.device(device).index])
    return DistributedDataParallel(model)


def mean_over_processes(value: torch.Tensor, dist_context: DistContext) -> float:
    """The mean of a scalar over the processes (the value itself outside torchrun)."""
    if not dist_context.active:
        return float(value.item())
    reduced = value.detach().clone().float()
    torch.distributed.all_reduce(reduced)
    return float(reduced.item()) / dist_context.world


def barrier(dist_context: DistContext) -> None:
    if dist_context.active:
        torch.distributed.barrier()


def teardown(dist_context: DistContext) -> None:
    if dist_context.active and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
