"""The resamplers the evaluation tools use, so that a column named after a tool hears what
the tool's model hears (they differ near the source's Nyquist, and FAD notices).

* ``soxr-HQ``: libsoxr's HQ polyphase resampler (``musiccaps_kit.audio.resample``): this
  toolkit's own, and librosa's default (``res_type="soxr_hq"``), which stable-audio-metrics
  loads with.
* ``julius``: AudioCraft's (``audiocraft.data.audio_utils.convert_audio`` calls
  ``julius.resample_frac(wav, from_rate, to_rate)``: a Hann-windowed sinc with 24 zero
  crossings and rolloff 0.945, replicate padding): the ``julius`` package itself.
* ``torchaudio-kaiser``: fadtk's and kadtk's (``torchaudio.transforms.Resample(orig, new,
  lowpass_filter_width=64, rolloff=0.9475937167399596, resampling_method=
  "sinc_interp_kaiser", beta=14.769656459379492)``), written out here in torch from
  torchaudio 2.x's ``_get_sinc_resample_kernel`` and ``_apply_sinc_resample_kernel``
  (the PyPI torchaudio does not load beside this torch): the kernel computed in float64 as
  torchaudio computes it, cast to float32, applied by a strided float32 convolution over the
  zero-padded signal, ``ceil(new * length / orig)`` samples kept.
* ``torchaudio-hann``: Audiobox Aesthetics' (``torchaudio.functional.resample(wav, sr,
  16000)`` with its defaults: a Hann-windowed sinc, width 6, rolloff 0.99), written out the
  same way, the kernel in float32 as the functional form computes it for a float32 wave.
* ``librosa-soxr_hq``: ``librosa.load(sr=...)``'s resampling (MuQ-MuLan's evaluation
  scripts): soxr HQ, then librosa's length fix to ``ceil(n * new / orig)`` samples.
* ``resampy-kaiser_best``: openl3's (``resampy.resample(audio, sr, 48000,
  filter="kaiser_best")``, resampy 0.2.2 as openl3 0.4.2 pins it), written out in NumPy:
  its filter rebuilt from its recipe (a Kaiser-windowed sinc, 64 zero crossings, 512 table
  entries per crossing, rolloff 0.9476, beta 14.77: equal to the shipped table to 2e-16)
  and its polyphase loop vectorised over the outputs, with the same time register (added
  up sample by sample), table interpolation, wing lengths and accumulation into the
  input's dtype, tap by tap.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from musiccaps_kit.audio import RESAMPLER, fit_length, resample

JULIUS = "julius"
TORCHAUDIO_KAISER = "torchaudio-kaiser"
TORCHAUDIO_HANN = "torchaudio-hann"
RESAMPY_KAISER_BEST = "resampy-kaiser_best"
LIBROSA_SOXR = "librosa-soxr_hq"
# fadtk/fad.py and kadtk/emb_loader.py, load_audio
FADTK_KAISER = {
    "lowpass_filter_width": 64,
    "rolloff": 0.9475937167399596,
    "beta": 14.769656459379492,
}
RESAMPLERS = (
    RESAMPLER, JULIUS, TORCHAUDIO_KAISER, TORCHAUDIO_HANN, RESAMPY_KAISER_BEST, LIBROSA_SOXR
)  # fmt: skip
# resampy 0.2.2 filters.py: kaiser_best = sinc_window(num_zeros=64, precision=9,
# window=kaiser(beta=14.769656459379492), rolloff=0.9475937167399596)
KAISER_BEST = {
    "num_zeros": 64,
    "precision": 9,
    "rolloff": 0.9475937167399596,
    "beta": 14.769656459379492,
}


@lru_cache(maxsize=16)
def sinc_kaiser_kernel(
    orig: int, new: int, lowpass_filter_width: int, rolloff: float, beta: float
) -> tuple[object, int]:
    """torchaudio's ``_get_sinc_resample_kernel`` for ``sinc_interp_kaiser`` with its
    default dtype: ([new', 1, 2 width + orig'] float32 kernels, width), rates over their
    gcd."""
    import torch

    gcd = math.gcd(orig, new)
    orig, new = orig // gcd, new // gcd
    base_freq = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base_freq)
    idx = torch.arange(-width, width + orig, dtype=torch.float64)[None, None] / orig
    # torchaudio builds this arange with dtype None: int64, then a float32 division
    t = torch.arange(0, -new, -1)[:, None, None] / new + idx
    t *= base_freq
    t = t.clamp_(-lowpass_filter_width, lowpass_filter_width)
    beta_tensor = torch.tensor(float(beta))
    window = torch.i0(beta_tensor * torch.sqrt(1 - (t / lowpass_filter_width) ** 2))
    window = window / torch.i0(beta_tensor)
    t *= math.pi
    scale = base_freq / orig
    kernels = torch.where(t == 0, torch.tensor(1.0).to(t), t.sin() / t)
    kernels *= window * scale
    return kernels.to(dtype=torch.float32), width


def torchaudio_kaiser(
    wave: np.ndarray, orig: int, new: int, lowpass_filter_width: int = 64,
    rolloff: float = 0.9475937167399596, beta: float = 14.769656459379492,
) -> np.ndarray:  # fmt: skip
    """``torchaudio.transforms.Resample(orig, new, ..., "sinc_interp_kaiser")(wave)`` for a
    float32 ``[..., samples]`` array (fadtk's parameters by default)."""
    if orig == new:
        return np.asarray(wave, dtype=np.float32)

    kernel, width = sinc_kaiser_kernel(orig, new, lowpass_filter_width, rolloff, beta)
    return _apply_kernel(wave, orig, new, kernel, width)


@lru_cache(maxsize=16)
def sinc_hann_kernel(
    orig: int, new: int, lowpass_filter_width: int = 6, rolloff: float = 0.99
) -> tuple[object, int]:
    """torchaudio's ``_get_sinc_resample_kernel`` for ``sinc_interp_hann`` as
    ``torchaudio.functional.resample`` calls it on a float32 waveform (dtype float32: every
    step in float32), rates over their gcd."""
    import torch

    gcd = math.gcd(orig, new)
    orig, new = orig // gcd, new // gcd
    base_freq = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base_freq)
    idx = torch.arange(-width, width + orig, dtype=torch.float32)[None, None] / orig
    t = torch.arange(0, -new, -1, dtype=torch.float32)[:, None, None] / new + idx
    t *= base_freq
    t = t.clamp_(-lowpass_filter_width, lowpass_filter_width)
    window = torch.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    t *= math.pi
    scale = base_freq / orig
    kernels = torch.where(t == 0, torch.tensor(1.0).to(t), t.sin() / t)
    kernels *= window * scale
    return kernels, width


def torchaudio_hann(wave: np.ndarray, orig: int, new: int) -> np.ndarray:
    """``torchaudio.functional.resample(wave, orig, new)`` with its defaults (Hann window,
    width 6, rolloff 0.99) for a float32 ``[..., samples]`` array: Audiobox Aesthetics'."""
    if orig == new:
        return np.asarray(wave, dtype=np.float32)
    kernel, width = sinc_hann_kernel(orig, new)
    return _apply_kernel(wave, orig, new, kernel, width)


def _apply_kernel(wave: np.ndarray, orig: int, new: int, kernel, width: int) -> np.ndarray:
    """torchaudio's ``_apply_sinc_resample_kernel``: the zero-padded signal convolved with
    stride ``orig'``, ``ceil(new' * length / orig')`` samples kept."""
    import torch

    gcd = math.gcd(orig, new)
    step = orig // gcd
    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    shape = x.shape
    x = x.reshape(-1, shape[-1])
    padded = torch.nn.functional.pad(x, (width, width + step))
    with torch.inference_mode():
        out = torch.nn.functional.conv1d(padded[:, None], kernel, stride=step)
    out = out.transpose(1, 2).reshape(len(x), -1)
    keep = int(torch.ceil(torch.as_tensor((new // gcd) * shape[-1] / step)).item())
    return out[:, :keep].reshape(*shape[:-1], -1).numpy()


@lru_cache(maxsize=16)
def _julius(orig: int, new: int):
    import julius

    return julius.ResampleFrac(orig, new)


def julius_resample(wave: np.ndarray, orig: int, new: int) -> np.ndarray:
    """``julius.resample_frac(wave, orig, new)`` (24 zeros, rolloff 0.945, floor length)
    for a float32 ``[..., samples]`` array, as AudioCraft's ``convert_audio`` calls it."""
    if orig == new:
        return np.asarray(wave, dtype=np.float32)
    import torch

    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    with torch.inference_mode():
        return _julius(orig, new)(x).numpy()


@lru_cache(maxsize=1)
def kaiser_best_window() -> tuple[np.ndarray, int]:
    """resampy's ``kaiser_best`` right wing (float64) and its table entries per crossing."""
    from scipy.signal import get_window

    zeros, bits = KAISER_BEST["num_zeros"], 2 ** KAISER_BEST["precision"]
    n = bits * zeros
    rolloff = KAISER_BEST["rolloff"]
    sinc = rolloff * np.sinc(rolloff * np.linspace(0, zeros, num=n + 1, endpoint=True))
    taper = get_window(("kaiser", KAISER_BEST["beta"]), 2 * n + 1, fftbins=False)[n:]
    window = taper * sinc
    window.flags.writeable = False
    return window, bits


def resampy_kaiser_best(wave: np.ndarray, orig: int, new: int) -> np.ndarray:
    """``resampy.resample(wave, orig, new, filter="kaiser_best")`` (resampy 0.2.2) for a
    1-D array: ``int(len * new / orig)`` samples in the input's float dtype."""
    x = np.asarray(wave)
    if orig == new:
        return x.copy()
    ratio = float(new) / orig
    n_out = int(x.shape[0] * ratio)
    if n_out < 1:
        raise ValueError(f"resampy: {x.shape[0]} samples is too short for {orig} -> {new} Hz")
    window, table = kaiser_best_window()
    if ratio < 1:
        window = window * ratio
    delta = np.zeros_like(window)
    delta[:-1] = np.diff(window)
    scale = min(1.0, ratio)
    step = int(scale * table)
    # the time register, incremented output by output as resampy's loop does
    register = np.add.accumulate(np.r_[0.0, np.full(n_out - 1, 1.0 / ratio)])
    y = np.zeros(n_out, dtype=x.dtype)
    x64 = x.astype(np.float64)
    for first in range(0, n_out, CHUNK):
        t = register[first : first + CHUNK]
        y[first : first + CHUNK] = _wings(t, x64, x.dtype, window, delta, scale, table, step)
    return y


CHUNK = 65536  # outputs per pass of the vectorised loop (fastest here: 4.7x the 16k-wide taps)


def _wings(t, x64, dtype, window, delta, scale, table, step):
    """resampy's inner loop for the outputs at times ``t``: the left wing's taps, then the
    right wing's, each added into an accumulator of ``dtype`` as resampy's ``+=`` does;
    taps past a wing's end weigh 0 (adding 0 leaves a finite sum unchanged). One tap of
    every output per pass keeps each temporary the size of ``t``."""
    start = t.astype(np.int64)
    acc = np.zeros(len(t), dtype=dtype)
    last_tap, last_sample = len(window) - 1, len(x64) - 1
    for side in (0, 1):
        frac = scale * (t - start)
        if side:
            frac = scale - frac
        index = frac * table
        offset = index.astype(np.int64)
        eta = index - offset
        room = start + 1 if side == 0 else len(x64) - start - 1
        taps = np.minimum(room, (len(window) - offset) // step)
        for k in range(int(taps.max(initial=0))):
            at = np.minimum(offset + k * step, last_tap)
            weight = window[at] + eta * delta[at]
            weight[taps <= k] = 0.0
            source = start - k if side == 0 else start + (k + 1)
            acc = (acc + weight * x64[np.clip(source, 0, last_sample)]).astype(dtype)
    return acc


def librosa_soxr_hq(wave: np.ndarray, orig: int, new: int) -> np.ndarray:
    """``librosa.resample(res_type="soxr_hq")`` of a mono float32 array: soxr HQ, then
    ``fix_length`` to ``int(ceil(n * (new / orig)))`` samples in float64 arithmetic (a
    10.0 s file at 44.1 kHz gives 240,001 samples at 24 kHz), zero-padded or cut."""
    wave = np.asarray(wave, dtype=np.float32)
    if orig == new:
        return wave
    size = int(np.ceil(wave.shape[-1] * (float(new) / orig)))
    return fit_length(resample(wave, orig, new), size)


def resample_with(name: str, wave: np.ndarray, orig: int, new: int) -> np.ndarray:
    """Resample a ``[..., samples]`` float32 array with the named resampler."""
    if name == JULIUS:
        return julius_resample(wave, orig, new)
    if name == TORCHAUDIO_KAISER:
        return torchaudio_kaiser(wave, orig, new, **FADTK_KAISER)
    if name == TORCHAUDIO_HANN:
        return torchaudio_hann(wave, orig, new)
    if name == LIBROSA_SOXR:
        return librosa_soxr_hq(wave, orig, new)
    if name == RESAMPY_KAISER_BEST:
        wave = np.asarray(wave, dtype=np.float32)
        if wave.ndim == 1:
            return resampy_kaiser_best(wave, orig, new)
        return np.stack([resampy_kaiser_best(channel, orig, new) for channel in wave])
    if name == RESAMPLER:
        wave = np.asarray(wave, dtype=np.float32)
        if wave.ndim == 1:
            return resample(wave, orig, new)
        return np.stack([resample(channel, orig, new) for channel in wave])
    raise ValueError(f"unknown resampler {name!r}: known are {', '.join(RESAMPLERS)}")
