"""The codec's adversary: a multi-scale STFT discriminator (SoundStream) with hinge losses
and relative feature matching. Training only: inference never loads it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from musiccaps_kit.models.codec import CodecConfig


class STFTDiscriminator(nn.Module):
    """One scale: 2-D convolutions over the complex STFT (real and imaginary channels)."""

    def __init__(self, n_fft: int, channels: int):
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.convs = nn.ModuleList(
            [
                nn.Conv2d(2, channels, (3, 9), padding=(1, 4)),
                nn.Conv2d(channels, channels, (3, 9), (1, 2), padding=(1, 4)),
                nn.Conv2d(channels, channels, (3, 9), (1, 2), padding=(2, 4), dilation=(2, 1)),
                nn.Conv2d(channels, channels, (3, 9), (1, 2), padding=(4, 4), dilation=(4, 1)),
                nn.Conv2d(channels, channels, (3, 3), padding=(1, 1)),
            ]
        )
        self.out = nn.Conv2d(channels, 1, (3, 3), padding=(1, 1))

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        spec = torch.stft(
            wave.float(), self.n_fft, self.n_fft // 4, window=self.window, return_complex=True
        )
        x = torch.stack([spec.real, spec.imag], dim=1).transpose(2, 3)  # [b, 2, time, freq]
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
            features.append(x)
        return self.out(x), features


class MultiScaleSTFTDiscriminator(nn.Module):
    def __init__(self, c: CodecConfig):
        super().__init__()
        self.scales = nn.ModuleList(STFTDiscriminator(n, c.disc_channels) for n in c.disc_ffts)

    def forward(self, wave: torch.Tensor):
        return [scale(wave) for scale in self.scales]


def discriminator_loss(real_out, fake_out) -> torch.Tensor:
    """Hinge loss over scales."""
    return sum(
        F.relu(1 - r).mean() + F.relu(1 + f).mean()
        for (r, _), (f, _) in zip(real_out, fake_out, strict=True)
    ) / len(real_out)


def generator_losses(real_out, fake_out) -> tuple[torch.Tensor, torch.Tensor]:
    """Adversarial hinge loss and relative L1 feature matching, averaged over scales.

    Feature matching is relative per example (then averaged), so the loss of a batch is
    the mean of its examples' and DDP ranks add up to one process on the whole batch.
    """
    adversarial = sum(F.relu(1 - f).mean() for f, _ in fake_out) / len(fake_out)
    matching = []
    for (_, real_features), (_, fake_features) in zip(real_out, fake_out, strict=True):
        for r, f in zip(real_features, fake_features, strict=True):
            r = r.detach().flatten(1)
            distance = (r - f.flatten(1)).abs().mean(dim=1)
            matching.append((distance / (r.abs().mean(dim=1) + 1e-5)).mean())
    return adversarial, torch.stack(matching).mean()
