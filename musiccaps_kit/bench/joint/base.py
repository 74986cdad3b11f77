"""Joint text-audio models behind one interface, for MCC (MuLan cycle consistency).

A joint model maps a caption and a clip into one space: ``text(captions)`` gives one row
per caption, and ``audio`` is an ``Embedder`` whose frames (windows of a clip) live in
the same space; a clip's embedding is the mean of its frames. LAION CLAP from a local
checkpoint and the small ``projection`` model register here; the cascade's MuLan plugs in
through the ``musiccaps_kit.joint_models`` entry point.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from musiccaps_kit.bench.embedders.base import Embedder
from musiccaps_kit.registry import Registry


class JointModel(ABC):
    name: str
    audio: Embedder

    @abstractmethod
    def text(self, captions: Sequence[str]) -> np.ndarray:
        """``[len(captions), dims]`` text embeddings in the joint space."""

    @abstractmethod
    def text_recipe(self) -> dict[str, Any]:
        """The text tower: encoder, weights checksum, tokenisation."""

    def recipe(self) -> dict[str, Any]:
        return {"joint_model": self.name, "audio": self.audio.recipe(), "text": self.text_recipe()}


JOINT_MODELS: Registry[JointModel] = Registry(
    "joint model",
    ("musiccaps_kit.bench.joint.clap", "musiccaps_kit.bench.joint.projection"),
    group="joint_models",
)
register_joint = JOINT_MODELS.register
known_joint_models = JOINT_MODELS.names
make_joint_model = JOINT_MODELS.make
