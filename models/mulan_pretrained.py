"""Conditioning tokens from any joint text-audio model of ``musiccaps_kit.joint`` (LAION-CLAP
from a local checkpoint, the projection model, ...) in place of the MuLan trained here: a
residual VQ fitted by k-means on the model's audio embeddings of the training clips.

    mck train mulan-pretrained --joint clap --checkpoint ~/models/music_audioset.pt \\
        --records data/mc --out runs/mulan-clap

``runs/mulan-clap/model.pt`` then works wherever a MuLan ``model.pt`` does (the cascade
tokenizer's ``mulan=``); its recipe names the joint model and its checksum.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from models.rvq import ResidualVQ
from models.training import ClipBank, save_checkpoint

FORMAT = "musiccaps-kit/mulan-pretrained/1"


class JointTokens:
    """A joint model's clip embeddings and their frozen RVQ tokens (MuLan's interface)."""

    def __init__(self, joint, quantizer: ResidualVQ):
        self.joint, self.quantizer = joint, quantizer.eval()

    def clip_embedding(self, wave: np.ndarray, rate: int = 16000) -> torch.Tensor:
        frames = self.joint.audio(np.asarray(wave, dtype=np.float32), rate)
        return F.normalize(torch.from_numpy(frames.mean(axis=0)).float(), dim=-1)

    @torch.no_grad()
    def tokens(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.quantizer(embeddings)[1]


def _quantizer(dims: int, levels: int, codebook: int) -> ResidualVQ:
    return ResidualVQ(dims, levels, codebook, dropout=False)


def fit(
    joint: str, options: dict[str, Any], records: str | Path, levels: int, codebook: int, out
) -> dict[str, Any]:
    from musiccaps_kit.joint import make_joint_model

    model = make_joint_model(joint, **options)
    bank = ClipBank(records, 16000)
    tokens = JointTokens(model, _quantizer(1, 1, 1))
    embeddings = torch.stack([tokens.clip_embedding(w) for w in bank.waves])
    quantizer = _quantizer(embeddings.shape[1], levels, codebook)
    quantizer.fit(embeddings)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(
        out / "model.pt",
        {
            "format": FORMAT,
            "joint": joint,
            "options": options,
            "recipe": model.recipe(),
            "quantizer": quantizer.state_dict(),
            "shape": [int(embeddings.shape[1]), levels, codebook],
        },
    )
    return {"clips": len(bank), "dims": int(embeddings.shape[1])}


def load(blob: dict[str, Any]) -> JointTokens:
    from musiccaps_kit.joint import make_joint_model

    model = make_joint_model(blob["joint"], **blob["options"])
    if model.recipe() != blob["recipe"]:
        raise ValueError(f"the {blob['joint']} model changed since its quantiser was fitted")
    quantizer = _quantizer(*blob["shape"])
    quantizer.load_state_dict(blob["quantizer"])
    return JointTokens(model, quantizer)
