"""Real-time factor of the learned scorers at full size on this machine: MuQ-MuLan's audio
tower (``mcc_muq``: MuQ-large's 12 Conformer layers of 1024 with the release's w2v2
settings, 10 s pieces at 24 kHz) and Audiobox Aesthetics (``aes_*``: WavLM-Base+ on 10 s
windows at 16 kHz), random weights, against the decode floor of the same clips.

    python -m benchmarks.learned_scorers [--clips 4]

Seconds of audio scored per second of wall time (higher is faster), one clip per pass as
the CPU bench runs them."""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from benchmarks.embedder_throughput import load
from musiccaps_kit.audio import resample
from musiccaps_kit.bench.embedders import muq_network as M
from musiccaps_kit.bench.embedders.aesthetics_network import AXES, AesNetwork

# the release's audio model (OpenMuQ/MuQ-large-msd-iter: MuQ's fairseq config)
W2V2 = {
    "hidden_act": "swish", "num_attention_heads": 16, "intermediate_size": 4096,
    "conv_depthwise_kernel_size": 31, "position_embeddings_type": "rotary",
    "rotary_embedding_base": 10000, "layer_norm_eps": 1e-5, "do_stable_layer_norm": True,
}  # fmt: skip
MUQ = {"label_rate": 25, "conv_dim": 512, "encoder_dim": 1024, "encoder_depth": 12,
       "n_mels": 128, "w2v2_config": W2V2,
       "stat": {"melspec_2048_mean": 6.768444971712967, "melspec_2048_std": 18.417922652295623}}  # fmt: skip  # noqa: E501


def muq_audio() -> M.MuqMulan:
    from transformers import XLMRobertaConfig

    config = M.MuqMulanConfig(
        mulan={"sr": 24000, "clip_secs": 10, "dim_latent": 512},
        audio_model={"model_dim": 1024, "use_layer_idx": -1},
        text_model={"model_dim": 768},
        audio_transformer={"dim": 768, "tf_depth": 0},
        text_transformer={"dim": 768, "tf_depth": 0},
        muq=MUQ,
    )
    text = XLMRobertaConfig(vocab_size=10, hidden_size=768, num_hidden_layers=0)
    return M.MuqMulan(config, text).eval()


def measure(name: str, run, waves: list[np.ndarray], rate: int, floor: float) -> None:
    run(waves[0])  # warm-up
    start = time.perf_counter()
    for wave in waves:
        run(wave)
    seconds = time.perf_counter() - start
    audio = sum(len(w) for w in waves) / rate
    ratio = floor * seconds / audio
    print(
        f"{name}: {audio / seconds:.1f}x real time ({seconds:.1f} s for {audio:.0f} s; "
        f"decode floor {floor:.0f}x, {ratio:.0f}x faster than the model)"
    )


def main(count: int) -> None:
    torch.set_grad_enabled(False)
    clips, decode_seconds = load(count)  # decoded, mono, and resampled once: the floor
    waves = [resample(w, rate, 16000) for w, rate in clips]
    floor = sum(len(w) for w in waves) / 16000 / decode_seconds
    net = muq_audio()
    at24 = [resample(w, 16000, 24000) for w in waves]

    def embed(w: np.ndarray):
        pieces = M.pieces_of(torch.from_numpy(w), net.clip_samples)
        return [net.audio_latents(p[None]) for p in pieces]

    measure("MuQ-MuLan audio (mcc_muq)", embed, at24, 24000, floor)
    aes = AesNetwork({"nth_layer": 13}).eval()

    def score(w: np.ndarray):
        padded = np.zeros((1, 160000), np.float32)
        padded[0, : len(w[:160000])] = w[:160000]
        valid = torch.from_numpy(np.arange(160000) < len(w))[None]
        return {a: v for a, v in aes(torch.from_numpy(padded), valid).items() if a in AXES}

    measure("Audiobox Aesthetics (aes_*)", score, waves, 16000, floor)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=4)
    main(parser.parse_args().clips)
