"""Training pairs for the melody embedding: one melody, two timbres.

* Rendered melodies: random note sequences (MIDI 52-84, 0.15-0.6 s per note, some rests)
  synthesised with different "instruments" (additive harmonics with their own spectral
  tilt, odd/even balance, attack, decay, vibrato and breath noise): same notes in two
  instruments make a positive pair.
* Real clips under pitch-preserving changes (gain, a low- or high-shelf tilt, a band-pass,
  added noise): a clip and its changed copy make a positive pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musiccaps_kit.models.melody import MelodyConfig

RATE = MelodyConfig.sample_rate  # the melody model's input rate (its default)


@dataclass(frozen=True)
class Instrument:
    harmonics: int
    tilt: float  # amplitude of harmonic k ~ k ** -tilt
    odd_only: bool
    attack_s: float
    decay: float  # exponential decay rate per second
    vibrato_cents: float
    noise: float


def random_instrument(rng: np.random.Generator) -> Instrument:
    return Instrument(
        harmonics=int(rng.integers(1, 12)),
        tilt=float(rng.uniform(0.5, 2.5)),
        odd_only=bool(rng.random() < 0.3),
        attack_s=float(rng.uniform(0.002, 0.08)),
        decay=float(rng.uniform(0.0, 6.0)),
        vibrato_cents=float(rng.uniform(0, 25)),
        noise=float(rng.uniform(0, 0.05)),
    )


def random_melody(rng: np.random.Generator, seconds: float) -> list[tuple[int | None, float]]:
    """(MIDI note or None for a rest, duration in seconds) until ``seconds`` are filled."""
    notes, total, pitch = [], 0.0, int(rng.integers(60, 76))
    while total < seconds:
        duration = float(rng.uniform(0.15, 0.6))
        pitch = int(np.clip(pitch + rng.integers(-5, 6), 52, 84))
        notes.append((None if rng.random() < 0.1 else pitch, duration))
        total += duration
    return notes


def render(
    notes: list[tuple[int | None, float]],
    instrument: Instrument,
    seconds: float,
    rng: np.random.Generator,
    rate: int = RATE,
) -> np.ndarray:
    """The melody played by ``instrument``, ``seconds`` long, peak 0.5."""
    out = np.zeros(int(seconds * rate), dtype=np.float64)
    start = 0
    for pitch, duration in notes:
        n = int(duration * rate)
        if pitch is not None and start < len(out):
            t = np.arange(min(n, len(out) - start)) / rate
            f0 = 440.0 * 2 ** ((pitch - 69) / 12)
            vibrato = 2 ** (instrument.vibrato_cents / 1200 * np.sin(2 * np.pi * 5.5 * t))
            phase = 2 * np.pi * np.cumsum(f0 * vibrato) / rate
            tone = np.zeros_like(t)
            for k in range(1, instrument.harmonics + 1):
                if (instrument.odd_only and k % 2 == 0) or k * f0 >= rate / 2:
                    continue
                tone += k**-instrument.tilt * np.sin(k * phase)
            envelope = np.minimum(t / instrument.attack_s, 1.0) * np.exp(-instrument.decay * t)
            envelope *= np.minimum((len(t) - np.arange(len(t))) / (0.01 * rate), 1.0)
            noise = instrument.noise * rng.standard_normal(len(t))
            out[start : start + len(t)] += envelope * (tone + noise)
        start += n
    peak = np.abs(out).max()
    return (0.5 * out / peak if peak > 0 else out).astype(np.float32)


def pitch_preserving(wave: np.ndarray, rng: np.random.Generator, rate: int = RATE) -> np.ndarray:
    """Gain, a spectral tilt or band-pass, and noise: the melody stays, the timbre moves."""
    from scipy.signal import butter, sosfilt

    x = np.asarray(wave, dtype=np.float64) * 10 ** (rng.uniform(-9, 3) / 20)
    kind = rng.integers(0, 3)
    if kind == 0:
        sos = butter(2, float(rng.uniform(1500, 5000)), "lowpass", fs=rate, output="sos")
    elif kind == 1:
        sos = butter(2, float(rng.uniform(100, 600)), "highpass", fs=rate, output="sos")
    else:
        low = float(rng.uniform(150, 400))
        sos = butter(2, [low, low * rng.uniform(6, 15)], "bandpass", fs=rate, output="sos")
    x = sosfilt(sos, x)
    x += (
        rng.standard_normal(len(x))
        * np.sqrt(np.mean(x**2) + 1e-12)
        * 10 ** (-rng.uniform(20, 40) / 20)
    )
    return x.astype(np.float32)
