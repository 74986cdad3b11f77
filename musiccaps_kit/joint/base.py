"""Joint text-audio models behind one interface, for MCC (MuLan cycle consistency).

A joint model maps a caption and a clip into one space: ``text(captions)`` gives one row
per caption, and ``audio`` is an ``Embedder`` whose frames (windows of a clip) live in
the same space; a clip's embedding is the mean of its frames. The cascade's MuLan, LAION
CLAP from a local checkpoint, and the small ``projection`` model plug in here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from musiccaps_kit.embedders.base import Embedder


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


JOINT_MODELS: dict[str, Callable[..., JointModel]] = {}


def register_joint(name: str):
    def add(factory):
        JOINT_MODELS[name] = factory
        return factory

    return add


def known_joint_models() -> list[str]:
    from musiccaps_kit.joint import clap, projection  # noqa: F401

    return sorted(JOINT_MODELS)


def make_joint_model(name: str, **options: Any) -> JointModel:
    if name not in known_joint_models():
        raise ValueError(f"unknown joint model {name!r}: known are {known_joint_models()}")
    return JOINT_MODELS[name](**options)
