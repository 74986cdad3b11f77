"""The embedder interface: waveform + rate in, ``[frames, dims]`` out, plus a recipe.

Every number computed from an embedding carries the embedder's recipe: its name, input
rate, resampler, windowing, normalisation, output, and a checksum of its weights.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from musiccaps_kit.audio import resample
from musiccaps_kit.bench import device
from musiccaps_kit.bench.audio_paths import SOXR, AudioPath
from musiccaps_kit.registry import Registry


class Embedder(ABC):
    """A frozen model that maps a mono waveform to a sequence of embedding frames."""

    name: str
    rate: int
    # how a clip file reaches this model: the path of the tool whose loader it follows
    audio_path: AudioPath = SOXR

    def __call__(self, wave: np.ndarray, rate: int) -> np.ndarray:
        """Embed a mono float waveform at ``rate`` (resampled to the model's rate first)."""
        return self.batch([wave], rate)[0]

    def batch(self, waves: Sequence[np.ndarray], rate: int) -> list[np.ndarray]:
        """Embed several clips at once: models that batch across clips run one pass."""
        if not waves:
            return []
        ready = []
        for wave in waves:
            wave = np.asarray(wave, dtype=np.float32)
            if wave.ndim != 1:
                raise ValueError(f"{self.name}: expected a mono waveform, got shape {wave.shape}")
            if not np.isfinite(wave).all():
                raise ValueError(f"{self.name}: the waveform has NaN or infinite samples")
            ready.append(resample(wave, rate, self.rate))
        return [self._checked(frames) for frames in self.embed_many(ready)]

    def _checked(self, frames: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 2 or not len(frames):
            raise ValueError(f"{self.name}: model returned shape {frames.shape}")
        if not np.isfinite(frames).all():
            raise ValueError(f"{self.name}: model returned NaN or infinite embeddings")
        return frames

    @abstractmethod
    def embed(self, wave: np.ndarray) -> np.ndarray:
        """Embed a waveform already at ``self.rate``."""

    def embed_many(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """Embed waveforms already at ``self.rate``; override to batch across clips."""
        return [self.embed(wave) for wave in waves]

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """What shapes the output besides the weights: windowing, normalisation, output."""

    @abstractmethod
    def weights_checksum(self) -> str:
        """sha256 of the weight files: a changed checkpoint never reuses cached values."""

    def weights_name(self) -> str | None:
        """The file, folder, hub id or handle the weights come from, as the user gave it
        (a column claims a published protocol only with that protocol's release)."""
        return None

    def recipe(self) -> dict[str, Any]:
        # a faster precision than float32 changes the frames: it keys the cache apart
        faster = {} if device.precision() == "float32" else {"precision": device.precision()}
        return {
            **faster,
            "embedder": self.name,
            "rate": self.rate,
            "audio_path": self.audio_path.name,
            "resampler": self.audio_path.resampler,
            **self.settings(),
            "weights_sha256": self.weights_checksum(),
        }


EMBEDDERS: Registry[Embedder] = Registry(
    "embedder",
    (
        "musiccaps_kit.bench.embedders.clap",
        "musiccaps_kit.bench.embedders.encodec",
        "musiccaps_kit.bench.embedders.leaf",
        "musiccaps_kit.bench.embedders.musicnn",
        "musiccaps_kit.bench.embedders.openl3",
        "musiccaps_kit.bench.embedders.passt",
        "musiccaps_kit.bench.embedders.tfhub",
    ),
)
register = EMBEDDERS.register
known_embedders = EMBEDDERS.names
make_embedder = EMBEDDERS.make
