"""Register pretrained models in place of trained ones (``mck train codec-pretrained``,
``semantic-pretrained``, ``mulan-pretrained``): check that they load, fit what they need
(k-means centroids, a residual VQ) on the training clips, and write ``model.pt``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from musiccaps_kit.bench.joint import make_joint_model
from musiccaps_kit.models.model_files import (
    CODEC_PRETRAINED_FORMAT,
    MODEL,
    MULAN_PRETRAINED_FORMAT,
    SEMANTIC_PRETRAINED_FORMAT,
    save_checkpoint,
    save_folder_pointer,
)
from musiccaps_kit.models.modules.kmeans import kmeans
from musiccaps_kit.models.pretrained import (
    JointTokens,
    PretrainedCodec,
    PretrainedSemanticTokenizer,
    joint_quantizer,
    load_hf_model,
)
from musiccaps_kit.models.records import ClipBank


def register_codec(model_dir: str | Path, bandwidth: float, out: str | Path) -> dict[str, Any]:
    """Check that the EnCodec folder loads, and write ``out/model.pt`` pointing at it."""
    codec = PretrainedCodec(model_dir, bandwidth)
    save_folder_pointer(out, CODEC_PRETRAINED_FORMAT, model_dir, bandwidth=bandwidth)
    return {"levels": codec.config.levels, "frame_rate": codec.config.frame_rate}


def fit_semantic(
    model_dir: str | Path,
    layer: int,
    records: str | Path,
    clusters: int,
    out: str | Path,
    clips: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """k-means on ``layer`` features of up to ``clips`` training clips; writes model.pt."""
    model, rate = load_hf_model(model_dir)
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
        SEMANTIC_PRETRAINED_FORMAT,
        model_dir,
        layer=layer,
        rate=rate,
        centroids=centroids,
        kmeans_frames=int(len(feats)),
    )
    return {"frames": int(len(feats)), "rate": rate, "layers": layers}


def fit_mulan(
    joint: str, options: dict[str, Any], records: str | Path, levels: int, codebook: int, out
) -> dict[str, Any]:
    model = make_joint_model(joint, **options)
    bank = ClipBank(records, JointTokens.rate)
    tokens = JointTokens(model, joint_quantizer(1, 1, 1))
    embeddings = torch.stack([tokens.clip_embedding(w) for w in bank.waves])
    quantizer = joint_quantizer(embeddings.shape[1], levels, codebook)
    quantizer.fit(embeddings)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(
        out / MODEL,
        {
            "format": MULAN_PRETRAINED_FORMAT,
            "joint": joint,
            "options": options,
            "recipe": model.recipe(),
            "quantizer": quantizer.state_dict(),
            "shape": [int(embeddings.shape[1]), levels, codebook],
        },
    )
    return {"clips": len(bank), "dims": int(embeddings.shape[1])}
