"""Audiobox Aesthetics' ``AesPredictor`` for the ``aes_ce``, ``aes_cu``, ``aes_pc`` and
``aes_pq`` columns: per clip, its four axes (Content Enjoyment, Content Usefulness,
Production Complexity, Production Quality) as the package's predictor gives them.

The clip arrives as the predictor loads it (``AUDIOBOX``: channel mean, then
``torchaudio.functional.resample`` to 16 kHz with its defaults; no level step), is cut into
non-overlapping 10 s windows (``make_inference_batch``: the last zero-padded to 10 s and
masked), each window scored by the network (``aesthetics_network``) in float32 (the
package's autocast never turns on: its precision test compares a dtype with strings), and
the clip's score per axis is the mean over its windows weighted by each window's length
/ 10 s. Scores are not clipped to 1-10.

``model``: a hub id (default ``facebook/audiobox-aesthetics``: ``config.json`` +
``model.safetensors``), a folder laid out so, or a ``checkpoint.pt``; both formats give the
same numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.bench import device
from musiccaps_kit.bench.audio_paths import AUDIOBOX
from musiccaps_kit.bench.embedders.aesthetics_network import (
    AXES,
    RATE,
    WINDOW,
    AesWeightsError,
    build,
    read_release,
)
from musiccaps_kit.bench.embedders.base import Embedder
from musiccaps_kit.bench.embedders.hf_models import HUB_ID, snapshot
from musiccaps_kit.checksums import checksum_files

DEFAULT_MODEL = "facebook/audiobox-aesthetics"
HUB_FILES = ("config.json", "model.safetensors")


def _resolve(spec: str) -> Path:
    path = Path(spec).expanduser()
    if path.exists():
        return path
    if not HUB_ID.match(spec):
        raise AesWeightsError(f"--aes-model {spec}: no such file or folder")
    return snapshot(spec, HUB_FILES, "--aes-model")


def windows(wave: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``make_inference_batch``: [n, 160000] windows every 10 s, the last zero-padded; their
    sample masks (True where the clip is); their weights (length / 10 s)."""
    starts = range(0, len(wave), WINDOW)
    cuts = [wave[s : s + WINDOW] for s in starts]
    wavs = np.stack([np.pad(c, (0, WINDOW - len(c))) for c in cuts]).astype(np.float32)
    masks = np.stack([np.arange(WINDOW) < len(c) for c in cuts])
    weights = np.array([len(c) / WINDOW for c in cuts], dtype=np.float32)
    return wavs, masks, weights


class Aesthetics(Embedder):
    """[1, 4] per clip: CE, CU, PC, PQ."""

    name = "audiobox-aesthetics"
    rate = RATE
    audio_path = AUDIOBOX

    def __init__(self, model: str | None = None):
        self.spec = str(model or DEFAULT_MODEL)
        self.path = _resolve(self.spec)
        files = [self.path / f for f in HUB_FILES] if self.path.is_dir() else [self.path]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise AesWeightsError(f"--aes-model {self.spec}: no {missing[0].name}")
        self._checksum = checksum_files(files)
        self._net = None
        self._scale: dict[str, tuple[float, float]] = {}

    def net(self):
        if self._net is None:
            release = read_release(self.path)
            scaling = release.target_transform
            self._scale = {a: (float(scaling[a]["mean"]), float(scaling[a]["std"])) for a in AXES}
            self._net = device.place(build(release))
        return self._net

    def embed(self, wave: np.ndarray) -> np.ndarray:
        import torch

        if not len(wave):
            raise ValueError("Audiobox Aesthetics: an empty clip has no window")
        net = self.net()
        wavs, masks, weights = windows(np.asarray(wave, dtype=np.float32))
        w = torch.from_numpy(weights)
        with torch.inference_mode():
            preds = net(
                torch.from_numpy(wavs).to(device.current()),
                torch.from_numpy(masks).to(device.current()),
            )
        row = []
        for axis in AXES:
            mean, std = self._scale[axis]
            scores = preds[axis].float().cpu() * std + mean
            row.append(float((scores * w).sum() / w.sum()))
        return np.array([row], dtype=np.float32)

    def settings(self) -> dict[str, Any]:
        return {
            "model": self.spec,
            "checkpoint": self.path.name,
            "axes": list(AXES),
            "windowing": "non-overlapping 10 s windows, the last zero-padded and masked (a "
            "20 ms frame is padding when all its samples are); the clip's score per axis "
            "is the windows' mean weighted by length / 10 s",
            "network": "WavLM-Base+ (fairseq style, 13 hidden states), per axis softmax layer "
            "weights, masked time mean, L2 norm, Linear(768, 1), x * std + mean",
            "precision": "float32 (the package's autocast never turns on); not clipped",
        }

    def weights_checksum(self) -> str:
        return self._checksum

    def weights_name(self) -> str:
        return self.spec
