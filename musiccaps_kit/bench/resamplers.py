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
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from musiccaps_kit.audio import RESAMPLER, resample

JULIUS = "julius"
TORCHAUDIO_KAISER = "torchaudio-kaiser"
# fadtk/fad.py and kadtk/emb_loader.py, load_audio
FADTK_KAISER = {
    "lowpass_filter_width": 64,
    "rolloff": 0.9475937167399596,
    "beta": 14.769656459379492,
}
RESAMPLERS = (RESAMPLER, JULIUS, TORCHAUDIO_KAISER)


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
    import torch

    kernel, width = sinc_kaiser_kernel(orig, new, lowpass_filter_width, rolloff, beta)
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


def resample_with(name: str, wave: np.ndarray, orig: int, new: int) -> np.ndarray:
    """Resample a ``[..., samples]`` float32 array with the named resampler."""
    if name == JULIUS:
        return julius_resample(wave, orig, new)
    if name == TORCHAUDIO_KAISER:
        return torchaudio_kaiser(wave, orig, new, **FADTK_KAISER)
    if name == RESAMPLER:
        wave = np.asarray(wave, dtype=np.float32)
        if wave.ndim == 1:
            return resample(wave, orig, new)
        return np.stack([resample(channel, orig, new) for channel in wave])
    raise ValueError(f"unknown resampler {name!r}: known are {', '.join(RESAMPLERS)}")
