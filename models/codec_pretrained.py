"""A user's pretrained EnCodec (a local Hugging Face folder, ``transformers.EncodecModel``)
behind the codec's interface, in place of the one trained here.

    mck train codec-pretrained --model-dir ~/models/encodec_24khz --bandwidth 6 --out runs/encodec

writes ``runs/encodec/model.pt`` (the folder, its checksum and the bandwidth), which
``mck prepare --tokenizer cascade --tokenizer-option codec=...`` and ``mck eval codec``
take like a trained codec's. EnCodec 24 kHz runs at 75 frames a second (the paper's
SoundStream at 50), with 2-32 quantisers by bandwidth; nothing is downloaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from models.training import pointed_folder, save_folder_pointer

FORMAT = "musiccaps-kit/codec-pretrained/1"


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


def register(model_dir: str | Path, bandwidth: float, out: str | Path) -> dict[str, Any]:
    """Check that the folder loads, and write ``out/model.pt`` pointing at it."""
    codec = PretrainedCodec(model_dir, bandwidth)
    save_folder_pointer(out, FORMAT, model_dir, bandwidth=bandwidth)
    return {"levels": codec.config.levels, "frame_rate": codec.config.frame_rate}


def load(blob: dict[str, Any]) -> PretrainedCodec:
    return PretrainedCodec(pointed_folder(blob), blob["bandwidth"])
