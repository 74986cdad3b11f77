"""Pretrained models a user already has, behind the cascade's interfaces, in place of the
ones trained here; nothing is downloaded.

* EnCodec (a local Hugging Face folder, ``transformers.EncodecModel``) as the codec:
  ``mck train codec-pretrained --model-dir ~/models/encodec_24khz --bandwidth 6``.
  EnCodec 24 kHz runs at 75 frames a second (the paper's SoundStream at 50), with 2-32
  quantisers by bandwidth.
* A self-supervised model (HuBERT, MERT, w2v-BERT...) as the semantic tokenizer: k-means
  centroids on one hidden layer (``mck train semantic-pretrained``). The folder is read with
  ``transformers.AutoModel`` (``trust_remote_code`` for MERT) and its feature extractor's
  sampling rate.
* Any joint text-audio model of ``musiccaps_kit.bench.joint`` (LAION-CLAP, the projection
  model, ...) as MuLan: a residual VQ fitted on its audio embeddings
  (``mck train mulan-pretrained``).

Their ``model.pt`` files (``models.training.pretrained`` writes them) point at the folders
with a checksum and work wherever a trained model's do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from musiccaps_kit.models.model_files import pointed_folder
from musiccaps_kit.models.modules.kmeans import assign
from musiccaps_kit.models.modules.rvq import ResidualVQ


@dataclass(frozen=True)
class PretrainedCodecInfo:
    """What the evaluation and the tokenizer read from a codec's ``config``."""

    sample_rate: int
    frame_rate: float
    levels: int
    codebook_size: int
    coarse_levels: int = 4

    def bitrate(self, levels: int | None = None) -> float:
        return self.frame_rate * (levels or self.levels) * math.log2(self.codebook_size)


class PretrainedCodec:
    @property
    def rate(self) -> int:
        """The sample rate this model takes audio at."""
        return self.config.sample_rate

    def __init__(self, model_dir: str | Path, bandwidth: float):
        from transformers import EncodecModel

        self.model = EncodecModel.from_pretrained(str(model_dir), local_files_only=True).eval()
        c = self.model.config
        if bandwidth not in c.target_bandwidths:
            raise ValueError(f"bandwidth {bandwidth} not among {list(c.target_bandwidths)}")
        self.bandwidth = bandwidth
        frame_rate = c.sampling_rate / math.prod(c.upsampling_ratios)
        levels = round(bandwidth * 1000 / (frame_rate * math.log2(c.codebook_size)))
        self.config = PretrainedCodecInfo(c.sampling_rate, frame_rate, levels, c.codebook_size)

    def eval(self) -> PretrainedCodec:
        return self

    @torch.no_grad()
    def encode(self, wave: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """``[batch, samples]`` -> ``[batch, frames, q]`` (the first ``n_q`` levels)."""
        out = self.model.encode(wave[:, None], bandwidth=self.bandwidth)
        codes = out.audio_codes[0].transpose(1, 2)  # one chunk: [batch, frames, levels]
        return codes[..., : n_q or self.config.levels]

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[batch, frames, q]`` -> ``[batch, samples]`` (missing levels are zero
        contributions: EnCodec decodes any prefix of its quantisers)."""
        quantizer = self.model.quantizer
        embeddings = quantizer.decode(codes.permute(2, 0, 1))
        return self.model.decoder(embeddings)[:, 0]


def load_codec(blob: dict[str, Any]) -> PretrainedCodec:
    return PretrainedCodec(pointed_folder(blob), blob["bandwidth"])


def load_hf_model(model_dir: str | Path):
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
    """Same interface as ``musiccaps_kit.models.semantic.SemanticTokenizer``: ``rate``, ``tokens``,
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


def load_semantic(blob: dict[str, Any]) -> PretrainedSemanticTokenizer:
    model, rate = load_hf_model(pointed_folder(blob))
    return PretrainedSemanticTokenizer(model, rate, blob["layer"], blob["centroids"])


class JointTokens:
    """A joint model's clip embeddings and their frozen RVQ tokens (MuLan's interface)."""

    # clips are read from the records at this rate; the joint model resamples to its own
    rate = 16000

    def __init__(self, joint, quantizer: ResidualVQ):
        self.joint, self.quantizer = joint, quantizer.eval()

    def clip_embedding(self, wave: np.ndarray) -> torch.Tensor:
        frames = self.joint.audio(np.asarray(wave, dtype=np.float32), self.rate)
        return F.normalize(torch.from_numpy(frames.mean(axis=0)).float(), dim=-1)

    @torch.no_grad()
    def tokens(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.quantizer(embeddings)[1]


def joint_quantizer(dims: int, levels: int, codebook: int) -> ResidualVQ:
    return ResidualVQ(dims, levels, codebook, dropout=False)


def load_mulan(blob: dict[str, Any]) -> JointTokens:
    from musiccaps_kit.bench.joint import make_joint_model

    model = make_joint_model(blob["joint"], **blob["options"])
    if model.recipe() != blob["recipe"]:
        raise ValueError(f"the {blob['joint']} model changed since its quantiser was fitted")
    quantizer = joint_quantizer(*blob["shape"])
    quantizer.load_state_dict(blob["quantizer"])
    return JointTokens(model, quantizer)
