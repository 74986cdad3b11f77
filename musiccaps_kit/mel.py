"""Mel filterbanks on Slaney's scale with area normalisation (librosa's defaults)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    # Slaney's scale, as librosa's default (htk=False): linear below 1 kHz, log above.
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3
    mel = hz / f_sp
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    log_region = hz >= min_log_hz
    mel[log_region] = min_log_hz / f_sp + np.log(hz[log_region] / min_log_hz) / logstep
    return mel


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3
    hz = f_sp * mel
    min_log_mel, logstep = 1000.0 / f_sp, np.log(6.4) / 27.0
    log_region = mel >= min_log_mel
    hz[log_region] = 1000.0 * np.exp(logstep * (mel[log_region] - min_log_mel))
    return hz


@lru_cache(maxsize=16)
def mel_filterbank(rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """librosa.filters.mel(sr, n_fft, n_mels) with Slaney scale and area normalisation."""
    fft_freqs = np.linspace(0, rate / 2, 1 + n_fft // 2)
    mel_points = np.linspace(
        _hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([rate / 2]))[0], n_mels + 2
    )
    hz_points = _mel_to_hz(mel_points)
    fdiff = np.diff(hz_points)
    ramps = hz_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (hz_points[2 : n_mels + 2] - hz_points[:n_mels]))[:, None]
    return weights.astype(np.float32)
