"""Semantic tokens from a user's pretrained self-supervised model (HuBERT, MERT, w2v-BERT...)
in a local Hugging Face folder, in place of the compact model: k-means on one hidden
layer's features of the training clips, the centroids saved with the folder's checksum.

    mck train semantic-pretrained --model-dir ~/models/MERT-v1-95M --layer 7 \\
        --records data/musiccaps --clusters 1024 --out runs/semantic-mert

The folder is read with ``transformers.AutoModel`` (``trust_remote_code`` for MERT) and its
feature extractor's sampling rate; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.kmeans import assign, kmeans
from models.training import ClipBank, pointed_folder, save_folder_pointer

FORMAT = "musiccaps-kit/semantic-pretrained/1"


def _load(model_dir: str | Path):
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

    folder = str(model_dir)
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True, local_files_only=True)
    model = AutoModel.from_pretrained(
        folder, trust_remote_code=True, local_files_only=True, config=config
    ).eval()
    try:
        extractor = AutoFeatureExtractor.from_pretrained(folder, local_files_only=True)
        rate = int(getattr(extractor, "sampling_rate", 16000))
    except (OSError, ValueError):
        rate = 16000
    return model, rate


class PretrainedSemanticTokenizer:
    """Same interface as ``models.semantic.SemanticTokenizer``: ``rate``, ``tokens``,
    ``centroids``."""

    def __init__(self, model, rate: int, layer: int, centroids: torch.Tensor):
        self.model, self.rate, self.layer, self.centroids = model, rate, layer, centroids

    @torch.no_grad()
    def features(self, wave: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.asarray(wave, dtype=np.float32))[None]
        x = (x - x.mean()) / (x.std() + 1e-7)  # the feature extractors' normalisation
        return self.model(x, output_hidden_states=True).hidden_states[self.layer][0]

    def tokens(self, wave: np.ndarray) -> torch.Tensor:
        return assign(self.features(wave), self.centroids)


def fit(
    model_dir: str | Path,
    layer: int,
    records: str | Path,
    clusters: int,
    out: str | Path,
    clips: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """k-means on ``layer`` features of up to ``clips`` training clips; writes model.pt."""
    model, rate = _load(model_dir)
    layers = model.config.num_hidden_layers
    if not 0 <= layer <= layers:
        raise ValueError(f"layer must be in 0..{layers} for {model_dir}")
    bank = ClipBank(records, rate)
    tokenizer = PretrainedSemanticTokenizer(model, rate, layer, torch.zeros(0))
    order = np.random.default_rng(seed).permutation(len(bank))[:clips]
    feats = torch.cat([tokenizer.features(bank.waves[i]) for i in sorted(order)])
    centroids, _ = kmeans(feats, clusters, seed=seed)
    save_folder_pointer(
        out,
        FORMAT,
        model_dir,
        layer=layer,
        rate=rate,
        centroids=centroids,
        kmeans_frames=int(len(feats)),
    )
    return {"frames": int(len(feats)), "rate": rate, "layers": layers}


def load(blob: dict[str, Any]) -> PretrainedSemanticTokenizer:
    model, rate = _load(pointed_folder(blob))
    return PretrainedSemanticTokenizer(model, rate, blob["layer"], blob["centroids"])
