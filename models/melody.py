"""Melody conditioning (paper Sec. 3.3): a small ViT on mel frames, trained with a
semi-hard triplet loss so that one melody in two timbres lands close and two melodies far
apart; one 192-d embedding per 4 s (three per 10 s, 3 s hop); a residual VQ (paper
24 x 512) turns each embedding into tokens that join MuLan's in the stages' prefix.

The paper's ViT has 12 layers, 6 heads and d 512; 512 does not split into 6 heads, so the
paper preset uses 8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from musiccaps_kit.audio import fit_length, windows
from musiccaps_kit.models.modules.features import LogMel
from musiccaps_kit.models.modules.rvq import ResidualVQ


@dataclass(frozen=True)
class MelodyConfig:
    sample_rate: int = 16000
    n_fft: int = 1024
    hop: int = 160
    n_mels: int = 128
    patch_frames: int = 4
    window_s: float = 4.0
    hop_s: float = 3.0
    dim: int = 512
    layers: int = 12
    heads: int = 8
    ff: int = 1024
    embedding: int = 192
    rvq_levels: int = 24
    rvq_codebook: int = 512


class MelodyEmbedder(nn.Module):
    @property
    def rate(self) -> int:
        """The sample rate this model takes audio at."""
        return self.config.sample_rate

    def __init__(self, c: MelodyConfig = MelodyConfig()):
        super().__init__()
        self.config = c
        self.log_mel = LogMel(c.sample_rate, c.n_fft, c.hop, c.n_mels)
        self.norm = nn.LayerNorm(c.n_mels * c.patch_frames)
        self.patch = nn.Linear(c.n_mels * c.patch_frames, c.dim)
        patches = round(c.window_s * c.sample_rate / c.hop) // c.patch_frames + 1
        self.position = nn.Parameter(torch.randn(patches, c.dim) * 0.02)
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(
                c.dim, c.heads, c.ff, 0.0, batch_first=True, norm_first=True
            ),
            c.layers,
            enable_nested_tensor=False,  # no padding masks: nothing to gain, and norm_first
        )
        self.out = nn.Linear(c.dim, c.embedding)
        self.quantizer = ResidualVQ(c.embedding, c.rvq_levels, c.rvq_codebook, dropout=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """``[batch, samples]`` (one window each) -> unit embeddings ``[batch, 192]``."""
        c = self.config
        mel = self.log_mel(wave).transpose(1, 2)  # [b, frames, mels]
        usable = mel.shape[1] // c.patch_frames * c.patch_frames
        x = mel[:, :usable].reshape(len(mel), -1, c.patch_frames * c.n_mels)
        x = self.patch(self.norm(x)) + self.position[: x.shape[1]]
        return F.normalize(self.out(self.encoder(x).mean(dim=1)), dim=-1)

    @torch.no_grad()
    def window_embeddings(self, wave: np.ndarray) -> torch.Tensor:
        """``[windows, 192]``: 4 s windows with a 3 s hop (a shorter clip is zero-padded)."""
        c = self.config
        size, hop = round(c.window_s * c.sample_rate), round(c.hop_s * c.sample_rate)
        parts = [fit_length(w, size) for w in windows(np.asarray(wave, np.float32), size, hop)]
        self.eval()
        return self(torch.from_numpy(np.stack(parts)).to(self.position.device))

    @torch.no_grad()
    def tokens(self, wave: np.ndarray) -> torch.Tensor:
        """Melody tokens ``[windows, rvq_levels]`` of a mono 16 kHz clip."""
        self.quantizer.eval()
        return self.quantizer(self.window_embeddings(wave))[1]


def semi_hard_triplet_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 0.2
) -> torch.Tensor:
    """FaceNet's semi-hard triplet loss on unit embeddings: for every anchor-positive pair,
    the closest negative farther than the positive (within the margin if any), else the
    farthest negative."""
    distance = torch.cdist(embeddings, embeddings)
    same = labels[:, None] == labels[None]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    losses = []
    for a, p in (same & ~eye).nonzero().tolist():
        d_ap = distance[a, p]
        negatives = distance[a][~same[a]]
        if not len(negatives):
            continue
        semi_hard = negatives[negatives > d_ap]
        d_an = semi_hard.min() if len(semi_hard) else negatives.max()
        losses.append(F.relu(d_ap - d_an + margin))
    if not losses:
        raise ValueError("a triplet batch needs two items of one label and one of another")
    return torch.stack(losses).mean()
