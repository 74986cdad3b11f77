"""A compact HuBERT-style semantic tokenizer: masked prediction of cluster targets.

* Input: log-mel at 16 kHz (100 frames a second), a strided convolution to 25 Hz, a
  convolutional position embedding, a Transformer encoder.
* Training, as HuBERT: spans of frames are replaced by a learnt mask vector and the model
  predicts each masked frame's cluster. Iteration 1 clusters log-mel frames (k-means on
  the frames pooled to 25 Hz); at ``iteration_steps`` the targets become k-means clusters
  of the model's own ``token_layer`` features, computed by a frozen copy of it.
* Tokens: k-means with ``clusters`` centroids (paper: 1024, 25 Hz) on ``token_layer``
  features of the training clips; the centroids are saved with the model, since the
  memorisation analysis needs their distances.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from musiccaps_kit.models.modules.features import LogMel
from musiccaps_kit.models.modules.kmeans import assign


@dataclass(frozen=True)
class SemanticConfig:
    sample_rate: int = 16000
    n_mels: int = 64
    n_fft: int = 400
    hop: int = 160
    subsample: int = 4
    dim: int = 256
    layers: int = 6
    heads: int = 4
    ff: int = 1024
    token_layer: int = 4
    targets_first: int = 100
    targets_second: int = 500
    clusters: int = 1024
    mask_prob: float = 0.08
    mask_length: int = 5

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop / self.subsample


class SemanticModel(nn.Module):
    def __init__(self, c: SemanticConfig):
        super().__init__()
        self.c = c
        self.log_mel = LogMel(c.sample_rate, c.n_fft, c.hop, c.n_mels)
        self.norm = nn.LayerNorm(c.n_mels)
        self.subsample = nn.Conv1d(c.n_mels, c.dim, c.subsample, c.subsample)
        self.position = nn.Conv1d(c.dim, c.dim, 31, padding=15, groups=min(8, c.dim))
        self.mask_vector = nn.Parameter(torch.randn(c.dim) * 0.02)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                c.dim, c.heads, c.ff, dropout=0.0, batch_first=True, norm_first=True
            )
            for _ in range(c.layers)
        )

    def frames(self, wave: torch.Tensor) -> torch.Tensor:
        """Log-mel frames pooled to the token rate: ``[batch, frames, n_mels]``."""
        mel = self.log_mel(wave)
        usable = mel.shape[-1] // self.c.subsample * self.c.subsample
        pooled = mel[..., :usable].unflatten(-1, (-1, self.c.subsample)).mean(-1)
        return pooled.transpose(1, 2)

    def forward(
        self, wave: torch.Tensor, mask: torch.Tensor | None = None, upto: int | None = None
    ) -> torch.Tensor:
        """Features after ``upto`` layers (all by default): ``[batch, frames, dim]``."""
        mel = self.norm(self.log_mel(wave).transpose(1, 2)).transpose(1, 2)
        x = self.subsample(mel).transpose(1, 2)
        if mask is not None:
            x = torch.where(mask[..., None], self.mask_vector.to(x.dtype), x)
        x = x + self.position(x.transpose(1, 2)).transpose(1, 2)
        for layer in self.layers[: upto if upto is not None else len(self.layers)]:
            x = layer(x)
        return x


def span_mask(
    batch: int, frames: int, prob: float, length: int, generator: torch.Generator
) -> torch.Tensor:
    """HuBERT's mask: each frame starts a masked span of ``length`` with probability ``prob``."""
    starts = torch.rand(batch, frames, generator=generator) < prob
    mask = torch.zeros(batch, frames, dtype=torch.bool)
    for offset in range(length):
        mask[:, offset:] |= starts[:, : frames - offset]
    empty = ~mask.any(dim=1)
    mask[empty, :length] = True  # at least one span per example
    return mask


class SemanticTokenizer:
    """A trained model, its token layer and centroids: waveform -> tokens at 25 Hz."""

    def __init__(self, model: SemanticModel, centroids: torch.Tensor):
        self.model, self.centroids = model.eval(), centroids

    @property
    def config(self) -> SemanticConfig:
        return self.model.c

    @property
    def rate(self) -> int:
        return self.model.c.sample_rate

    @torch.no_grad()
    def features(self, wave: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(np.array(wave, dtype=np.float32))  # a writable copy
        return self.model(x[None] if x.ndim == 1 else x, upto=self.config.token_layer)

    @torch.no_grad()
    def tokens(self, wave: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``[frames]`` tokens of a mono 16 kHz clip (``[batch, frames]`` for a batch)."""
        feats = self.features(wave)
        flat = assign(feats.reshape(-1, feats.shape[-1]), self.centroids)
        tokens = flat.reshape(feats.shape[:-1])
        return tokens[0] if np.ndim(wave) == 1 else tokens


def masked_prediction_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor):
    """Cross-entropy on masked frames (mean per example, then over examples, so a batch's
    loss is the mean of its examples' and DDP ranks add up to one process), and accuracy."""
    per_frame = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    counts = mask.sum(dim=1).clamp(min=1)
    loss = ((per_frame * mask).sum(dim=1) / counts).mean()
    accuracy = (logits.argmax(-1) == targets)[mask].float().mean()
    return loss, accuracy
