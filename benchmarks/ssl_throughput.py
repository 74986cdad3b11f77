"""Real-time factor of fadtk's and kadtk's transformers families at full size on this
machine (random weights, the published architectures), one clip per processor call as the
tools and ``mck bench`` on a CPU run them, against the decode floor of the same clips.

    python -m benchmarks.ssl_throughput [--clips 2] [--families w2v2-base,whisper-base]

Seconds of audio embedded per second of wall time (higher is faster)."""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from benchmarks.embedder_throughput import load
from musiccaps_kit.audio import resample
from musiccaps_kit.bench.embedders import ssl
from musiccaps_kit.bench.embedders.mert_network import Mert

LARGE = {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
         "intermediate_size": 4096}  # fmt: skip
WHISPER = {  # d_model, layers, heads, ffn
    "tiny": (384, 4, 6, 1536), "base": (512, 6, 8, 2048), "small": (768, 12, 12, 3072),
    "medium": (1024, 24, 16, 4096), "large": (1280, 32, 20, 5120),
}  # fmt: skip


def build(family: str):
    """(model, feature extractor) of a family at its published size, random weights."""
    from transformers import (
        HubertConfig,
        HubertModel,
        Wav2Vec2Config,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2Model,
        WavLMConfig,
        WavLMModel,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperModel,
    )  # fmt: skip

    size = family.split("-", 1)[1]
    big = LARGE if "large" in size or "330" in size else {}
    if family.startswith("whisper"):
        d, layers, heads, ffn = WHISPER[size]
        config = WhisperConfig(
            d_model=d, encoder_layers=layers, decoder_layers=layers, encoder_attention_heads=heads,
            decoder_attention_heads=heads, encoder_ffn_dim=ffn, decoder_ffn_dim=ffn,
        )  # fmt: skip
        return WhisperModel(config).eval(), WhisperFeatureExtractor()
    if family.startswith("mert"):
        config = {"conv_dim": [512] * 7, "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
                  "conv_stride": [5, 2, 2, 2, 2, 2, 2], "hidden_size": 768,
                  "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
                  **big}  # fmt: skip
        return Mert(config).eval(), Wav2Vec2FeatureExtractor(sampling_rate=24000)
    kinds = {"w2v2": (Wav2Vec2Config, Wav2Vec2Model), "hubert": (HubertConfig, HubertModel),
             "wavlm": (WavLMConfig, WavLMModel)}  # fmt: skip
    config_class, model_class = kinds[family.split("-")[0]]
    stable = {"do_stable_layer_norm": True, "feat_extract_norm": "layer"} if big else {}
    return model_class(config_class(**big, **stable)).eval(), Wav2Vec2FeatureExtractor()


def embed(model, extractor, fam: ssl.Family, wave: np.ndarray):
    """One clip as the tools embed it: the processor, then the model's hidden states."""
    inputs = extractor(wave, sampling_rate=fam.rate, return_tensors="pt")
    if fam.model_type == "whisper":
        ids = torch.tensor([[50258, 50258]])
        return model(inputs.input_features, decoder_input_ids=ids).last_hidden_state
    if fam.model_type == "mert_model":
        return model(inputs["input_values"])
    return model(**inputs, output_hidden_states=True).hidden_states


def main(count: int, families: list[str]) -> None:
    torch.set_grad_enabled(False)
    clips, decode_seconds = load(count)
    floor = sum(len(w) / r for w, r in clips) / decode_seconds
    for family in families:
        fam = ssl.FAMILIES[family]
        model, extractor = build(family)
        waves = [resample(w, r, fam.rate) for w, r in clips]

        embed(model, extractor, fam, waves[0])  # warm-up
        start = time.perf_counter()
        for wave in waves:
            embed(model, extractor, fam, wave)
        seconds = time.perf_counter() - start
        audio = sum(len(w) for w in waves) / fam.rate
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(
            f"{fam.name}: {audio / seconds:.1f}x real time, {params:.0f}M parameters "
            f"(decode floor {floor:.0f}x)",
            flush=True,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=2)
    parser.add_argument("--families", default=",".join(ssl.FAMILIES))
    args = parser.parse_args()
    main(args.clips, args.families.split(","))
