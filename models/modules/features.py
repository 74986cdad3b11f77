"""Log-mel spectrograms in PyTorch (the MuLan and semantic models' input)."""

from __future__ import annotations

import torch
from torch import nn

from musiccaps_kit.mel import mel_filterbank


class LogMel(nn.Module):
    """``[batch, samples]`` -> ``[batch, n_mels, frames]`` of log(mel power + 1e-6)."""

    def __init__(self, sample_rate: int, n_fft: int, hop: int, n_mels: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        bank = torch.from_numpy(mel_filterbank(sample_rate, n_fft, n_mels))
        self.register_buffer("bank", bank, persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(
            wave.float(), self.n_fft, self.hop, window=self.window, return_complex=True
        )
        return torch.log(self.bank @ spec.abs() ** 2 + 1e-6)
