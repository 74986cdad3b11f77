"""The task interface ``models.training.loop`` drives: what one training step means for one
model kind.

A task owns its modules and optimisers by name, so checkpoint state is written here once:
every module's and optimiser's state plus what a task adds through ``extra_state``.
``add`` prepares a module for the run: with more than one rank, DDP (every weight on every
rank) or FSDP2 (``fully_shard``: each block's parameters, gradients and Adam state split
across ranks); then ``torch.compile`` when the run compiles (the default on CUDA).
Checkpoint state is always the *full* state (gathered from the shards with
``torch.distributed.checkpoint.state_dict``), so a run resumes on any number of processes,
with DDP or FSDP, or on one process without either.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

DISTRIBUTED = ("ddp", "fsdp")


def autocast(device: torch.device):
    """bfloat16 autocast on CUDA; full precision on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside ``torch.compile`` and DDP wrappers (FSDP2 shards in place)."""
    module = getattr(module, "_orig_mod", module)
    return module.module if isinstance(module, DDP) else module


def shard(module: nn.Module, device: torch.device) -> nn.Module:
    """FSDP2 across every rank: each block of each ``nn.ModuleList`` (the transformer and
    conv stacks) is its own unit, innermost first, then the rest of the module."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    for child in reversed(list(module.modules())):  # descendants before their parents
        if isinstance(child, nn.ModuleList):
            for block in child:
                if any(p.requires_grad for p in block.parameters()):
                    fully_shard(block, mesh=mesh)
    fully_shard(module, mesh=mesh)
    return module


def fused_available(device: torch.device) -> bool:
    """Fused Adam(W) steps (one kernel for all parameters) where torch has them."""
    return device.type == "cuda"


class Task:
    """Subclasses set ``rate`` (the audio crops' sample rate, or the token frame rate),
    build their modules with ``add`` and optimisers in ``optimizers``, and implement
    ``train_step`` and ``export``."""

    rate: int

    def __init__(self, train: dict[str, Any], device: torch.device, world: int):
        self.train_config, self.device, self.world = train, device, world
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.bank: Any = None
        self.distributed = train.get("distributed") or "ddp"
        if self.distributed not in DISTRIBUTED:
            raise ValueError(f"distributed must be one of {DISTRIBUTED}, not {self.distributed!r}")
        compile_default = device.type == "cuda"
        self.compile = bool(train.get("compile", compile_default))
        self.compile_mode = train.get("compile_mode", "default")

    def add(self, name: str, module: nn.Module, **ddp_options: Any) -> nn.Module:
        """Track ``module`` as ``name``: sharded (FSDP2) or wrapped in DDP when there is more
        than one rank, then compiled when the run compiles."""
        wrapped = module
        if self.world > 1:
            wrapped = (
                shard(module, self.device)
                if self.distributed == "fsdp"
                else DDP(module, **ddp_options)
            )
        if self.compile:
            wrapped = torch.compile(wrapped, mode=self.compile_mode)
        self.modules[name] = wrapped
        return wrapped

    def adam(self, params, adamw: bool = True, **options: Any) -> torch.optim.Optimizer:
        """Adam or AdamW over ``params``, fused where the device has it."""
        kind = torch.optim.AdamW if adamw else torch.optim.Adam
        return kind(params, fused=fused_available(self.device) or None, **options)

    def prepare(self, bank: Any) -> None:
        """Called once with what the task trains on, before the first step."""
        self.bank = bank

    def train_step(self, batch: Any, step: int) -> dict[str, float]:
        raise NotImplementedError

    def export(self, path: Path) -> None:
        """Write the inference ``model.pt``."""
        raise NotImplementedError

    def trained(self) -> dict[str, nn.Module]:
        """The modules this task trains, by name (unwrapped from DDP)."""
        return {name: unwrap(module) for name, module in self.modules.items()}

    def extra_state(self) -> dict[str, Any]:
        """State beyond modules and optimisers (centroids, a teacher...)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def _owner(self, optimizer: torch.optim.Optimizer) -> nn.Module:
        """The trained module whose parameters ``optimizer`` steps."""
        first = optimizer.param_groups[0]["params"][0]
        for module in self.trained().values():
            if any(p is first for p in module.parameters()):
                return module
        raise ValueError("an optimiser steps parameters of no module the task tracks")

    def state_dict(self) -> dict[str, Any]:
        """Full (unsharded) module and optimiser state on every rank, parameters by name:
        any world size, DDP or FSDP, loads it."""
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        full = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return {
            "modules": {
                name: get_model_state_dict(m, options=full) for name, m in self.trained().items()
            },
            "optimizers": {
                name: get_optimizer_state_dict(self._owner(o), o, options=full)
                for name, o in self.optimizers.items()
            },
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        full = StateDictOptions(full_state_dict=True)
        # a parameter no step has used yet (the semantic model's second head) has no Adam
        # state: that is not an error
        lenient = StateDictOptions(full_state_dict=True, strict=False)
        for name, module in self.trained().items():
            set_model_state_dict(module, state["modules"][name], options=full)
        for name, optimizer in self.optimizers.items():
            saved = state["optimizers"][name]
            if all(isinstance(k, int) for k in saved.get("state", {})):
                optimizer.load_state_dict(saved)  # written before parameters were named
            else:
                owner = self._owner(optimizer)
                set_optimizer_state_dict(owner, optimizer, saved, options=lenient)
        self.load_extra_state(state["extra"])
