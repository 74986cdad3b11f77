"""Riffusion's spectrogram images and audio, both ways, without torchaudio.

Riffusion (riffusion-hobby: ``riffusion/spectrogram_params.py``,
``riffusion/spectrogram_converter.py``, ``riffusion/util/image_util.py``) fine-tunes Stable
Diffusion on images of mel spectrograms. Its conventions, reproduced here:

* 44.1 kHz mono; STFT hop 441 (10 ms), window 4,410 (100 ms, periodic Hann) zero-padded to
  n_fft 17,640 (400 ms), centred with reflection padding, one-sided magnitude;
* 512 mel bins, HTK scale, 0-10 kHz, triangular filters without normalisation (torchaudio's
  ``melscale_fbanks(norm=None, mel_scale="htk")``);
* image = 255 - 255 * (m / max(m)) ** 0.25 as uint8 (truncated), the same value in R, G and
  B, flipped so that low frequencies are at the bottom; 512 columns = 5.12 s;
* reading an image takes the red channel, undoes the curve and scales to ``max_value``
  (30e6, Riffusion's default; the output is normalised, so it does not matter);
* inversion: mel -> linear magnitude by least squares clamped at zero (torchaudio >= 2.1's
  ``InverseMelScale``: the minimum-norm solution here, through a cached pseudo-inverse),
  then Griffin-Lim (32 iterations, momentum 0.99, random initial phase from a seeded
  generator), peak-normalised to 16-bit range, then Riffusion's post filters
  (``audio_util.apply_filters``: normalise with 0.1 dB headroom, gain to -10 dBFS, a
  compressor with threshold -20 dBFS, ratio 4, attack 5 ms, release 50 ms (pydub's
  ``compress_dynamic_range``), gain to -12 dBFS, normalise with 0.1 dB headroom).

torchaudio's builds change between versions (its inverse mel scale went from gradient
descent to least squares in 2.1), so these functions use only NumPy and torch's own
``stft``/``istft``; the recipe records every setting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from PIL import Image

from musiccaps_kit.mel import mel_filterbank


@dataclass(frozen=True)
class SpectrogramParams:
    sample_rate: int = 44100
    step_ms: int = 10
    window_ms: int = 100
    padded_ms: int = 400
    n_mels: int = 512
    min_hz: float = 0.0
    max_hz: float = 10000.0
    power_for_image: float = 0.25
    max_value: float = 30e6
    griffin_lim_iters: int = 32
    momentum: float = 0.99

    @property
    def hop(self) -> int:
        return int(self.step_ms / 1000 * self.sample_rate)

    @property
    def win(self) -> int:
        return int(self.window_ms / 1000 * self.sample_rate)

    @property
    def n_fft(self) -> int:
        return int(self.padded_ms / 1000 * self.sample_rate)

    def recipe(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "hop": self.hop,
            "win": self.win,
            "n_fft": self.n_fft,
            "window": "periodic Hann, centred STFT with reflection padding",
            "mel": "HTK, no norm (torchaudio melscale_fbanks)",
            "image": "255 - 255 * (m / max) ** power, uint8, flipped, red channel",
            "inverse_mel": "least squares (minimum norm) clamped at 0",
            "griffin_lim": "torchaudio's algorithm, random initial phase from the seed",
        }


RIFFUSION = SpectrogramParams()


def mel_filters(params: SpectrogramParams) -> np.ndarray:
    """``[n_fft // 2 + 1, n_mels]`` triangular HTK filters, as torchaudio builds them."""
    return mel_filterbank(
        params.sample_rate,
        params.n_fft,
        params.n_mels,
        params.min_hz,
        params.max_hz,
        scale="htk",
        area_norm=False,
        dtype=np.float64,
    ).T


@lru_cache(maxsize=4)
def _inverse_filters(params: SpectrogramParams) -> np.ndarray:
    """The pseudo-inverse of the mel projection: minimum-norm least squares."""
    return np.linalg.pinv(mel_filters(params).T)


def _window(params: SpectrogramParams, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.hann_window(params.win, dtype=dtype)


def mel_amplitudes(wave: np.ndarray, params: SpectrogramParams = RIFFUSION):
    """``[n_mels, frames]`` mel amplitudes of a mono waveform at ``params.sample_rate``,
    one column per full hop (the centred STFT's trailing frame is dropped, so 5.12 s gives
    512 columns)."""
    x = torch.from_numpy(np.asarray(wave, dtype=np.float64))
    spec = torch.stft(
        x,
        params.n_fft,
        params.hop,
        params.win,
        _window(params),
        center=True,
        pad_mode="reflect",
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    magnitude = spec.abs().numpy()[:, : len(wave) // params.hop]
    return mel_filters(params).T @ magnitude


def image_from_mel(mel: np.ndarray, params: SpectrogramParams = RIFFUSION):
    """Riffusion's image of mel amplitudes (``[n_mels, frames]``): RGB, height ``n_mels``."""
    peak = float(mel.max())
    data = mel / peak if peak > 0 else np.zeros_like(mel)
    data = 255 - np.power(data, params.power_for_image) * 255
    gray = data.astype(np.uint8)[::-1]  # low frequencies at the bottom
    return Image.fromarray(np.ascontiguousarray(gray), mode="L").convert("RGB")


def mel_from_image(image: Image.Image, params: SpectrogramParams = RIFFUSION):
    """Mel amplitudes ``[height, width]`` from a Riffusion image (red channel)."""
    data = np.asarray(image.convert("RGB"))[::-1, :, 0].astype(np.float64)
    return np.power((255 - data) / 255, 1 / params.power_for_image) * params.max_value


def image_from_audio(wave: np.ndarray, params: SpectrogramParams = RIFFUSION):
    """The forward direction: a mono waveform at 44.1 kHz -> Riffusion's image."""
    return image_from_mel(mel_amplitudes(wave, params), params)


def _istft(spec: torch.Tensor, params: SpectrogramParams, window: torch.Tensor) -> torch.Tensor:
    """``torch.istft`` (centred, length ``hop * (frames - 1)``) for a window shorter than
    the FFT: only the ``win`` windowed samples of each frame are overlap-added, which is
    the same sum (to float32 rounding) in about half the time."""
    frames = spec.shape[1]
    offset = (params.n_fft - params.win) // 2
    pieces = torch.fft.irfft(spec, n=params.n_fft, dim=0)[offset : offset + params.win]
    pieces = pieces * window[:, None]
    size = (frames - 1) * params.hop + params.win
    fold = {"output_size": (1, size), "kernel_size": (1, params.win), "stride": (1, params.hop)}
    summed = torch.nn.functional.fold(pieces[None], **fold)[0, 0, 0]
    squares = (window**2)[:, None].expand(params.win, frames).contiguous()
    envelope = torch.nn.functional.fold(squares[None], **fold)[0, 0, 0]
    start = params.win // 2
    return (summed / envelope.clamp_min(1e-11))[start : start + params.hop * (frames - 1)]


def griffin_lim(
    magnitude: np.ndarray, params: SpectrogramParams, generator: torch.Generator
) -> np.ndarray:
    """torchaudio's Griffin-Lim (power 1, momentum, random initial phase) on a
    ``[n_fft // 2 + 1, frames]`` magnitude, in float32 as torchaudio runs it.

    Bins whose magnitude is zero in every frame (above ``max_hz``) add nothing to any
    inverse STFT, whatever their phase, so the phase updates skip them: the result equals
    the full computation, in less time.
    """
    used = np.flatnonzero(magnitude.any(axis=1))
    keep = int(used[-1]) + 1 if len(used) else 1
    spec = torch.from_numpy(magnitude[:keep].astype(np.float32))
    window = _window(params, torch.float32)
    angles = torch.rand(magnitude.shape, dtype=torch.complex64, generator=generator)[:keep]
    full = torch.zeros(magnitude.shape, dtype=torch.complex64)
    previous = torch.zeros_like(angles)
    shrink = params.momentum / (1 + params.momentum)

    def istft(phases: torch.Tensor) -> torch.Tensor:
        torch.mul(spec, phases, out=full[:keep])
        return _istft(full, params, window)

    for _ in range(params.griffin_lim_iters):
        rebuilt = torch.stft(
            istft(angles),
            params.n_fft,
            params.hop,
            params.win,
            window,
            center=True,
            pad_mode="reflect",
            normalized=False,
            onesided=True,
            return_complex=True,
        )[:keep]
        angles = rebuilt - previous * shrink
        angles /= angles.abs() + 1e-16
        previous = rebuilt
    return istft(angles).numpy().astype(np.float64)


def _db(x: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(x**2)))
    return 20 * np.log10(rms / 32768) if rms > 0 else -np.inf


def _normalise(x: np.ndarray, headroom_db: float = 0.1) -> np.ndarray:
    peak = float(np.abs(x).max())
    return x if peak == 0 else x * (32768 * 10 ** (-headroom_db / 20) / peak)


def _gain_to(x: np.ndarray, target_db: float) -> np.ndarray:
    level = _db(x)
    return x if not np.isfinite(level) else x * 10 ** ((target_db - level) / 20)


def _compress(
    x: np.ndarray, rate: int, threshold_db=-20.0, ratio=4.0, attack_ms=5.0, release_ms=50.0
) -> np.ndarray:
    """pydub's ``compress_dynamic_range``: RMS over the last ``attack`` ms, attenuation
    ramping up over the attack and down over the release, per sample."""
    threshold = 32768 * 10 ** (threshold_db / 20)
    look = int(attack_ms * rate / 1000)
    release = release_ms * rate / 1000
    squares = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    idx = np.arange(len(x))
    start = np.maximum(idx - look, 0)
    counts = np.maximum(idx - start, 1)
    rms = np.sqrt((squares[idx] - squares[start]) / counts)
    over = np.where(rms > 0, 20 * np.log10(np.maximum(rms, 1e-12) / threshold), 0.0)
    ceiling = (1 - 1 / ratio) * np.maximum(over, 0.0)
    gains = np.ones(len(x))
    attenuation = 0.0
    for i in range(len(x)):
        top = ceiling[i]
        if rms[i] > threshold and attenuation <= top:
            attenuation = min(attenuation + top / look, top)
        else:
            attenuation = max(attenuation - top / release, 0.0)
        if attenuation:
            gains[i] = 10 ** (-attenuation / 20)
    return x * gains


def riffusion_filters(wave: np.ndarray, rate: int) -> np.ndarray:
    """Riffusion's post-processing chain on 16-bit-scaled audio (see the module doc)."""
    x = _normalise(wave)
    x = _gain_to(x, -10.0)
    x = _compress(x, rate)
    x = _gain_to(x, -12.0)
    return _normalise(x)


def audio_from_mel(
    mel: np.ndarray,
    params: SpectrogramParams = RIFFUSION,
    seed: int = 0,
    post_filters: bool = True,
) -> np.ndarray:
    """Float audio in [-1, 1] at ``params.sample_rate`` from mel amplitudes."""
    linear = np.maximum(_inverse_filters(params) @ mel, 0.0)
    generator = torch.Generator().manual_seed(seed)
    wave = griffin_lim(linear, params, generator)
    peak = float(np.abs(wave).max())
    wave = wave * (32767 / peak) if peak > 0 else wave
    wave = np.trunc(wave)  # Riffusion writes int16 before its filters
    if post_filters:
        wave = riffusion_filters(wave, params.sample_rate)
    return np.clip(wave / 32768, -1.0, 1.0).astype(np.float32)


def audio_from_image(
    image: Image.Image,
    params: SpectrogramParams = RIFFUSION,
    seed: int = 0,
    post_filters: bool = True,
) -> np.ndarray:
    """Audio from one Riffusion image (width columns of 10 ms each)."""
    mel = mel_from_image(image, params)
    if mel.shape[0] != params.n_mels:
        raise ValueError(f"a Riffusion image is {params.n_mels} px high, not {mel.shape[0]}")
    return audio_from_mel(mel, params, seed, post_filters)


def crossfade_join(pieces: list[np.ndarray], overlap: int) -> np.ndarray:
    """Consecutive pieces joined with an equal-power crossfade of ``overlap`` samples."""
    out = pieces[0]
    fade = np.linspace(0, np.pi / 2, overlap)
    for piece in pieces[1:]:
        n = min(overlap, len(out), len(piece))
        mixed = out[-n:] * np.cos(fade[:n]) + piece[:n] * np.sin(fade[:n])
        out = np.concatenate([out[:-n], mixed, piece[n:]]) if n else np.concatenate([out, piece])
    return out.astype(np.float32)
