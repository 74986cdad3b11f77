"""Degraded copies of a clip folder: stand-in systems for the demo bench and metric tests.

Each degradation has a strength; FAD should grow with it. Seeded and deterministic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from musiccaps_kit.audio import decode, to_mono

DEGRADATIONS = ("noise", "lowpass", "clip")


def degrade(wave: np.ndarray, rate: int, kind: str, strength: float, seed: int = 0) -> np.ndarray:
    """``noise``: white noise at ``strength`` dB SNR; ``lowpass``: 8th-order Butterworth at
    ``strength`` Hz; ``clip``: hard clipping at ``strength`` times the peak."""
    if kind == "noise":
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal(len(wave))
        power = np.mean(wave.astype(np.float64) ** 2)
        noise *= np.sqrt(power / 10 ** (strength / 10) / np.mean(noise**2))
        return (wave + noise).astype(np.float32)
    if kind == "lowpass":
        sos = signal.butter(8, strength, btype="low", fs=rate, output="sos")
        return signal.sosfiltfilt(sos, wave).astype(np.float32)
    if kind == "clip":
        limit = strength * float(np.abs(wave).max())
        return np.clip(wave, -limit, limit).astype(np.float32)
    raise ValueError(f"unknown degradation {kind!r}: use one of {DEGRADATIONS}")


def degrade_folder(
    source: str | Path, out: str | Path, kind: str, strength: float, seed: int = 0
) -> Path:
    """Write a degraded copy of every audio file in ``source`` to ``out`` as FLAC."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(sorted(Path(source).iterdir())):
        if path.suffix.lower() not in (".flac", ".wav"):
            continue
        wave, rate = decode(path)
        damaged = degrade(to_mono(wave), rate, kind, strength, seed + i)
        sf.write(out / f"{path.stem}.flac", np.clip(damaged, -1, 1), rate, subtype="PCM_24")
    return out
