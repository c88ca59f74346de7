"""Several processes under torchrun: the process group each one joins (the Trainer itself wraps the model in
DistributedDataParallel and shards the data)."""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

from .trainer import resolve_device


def init_distributed(device_name: str = "auto") -> bool:
    """Under torchrun (WORLD_SIZE > 1): start the process group (nccl on CUDA, gloo otherwise). True if started."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    else:  # N processes share the cores: more threads than cores would only thrash
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"]))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return True
