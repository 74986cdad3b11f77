"""A SoundStream-style neural audio codec: 24 kHz mono, stride 480 (50 frames a second).

* Encoder: a 7-tap convolution, then per stride (2, 4, 6, 10) three dilated residual
  units (dilations 1, 3, 9) and a strided convolution doubling the channels; a final
  convolution to ``dim``. The decoder mirrors it with transposed convolutions.
* Residual VQ (``modules.rvq``): paper preset 12 levels x 1024 codes = 6 kbps; the
  first ``coarse_levels`` (4) are the coarse acoustic tokens, the rest the fine ones.
* Losses: multi-scale mel reconstruction (L1 on mel + sqrt(n_fft/2)-weighted L2 on log
  mel, STFT sizes 64..2048) here; the adversarial multi-scale STFT discriminator (hinge)
  with feature matching in ``models.training.adversarial``; the RVQ commitment loss.

In eval mode ``encode``/``decode`` are deterministic (nearest codes, no dropout).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from musiccaps_kit.mel import mel_filterbank
from musiccaps_kit.models.modules.rvq import ResidualVQ


@dataclass(frozen=True)
class CodecConfig:
    sample_rate: int = 24000
    channels: int = 32
    dim: int = 128
    strides: tuple[int, ...] = (2, 4, 6, 10)
    levels: int = 12
    codebook_size: int = 1024
    coarse_levels: int = 4
    quantizer_dropout: bool = True
    spectral_ffts: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048)
    n_mels: int = 64
    disc_ffts: tuple[int, ...] = (512, 1024, 2048)
    disc_channels: int = 32

    @property
    def hop(self) -> int:
        return math.prod(self.strides)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    def bitrate(self, levels: int | None = None) -> float:
        """Bits per second with ``levels`` quantisers."""
        return self.frame_rate * (levels or self.levels) * math.log2(self.codebook_size)


class ResidualUnit(nn.Module):
    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ELU(),
            nn.Conv1d(channels, channels, 7, dilation=dilation, padding=3 * dilation),
            nn.ELU(),
            nn.Conv1d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Encoder(nn.Module):
    def __init__(self, c: CodecConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(1, c.channels, 7, padding=3)]
        width = c.channels
        for stride in c.strides:
            layers += [ResidualUnit(width, d) for d in (1, 3, 9)]
            layers += [nn.ELU(), nn.Conv1d(width, 2 * width, 2 * stride, stride, stride // 2)]
            width *= 2
        layers += [nn.ELU(), nn.Conv1d(width, c.dim, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.net(wave[:, None])


class Decoder(nn.Module):
    def __init__(self, c: CodecConfig):
        super().__init__()
        width = c.channels * 2 ** len(c.strides)
        layers: list[nn.Module] = [nn.Conv1d(c.dim, width, 7, padding=3)]
        for stride in reversed(c.strides):
            layers += [
                nn.ELU(),
                nn.ConvTranspose1d(width, width // 2, 2 * stride, stride, stride // 2),
            ]
            width //= 2
            layers += [ResidualUnit(width, d) for d in (1, 3, 9)]
        layers += [nn.ELU(), nn.Conv1d(width, 1, 7, padding=3)]
        self.net = nn.Sequential(*layers)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.net(latent)[:, 0]


class Codec(nn.Module):
    @property
    def rate(self) -> int:
        """The sample rate this model takes audio at."""
        return self.config.sample_rate

    def __init__(self, config: CodecConfig = CodecConfig()):
        super().__init__()
        if any(s % 2 for s in config.strides):
            raise ValueError("codec strides must be even (exact frame counts)")
        self.config = config
        self.encoder = Encoder(config)
        self.quantizer = ResidualVQ(
            config.dim, config.levels, config.codebook_size, dropout=config.quantizer_dropout
        )
        self.decoder = Decoder(config)

    def _pad(self, wave: torch.Tensor) -> torch.Tensor:
        extra = (-wave.shape[-1]) % self.config.hop
        return F.pad(wave, (0, extra))

    def forward(
        self, wave: torch.Tensor, step: int = 0, n_q: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction ``[batch, samples]``, codes ``[batch, frames, q]``, commitment."""
        length = wave.shape[-1]
        latent = self.encoder(self._pad(wave))  # [batch, dim, frames]
        batch, dim, frames = latent.shape
        flat = latent.transpose(1, 2).reshape(-1, dim)
        quantized, codes, commitment = self.quantizer(flat, n_q=n_q, step=step)
        quantized = quantized.reshape(batch, frames, dim).transpose(1, 2)
        recon = self.decoder(quantized)[..., :length]
        return recon, codes.reshape(batch, frames, -1), commitment

    @torch.no_grad()
    def encode(self, wave: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """Acoustic tokens ``[batch, frames, q]`` (frames = ceil(samples / 480))."""
        latent = self.encoder(self._pad(wave))
        batch, dim, frames = latent.shape
        _, codes, _ = self.quantizer(latent.transpose(1, 2).reshape(-1, dim), n_q=n_q)
        return codes.reshape(batch, frames, -1)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        batch, frames, q = codes.shape
        latent = self.quantizer.decode(codes.reshape(-1, q)).reshape(batch, frames, -1)
        return self.decoder(latent.transpose(1, 2))


class MelSpectrum(nn.Module):
    """Mel power spectra at several STFT sizes (the reconstruction loss's scales)."""

    def __init__(self, c: CodecConfig):
        super().__init__()
        self.ffts = c.spectral_ffts
        for n_fft in self.ffts:
            mels = min(c.n_mels, n_fft // 4)
            bank = torch.from_numpy(mel_filterbank(c.sample_rate, n_fft, mels))
            self.register_buffer(f"bank_{n_fft}", bank, persistent=False)
            self.register_buffer(f"window_{n_fft}", torch.hann_window(n_fft), persistent=False)

    def forward(self, wave: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for n_fft in self.ffts:
            spec = torch.stft(
                wave.float(),
                n_fft,
                n_fft // 4,
                window=getattr(self, f"window_{n_fft}"),
                return_complex=True,
            )
            out.append(getattr(self, f"bank_{n_fft}") @ spec.abs() ** 2)
        return out


def spectral_loss(spectrum: MelSpectrum, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """SoundStream's multi-scale loss: L1 on mel plus sqrt(n_fft / 2) x L2 on log mel."""
    total = torch.zeros((), device=real.device)
    for n_fft, a, b in zip(spectrum.ffts, spectrum(real), spectrum(fake), strict=True):
        log_a, log_b = torch.log(a + 1e-5), torch.log(b + 1e-5)
        l2 = torch.sqrt(torch.mean((log_a - log_b) ** 2, dim=1) + 1e-8).mean()
        total = total + (a - b).abs().mean() + math.sqrt(n_fft / 2) * l2
    return total / len(spectrum.ffts)


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB."""
    reference = reference - reference.mean()
    estimate = estimate - estimate.mean()
    scale = np.dot(estimate, reference) / (np.dot(reference, reference) + 1e-12)
    target = scale * reference
    noise = estimate - target
    return float(10 * np.log10((target @ target + 1e-12) / (noise @ noise + 1e-12)))
