"""Mel scales and triangular mel filterbanks, in one place: Slaney's scale with area
normalisation (librosa's defaults; the codec, MuLan, the semantic and melody models) and
the HTK scale without normalisation (torchaudio's ``melscale_fbanks(norm=None,
mel_scale="htk")``: Riffusion's spectrograms, LEAF's filter centres)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SCALES = ("slaney", "htk")


def hz_to_mel(hz, scale: str = "slaney") -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + hz / 700.0)
    # Slaney's scale, as librosa's default (htk=False): linear below 1 kHz, log above.
    f_sp = 200.0 / 3
    mel = hz / f_sp
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    return np.where(
        hz >= min_log_hz,
        min_log_hz / f_sp + np.log(np.maximum(hz, min_log_hz) / min_log_hz) / logstep,
        mel,
    )


def mel_to_hz(mel, scale: str = "slaney") -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    min_log_mel, logstep = 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(
        mel >= min_log_mel,
        1000.0 * np.exp(logstep * (np.maximum(mel, min_log_mel) - min_log_mel)),
        f_sp * mel,
    )


@lru_cache(maxsize=16)
def mel_filterbank(
    rate: int,
    n_fft: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    scale: str = "slaney",
    area_norm: bool = True,
    dtype: type = np.float32,
) -> np.ndarray:
    """``[n_mels, n_fft // 2 + 1]`` triangular filters between ``fmin`` and ``fmax``
    (Nyquist by default). The defaults are ``librosa.filters.mel(sr, n_fft, n_mels)``;
    ``scale="htk", area_norm=False`` is torchaudio's ``melscale_fbanks`` with norm None."""
    if scale not in SCALES:
        raise ValueError(f"mel scale must be one of {SCALES}")
    fft_freqs = np.linspace(0, rate / 2 if scale == "slaney" else rate // 2, 1 + n_fft // 2)
    edges = hz_to_mel([fmin, rate / 2 if fmax is None else fmax], scale)
    hz_points = mel_to_hz(np.linspace(edges[0], edges[1], n_mels + 2), scale)
    fdiff = np.diff(hz_points)
    ramps = hz_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    if area_norm:
        weights *= (2.0 / (hz_points[2 : n_mels + 2] - hz_points[:n_mels]))[:, None]
    return weights.astype(dtype)
