"""OpenL3 embeddings as stable-audio-metrics' ``openl3_fd.py`` takes them (``fd_openl3``,
``fad_openl3``, ``kad_openl3``).

Each file arrives by the ``SAO_OPENL3`` path: loaded at its own rate with its channels,
peak-normalised to -1 dBFS over all of them (``pyloudnorm.normalize.peak``), resampled
with soxr HQ to the evaluation rate (``rate``, 44.1 kHz in the tool's examples). Then, as
``extract_embeddings`` (its batched mode, which its examples use): ``channels=2`` embeds
the left and right channels apart and concatenates them (1,024-d), a mono file's one
channel twice; ``channels=1`` gives openl3 the channels, which it averages (512-d). openl3
itself resamples each channel to 48 kHz (resampy ``kaiser_best``) and cuts 1 s windows
every 0.5 s (``openl3_network``).

``weights`` is openl3's ``openl3_audio_mel256_music.h5`` (or its arrays as ``.npz``); with
none, its release, fetched by name (``model_store``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.audio import RESAMPLER
from musiccaps_kit.bench import device, model_store, releases
from musiccaps_kit.bench.audio_paths import SAO_OPENL3
from musiccaps_kit.bench.embedders.base import Embedder, register
from musiccaps_kit.bench.embedders.openl3_network import RATE, OpenL3WeightsError, load, windows
from musiccaps_kit.bench.resamplers import resample_with, resampy_kaiser_best
from musiccaps_kit.checksums import checksum_files

HOP_SECONDS = 0.5  # stable-audio-metrics' openl3_hop_size
WINDOWS_PER_PASS = 64


@register("openl3")
class OpenL3(Embedder):
    name = "openl3"
    audio_path = SAO_OPENL3

    def __init__(self, weights: str | None = None, rate: int = 44100, channels: int = 2):
        weights = weights or model_store.fetch(releases.OPENL3_MEL256_MUSIC)
        if channels not in (1, 2):
            raise ValueError(f"--openl3-channels {channels}: 1 or 2")
        if not 0 < int(rate) <= RATE:
            raise ValueError(f"--openl3-rate {rate}: between 1 and 48000 Hz")
        self.weights = Path(weights)
        if not self.weights.is_file():
            raise OpenL3WeightsError(f"--openl3-weights {weights}: no such file")
        from musiccaps_kit.bench.embedders.openl3_network import check_variant

        check_variant(self.weights)
        self.rate, self.channels = int(rate), int(channels)
        self._checksum = checksum_files([self.weights])
        self._net = None

    @property
    def net(self):
        """The network, read from the file on first use (a cached run never reads it)."""
        if self._net is None:
            self._net = device.place(load(self.weights))
        return self._net

    def batch(self, waves: Sequence[np.ndarray], rate: int) -> list[np.ndarray]:
        """Embed ``[channels, samples]`` (or mono) clips; clips at another rate than the
        evaluation rate are resampled to it with soxr HQ first, as the tool does."""
        if not waves:
            return []
        ready = []
        for wave in waves:
            wave = np.atleast_2d(np.asarray(wave, dtype=np.float32))
            if not np.isfinite(wave).all():
                raise ValueError(f"{self.name}: the waveform has NaN or infinite samples")
            ready.append(resample_with(RESAMPLER, wave, rate, self.rate))
        return [self._checked(frames) for frames in self.embed_many(ready)]

    def embed(self, wave: np.ndarray) -> np.ndarray:
        return self.embed_many([wave])[0]

    def embed_many(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """Each clip's channels as the tool embeds them: ``[windows, 512 x channels]``."""
        parts = []
        for wave in waves:
            wave = np.atleast_2d(wave)
            if self.channels == 1:
                parts.append([wave.mean(axis=0, dtype=np.float32)])
            else:  # a mono file's one channel, embedded once and used twice
                parts.append([wave[0], wave[1]] if len(wave) > 1 else [wave[0]])
        embedded = self.openl3_many([channel for channels in parts for channel in channels])
        out, start = [], 0
        for channels in parts:
            mine = embedded[start : start + len(channels)]
            start += len(channels)
            if self.channels == 2 and len(mine) == 1:
                mine = mine * 2
            out.append(np.concatenate(mine, axis=1))
        return out

    def openl3(self, channel: np.ndarray) -> np.ndarray:
        """``openl3.get_audio_embedding(channel, rate, hop_size=0.5)`` for a mono channel:
        ``[windows, 512]``."""
        return self.openl3_many([channel])[0]

    def openl3_many(self, channels: list[np.ndarray]) -> list[np.ndarray]:
        """``openl3_many`` of several channels: on the CPU ``WINDOWS_PER_PASS`` windows of
        one channel per pass; on a GPU the windows of every channel together."""
        import torch

        frames = [
            windows(
                resampy_kaiser_best(np.asarray(c, dtype=np.float32), self.rate, RATE), HOP_SECONDS
            )
            for c in channels
        ]
        per_pass = WINDOWS_PER_PASS * (8 if device.current().type == "cuda" else 1)
        groups = [np.concatenate(frames)] if device.current().type == "cuda" else frames
        results = []
        with torch.inference_mode():
            for group in groups:
                for start in range(0, len(group), per_pass):
                    chunk = device.to_device(group[start : start + per_pass])
                    results.append(self.net(chunk).float().cpu().numpy())
        flat = np.concatenate(results)
        ends = np.cumsum([len(f) for f in frames])
        return [flat[s:e] for s, e in zip(np.r_[0, ends[:-1]], ends, strict=True)]

    def weights_checksum(self) -> str:
        return self._checksum

    def weights_name(self) -> str:
        return str(self.weights)

    def settings(self) -> dict[str, Any]:
        return {
            "checkpoint": self.weights.name,
            "protocol": "stable-audio-metrics openl3_fd (openl3 0.4.2 mel256 music 512)",
            "evaluation_rate": self.rate,
            "channels": self.channels,
            "output": "L and R embedded apart, concatenated (1024-d); a mono file duplicated"
            if self.channels == 2
            else "the channels averaged by openl3 (512-d)",
            "windowing": "resampy kaiser_best to 48 kHz (resampy 0.2.2, written out), "
            "centred, 1 s windows every 0.5 s",
            "normalisation": "kapre mel256 (STFT 2048, hop 242, periodic Hann, pad_end; "
            "Slaney mel; 10 log10, minus the window's max, floor -80 dB) in float64: the "
            "tool's float32 TensorFlow STFT leaves rounding noise in the empty top bands, so "
            "its own value depends on its FFT",
        }
