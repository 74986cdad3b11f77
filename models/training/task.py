"""The task interface ``models.training.loop`` drives: what one training step means for one
model kind.

A task owns its modules and optimisers by name (``add`` wraps a module in DDP when there
is more than one rank), so checkpoint state is written here once: every module's and
optimiser's state plus what a task adds through ``extra_state``.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP


def autocast(device: torch.device):
    """bfloat16 autocast on CUDA; full precision on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (or the module itself)."""
    return module.module if isinstance(module, DDP) else module


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

    def add(self, name: str, module: nn.Module, **ddp_options: Any) -> nn.Module:
        """Track ``module`` as ``name``, wrapped in DDP when there is more than one rank."""
        wrapped = DDP(module, **ddp_options) if self.world > 1 else module
        self.modules[name] = wrapped
        return wrapped

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

    def state_dict(self) -> dict[str, Any]:
        return {
            "modules": {name: m.state_dict() for name, m in self.trained().items()},
            "optimizers": {name: o.state_dict() for name, o in self.optimizers.items()},
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, module in self.trained().items():
            module.load_state_dict(state["modules"][name])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        self.load_extra_state(state["extra"])
