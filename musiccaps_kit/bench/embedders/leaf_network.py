"""LEAF (Zeghidour et al., 2021): a learnable audio front-end, and an AudioSet classifier on it.

MusicLM's KLD uses a LEAF-based classifier over the 527 AudioSet classes; its weights are
not public. This is the architecture, trainable and loadable from a checkpoint path:

* Gabor filterbank: 40 complex Gabor filters of 401 taps (25 ms at 16 kHz), stride 1,
  initialised on the mel scale between 60 and 7,800 Hz; centre frequency and bandwidth
  are learnt (clamped as in the reference code); the output is the squared modulus.
* Gaussian low-pass pooling: one learnt Gaussian window of 401 taps per channel, stride
  160 (100 frames per second), width initialised at 0.4 and clamped to [2/401, 0.5].
* sPCEN: per-channel smoothed PCEN, ``(E / (floor + M)^alpha + delta)^(1/r) - delta^(1/r)``
  with ``M`` an exponential moving average of ``E`` (coefficient s), alpha 0.96, s 0.04,
  delta 2, r 2, floor 1e-12 at initialisation, all learnt per channel.
* Classifier: a compact CNN over the ``[40, frames]`` map (the paper used EfficientNet-B0)
  with mean+max pooling over time and frequency, 527 logits.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from musiccaps_kit.mel import mel_filterbank

CHECKPOINT_FORMAT = "musiccaps-kit/leaf-classifier/1"
AUDIOSET_CLASSES = 527


@dataclass(frozen=True)
class LeafConfig:
    sample_rate: int = 16000
    n_filters: int = 40
    window_len: int = 401
    stride: int = 160
    min_freq: float = 60.0
    max_freq: float = 7800.0
    mel_n_fft: int = 512
    channels: tuple[int, ...] = (32, 64, 128, 256)
    n_classes: int = AUDIOSET_CLASSES


def mel_gabor_init(config: LeafConfig) -> tuple[np.ndarray, np.ndarray]:
    """Centre frequencies (radians per sample) and bandwidths (samples) from a mel bank.

    As LEAF's ``GaborInit``: each filter's centre is the peak of the square root of a
    triangular HTK-mel filter and its width follows from that filter's full width at half
    maximum: sigma = sqrt(2 ln 2) * n_fft / (pi * fwhm_bins).
    """
    n_fft, rate = config.mel_n_fft, config.sample_rate
    filters = mel_filterbank(
        rate, n_fft, config.n_filters, config.min_freq, config.max_freq, "htk", False, np.float64
    )
    sqrt_filters = np.sqrt(filters)
    peaks = sqrt_filters.max(axis=1, keepdims=True)
    fwhm = np.maximum((sqrt_filters >= peaks / 2).sum(axis=1), 1)
    centres = sqrt_filters.argmax(axis=1) * 2 * np.pi / n_fft
    sigmas = np.sqrt(2 * np.log(2)) * n_fft / (np.pi * fwhm)
    return centres.astype(np.float32), sigmas.astype(np.float32)


class GaborFilterbank(nn.Module):
    """Complex Gabor filters as a 1-D convolution; returns the squared modulus."""

    def __init__(self, config: LeafConfig):
        super().__init__()
        centres, sigmas = mel_gabor_init(config)
        self.centres = nn.Parameter(torch.from_numpy(centres))
        self.sigmas = nn.Parameter(torch.from_numpy(sigmas))
        self.window_len = config.window_len

    def clamped(self) -> tuple[torch.Tensor, torch.Tensor]:
        low = 4 * math.sqrt(2 * math.log(2)) / math.pi
        high = self.window_len * math.sqrt(2 * math.log(2)) / math.pi
        return self.centres.clamp(0, math.pi), self.sigmas.clamp(low, high)

    def impulse_responses(self) -> torch.Tensor:
        """``[n_filters, 2, window_len]``: real and imaginary parts of each filter."""
        centres, sigmas = self.clamped()
        n = self.window_len
        t = torch.arange(-(n // 2), (n + 1) // 2, dtype=centres.dtype, device=centres.device)
        envelope = torch.exp(-(t[None] ** 2) / (2 * sigmas[:, None] ** 2))
        envelope = envelope / (math.sqrt(2 * math.pi) * sigmas[:, None])
        phase = centres[:, None] * t[None]
        return torch.stack([envelope * torch.cos(phase), envelope * torch.sin(phase)], dim=1)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """``[batch, samples]`` -> ``[batch, n_filters, samples]`` energies."""
        kernels = self.impulse_responses().reshape(-1, 1, self.window_len)
        out = F.conv1d(wave[:, None], kernels, padding=self.window_len // 2)
        real, imag = out[:, 0::2], out[:, 1::2]
        return real**2 + imag**2


class GaussianLowpass(nn.Module):
    """Depthwise low-pass with one learnt Gaussian window per channel, then decimation."""

    def __init__(self, config: LeafConfig, init_width: float = 0.4):
        super().__init__()
        self.widths = nn.Parameter(torch.full((config.n_filters,), init_width))
        self.window_len, self.stride = config.window_len, config.stride

    def windows(self) -> torch.Tensor:
        n = self.window_len
        widths = self.widths.clamp(2 / n, 0.5)
        t = torch.arange(n, dtype=widths.dtype, device=widths.device)
        half = 0.5 * (n - 1)
        return torch.exp(-0.5 * ((t[None] - half) / (widths[:, None] * half)) ** 2)

    def forward(self, energies: torch.Tensor) -> torch.Tensor:
        kernels = self.windows()[:, None]
        return F.conv1d(
            energies,
            kernels,
            stride=self.stride,
            padding=self.window_len // 2,
            groups=energies.shape[1],
        )


class SPCEN(nn.Module):
    """Smoothed per-channel energy normalisation with learnt per-channel parameters."""

    def __init__(
        self,
        n_channels: int,
        alpha: float = 0.96,
        smooth: float = 0.04,
        delta: float = 2.0,
        root: float = 2.0,
        floor: float = 1e-12,
    ):
        super().__init__()
        self.alpha = nn.Parameter(torch.full((n_channels,), alpha))
        self.smooth = nn.Parameter(torch.full((n_channels,), smooth))
        self.delta = nn.Parameter(torch.full((n_channels,), delta))
        self.root = nn.Parameter(torch.full((n_channels,), root))
        self.floor = floor

    def moving_average(self, energies: torch.Tensor) -> torch.Tensor:
        """``M[t] = s * E[t] + (1 - s) * M[t - 1]`` with ``M[0] = E[0]``, per channel."""
        s = self.smooth.clamp(0, 1)[None]
        state = energies[..., 0]
        out = [state]
        for t in range(1, energies.shape[-1]):
            state = s * energies[..., t] + (1 - s) * state
            out.append(state)
        return torch.stack(out, dim=-1)

    def forward(self, energies: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha.clamp(max=1.0)[None, :, None]
        inv_root = 1 / self.root.clamp(min=1.0)[None, :, None]
        delta = self.delta[None, :, None]
        smoothed = self.moving_average(energies)
        normalised = energies / (self.floor + smoothed) ** alpha
        return (normalised + delta) ** inv_root - delta**inv_root


class Leaf(nn.Module):
    """Waveform ``[batch, samples]`` at 16 kHz -> ``[batch, n_filters, frames]`` at 100 Hz."""

    def __init__(self, config: LeafConfig):
        super().__init__()
        self.filterbank = GaborFilterbank(config)
        self.pooling = GaussianLowpass(config)
        self.compression = SPCEN(config.n_filters)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.compression(self.pooling(self.filterbank(wave)))


class LeafClassifier(nn.Module):
    """LEAF features, a compact CNN, and ``n_classes`` logits per clip."""

    def __init__(self, config: LeafConfig = LeafConfig()):
        super().__init__()
        self.config = config
        self.frontend = Leaf(config)
        self.norm = nn.BatchNorm2d(1)
        blocks, width = [], 1
        for channels in config.channels:
            blocks += [
                nn.Conv2d(width, channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            width = channels
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(2 * width, config.n_classes)

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled features ``[batch, 2 * channels]`` and logits ``[batch, n_classes]``."""
        x = self.body(self.norm(self.frontend(wave)[:, None]))
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
        return pooled, self.head(pooled)


class CheckpointError(ValueError):
    """A checkpoint that is missing, of another format, or does not fit the model."""


def save_checkpoint(model: LeafClassifier, path: str | Path, classes: list[str]) -> Path:
    """Weights, configuration and class names (AudioSet mids in order) in one file."""
    if len(classes) != model.config.n_classes:
        raise ValueError(f"{len(classes)} class names for {model.config.n_classes} outputs")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "config": asdict(model.config),
            "classes": list(classes),
            "state_dict": model.state_dict(),
        },
        path,
    )
    return path


def load_checkpoint(path: str | Path) -> tuple[LeafClassifier, list[str]]:
    """The classifier (eval mode) and its class names from a ``save_checkpoint`` file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"LEAF checkpoint {path} not found")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path} is not a readable LEAF checkpoint: {e}") from None
    if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint")
    config = dict(blob["config"])
    config["channels"] = tuple(config["channels"])
    model = LeafClassifier(LeafConfig(**config))
    if len(blob["classes"]) != model.config.n_classes:
        raise CheckpointError(f"{path}: {len(blob['classes'])} class names for the outputs")
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"{path} does not fit the LEAF classifier: {e}") from None
    return model.eval(), list(blob["classes"])
