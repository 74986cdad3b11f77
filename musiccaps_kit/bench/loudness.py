"""Level steps the evaluation tools apply before their models: AudioCraft's loudness
normalisation (MusicGen's evaluation, ``audiocraft/data/audio_utils.py``) and peak
normalisation (stable-audio-metrics through ``pyloudnorm.normalize.peak``; AudioCraft's
``audio_write(strategy="peak")`` before FAD).

``bs1770_loudness`` is ``torchaudio.functional.loudness`` (ITU-R BS.1770-4) as torchaudio
computes it, in float32: K-weighting by ``treble_biquad(rate, 4.0, 1500.0, 1/sqrt 2)`` then
``highpass_biquad(rate, 38.0, 0.5)``, each an ``lfilter`` whose output is clamped to
[-1, 1]; the mean square over 400 ms blocks every 100 ms; channel weights 1, 1, 1, 1.41,
1.41; an absolute gate at -70 LKFS and a relative gate 10 LU under the gated mean;
-0.691 + 10 log10 of the gated mean. The recursive part of each biquad runs in float64
(scipy) where torchaudio runs a float32 loop: the loudness agrees to about 1e-5 dB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

GATE_SECONDS, OVERLAP = 0.4, 0.75
ABSOLUTE_GATE, K_BIAS = -70.0, -0.691
CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)
# audiocraft normalize_loudness defaults, and MusicGen's solver config (generate.audio)
LOUDNESS_HEADROOM_DB = 14.0
ENERGY_FLOOR = 2e-3


def _biquad(wave, b: tuple, a: tuple):
    """torchaudio ``biquad`` -> ``lfilter(clamp=True)`` on a float32 [channels, T] tensor:
    the FIR part by a float32 convolution with b / a0, the recursion with a / a0, then the
    clamp to [-1, 1]."""
    import torch
    from scipy.signal import lfilter

    b_t = torch.stack(b) / a[0]
    a_t = torch.stack(a) / a[0]
    padded = torch.nn.functional.pad(wave[:, None], (2, 0))
    fir = torch.nn.functional.conv1d(padded, b_t.flip(0).view(1, 1, 3))[:, 0]
    a64 = a_t.double().numpy()
    out = lfilter([1.0], a64, fir.double().numpy(), axis=-1).astype(np.float32)
    return torch.from_numpy(out).clamp(-1.0, 1.0)


def _k_weighting(wave, rate: int):
    """torchaudio's ``treble_biquad(wave, rate, 4.0, 1500.0, 1 / sqrt(2))`` then
    ``highpass_biquad(wave, rate, 38.0, 0.5)``, coefficients in the wave's float32."""
    import torch

    f32 = torch.float32
    central, q, gain = (torch.as_tensor(v, dtype=f32) for v in (1500.0, 1 / math.sqrt(2), 4.0))
    w0 = 2 * math.pi * central / rate
    alpha = torch.sin(w0) / 2 / q
    big_a = torch.exp(gain / 40 * math.log(10))
    temp1 = 2 * torch.sqrt(big_a) * alpha
    temp2 = (big_a - 1) * torch.cos(w0)
    temp3 = (big_a + 1) * torch.cos(w0)
    b = (
        big_a * ((big_a + 1) + temp2 + temp1),
        -2 * big_a * ((big_a - 1) + temp3),
        big_a * ((big_a + 1) + temp2 - temp1),
    )
    a = ((big_a + 1) - temp2 + temp1, 2 * ((big_a - 1) - temp3), (big_a + 1) - temp2 - temp1)
    wave = _biquad(wave, b, a)
    cutoff, q = torch.as_tensor(38.0, dtype=f32), torch.as_tensor(0.5, dtype=f32)
    w0 = 2 * math.pi * cutoff / rate
    alpha = torch.sin(w0) / 2.0 / q
    b0 = (1 + torch.cos(w0)) / 2
    b = (b0, -1 - torch.cos(w0), b0)
    a = (1 + alpha, -2 * torch.cos(w0), 1 - alpha)
    return _biquad(wave, b, a)


def bs1770_loudness(wave: np.ndarray, rate: int) -> float:
    """Integrated loudness in LKFS of a float32 ``[channels, samples]`` (or mono) array, as
    ``torchaudio.transforms.Loudness(rate)`` gives it; NaN when nothing passes the gates
    (shorter than one 400 ms block, or every block under -70 LKFS)."""
    import torch

    x = torch.from_numpy(np.atleast_2d(np.asarray(wave, dtype=np.float32)))
    if x.shape[0] > len(CHANNEL_WEIGHTS):
        raise ValueError(f"loudness: {x.shape[0]} channels; BS.1770 weights cover up to 5")
    gate = int(round(GATE_SECONDS * rate))
    step = int(round(gate * (1 - OVERLAP)))
    if x.shape[-1] < gate:
        return math.nan
    weighted = _k_weighting(x, rate)
    energy = torch.square(weighted).unfold(-1, gate, step).mean(dim=-1)
    g = torch.tensor(CHANNEL_WEIGHTS, dtype=torch.float32)[: energy.size(-2)]
    block_loudness = K_BIAS + 10 * torch.log10(torch.sum(g.unsqueeze(-1) * energy, dim=-2))
    gated = (block_loudness > ABSOLUTE_GATE).unsqueeze(-2)
    filtered = torch.sum(gated * energy, dim=-1) / torch.count_nonzero(gated, dim=-1)
    relative = K_BIAS + 10 * torch.log10(torch.sum(g * filtered, dim=-1)) - 10
    gated = torch.logical_and(gated.squeeze(-2), block_loudness > relative.unsqueeze(-1))
    gated = gated.unsqueeze(-2)
    filtered = torch.sum(gated * energy, dim=-1) / torch.count_nonzero(gated, dim=-1)
    return float(K_BIAS + 10 * torch.log10(torch.sum(g * filtered, dim=-1)))


@dataclass(frozen=True)
class LevelChange:
    """What a level step did to one clip: the gain applied (1.0 when left as is), the level
    it measured, and why it left the clip as it was, if it did."""

    gain: float
    measured: float
    left_as_is: str | None = None


def audiocraft_loudness(
    wave: np.ndarray, rate: int, headroom_db: float = LOUDNESS_HEADROOM_DB
) -> tuple[np.ndarray, LevelChange]:
    """AudioCraft's ``normalize_audio(wav, strategy="loudness", loudness_headroom_db=14,
    sample_rate=rate)`` on a float32 ``[channels, samples]`` array: a clip whose RMS (over
    all channels) is under 2e-3 is left as is; the others are scaled to -14 LUFS
    (``normalize_loudness``); then everything is clamped to [-1, 1] (``_clip_wav``). A
    loudness that cannot be measured (AudioCraft would stop on a non-finite gain) leaves the
    clip as it is, saying so."""
    x = np.atleast_2d(np.asarray(wave, dtype=np.float32))
    energy = float(np.sqrt(np.mean(np.square(x, dtype=np.float32), dtype=np.float32)))
    if energy < ENERGY_FLOOR:
        change = LevelChange(1.0, energy, f"RMS {energy:.2g} under AudioCraft's floor 2e-3")
    else:
        loudness = bs1770_loudness(x, rate)
        if not math.isfinite(loudness):
            change = LevelChange(1.0, loudness, "loudness not measurable (all blocks gated)")
        else:
            gain = 10.0 ** ((-headroom_db - loudness) / 20.0)
            x = _times(x, gain)
            change = LevelChange(gain, loudness)
    return np.clip(x, -1.0, 1.0), change


PEAK_STYLES = ("pyloudnorm", "audiocraft")


def _times(x: np.ndarray, gain: float) -> np.ndarray:
    """``gain * wav`` as AudioCraft computes it: a float32 tensor times a Python float."""
    import torch

    return (torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) * gain).numpy()


def peak_normalize(
    wave: np.ndarray, target_db: float, style: str = "pyloudnorm"
) -> tuple[np.ndarray, LevelChange]:
    """Scaled so that the largest absolute sample is ``target_db`` dBFS, with the tool's
    arithmetic: ``pyloudnorm.normalize.peak(wave, target_db)`` (the gain in float64, then
    float32), or AudioCraft's ``normalize_audio(strategy="peak", peak_clip_headroom_db=-
    target_db)`` (``wav * (scale / wav.abs().max())`` in torch's float32). No clamp; a
    silent clip is left as is, where both tools would divide by zero."""
    if style not in PEAK_STYLES:
        raise ValueError(f"peak step {style!r}: one of {', '.join(PEAK_STYLES)}")
    x = np.asarray(wave)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak == 0.0:
        return x, LevelChange(1.0, -math.inf, "silent: no peak to normalise")
    if style == "audiocraft":
        import torch

        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        rescaling = 10 ** (target_db / 20) / t.abs().max()
        return (t * rescaling).numpy(), LevelChange(float(rescaling), 20 * math.log10(peak))
    gain = np.power(10.0, target_db / 20.0) / np.float64(peak)
    # numpy 1.x (which stable-audio-metrics pins) multiplies a float32 array by a float64
    # scalar in float32
    return (x * x.dtype.type(gain)).astype(x.dtype), LevelChange(float(gain), 20 * math.log10(peak))
