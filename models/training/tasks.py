"""The model kinds ``mck train`` knows, by name, and the task that trains each."""

from __future__ import annotations

import torch

from musiccaps_kit.models.training.codec import CodecTask
from musiccaps_kit.models.training.melody import MelodyTask
from musiccaps_kit.models.training.mulan import MulanTask
from musiccaps_kit.models.training.semantic import SemanticTask
from musiccaps_kit.models.training.stages import StagesTask
from musiccaps_kit.models.training.task import Task

TASKS: dict[str, type[Task]] = {
    "codec": CodecTask,
    "mulan": MulanTask,
    "semantic": SemanticTask,
    "stages": StagesTask,
    "melody": MelodyTask,
}


def make_task(kind: str, model: dict, train: dict, device: torch.device, world: int) -> Task:
    """The task of ``kind`` built from a preset's ``model`` and ``train`` sections."""
    if kind not in TASKS:
        raise ValueError(f"unknown model kind {kind!r}: known are {sorted(TASKS)}")
    return TASKS[kind](model, train, device, world)
