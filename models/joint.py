"""The cascade's MuLan (``models.mulan``, trained by ``mck train mulan``) as a joint
model: ``mcc_mulan`` with ``--mcc-checkpoint OUT/model.pt``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.bench import device
from musiccaps_kit.bench.embedders.base import Embedder
from musiccaps_kit.bench.joint import text_encoder
from musiccaps_kit.bench.joint.base import JointModel
from musiccaps_kit.checksums import checksum_files
from musiccaps_kit.models.loaders import load_mulan


class MulanAudio(Embedder):
    name = "mulan-audio"

    def __init__(self, model, checkpoint: Path):
        self.model, self.checkpoint = model, checkpoint
        self.rate = model.rate
        self._checksum = checksum_files([checkpoint])

    def embed(self, wave: np.ndarray) -> np.ndarray:
        return self.model.window_embeddings(wave).cpu().numpy()

    def weights_checksum(self) -> str:
        return self._checksum

    def settings(self) -> dict[str, Any]:
        c = self.model.config
        return {
            "checkpoint": str(self.checkpoint),
            "windowing": f"{c.window_s:g} s windows, {c.hop_s:g} s hop; clip = their mean",
            "normalisation": "log-mel, 64 bands",
        }


class MulanJoint(JointModel):
    name = "mulan"

    def __init__(self, checkpoint: str | None = None):
        if not checkpoint:
            raise ValueError("mulan needs the model.pt of `mck train mulan` (--mcc-checkpoint)")
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"MuLan checkpoint {path} not found")
        self.model = device.place(load_mulan(path))
        self.audio = MulanAudio(self.model, path)

    def text(self, captions: Sequence[str]) -> np.ndarray:
        import torch

        sentences = device.to_device(text_encoder.encode(captions))
        with torch.no_grad():
            return self.model.text_embedding(sentences).cpu().numpy()

    def text_recipe(self) -> dict[str, Any]:
        return {**text_encoder.recipe(), "projection_sha256": self.audio.weights_checksum()}
