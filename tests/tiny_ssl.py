"""Tiny random models of fadtk's and kadtk's transformers families, saved as a user's
download is (``save_pretrained`` with the processor the tools call), and a tiny MERT laid
out as its hub repository (config.json with MERT's keys, pytorch_model.bin, the processor).
Shared by the suite and tests/oracles/fadtk_kadtk_package.py; needs torch and transformers."""

from __future__ import annotations

import json
from pathlib import Path

CONV = {"conv_dim": [16] * 7, "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
        "conv_stride": [5, 2, 2, 2, 2, 2, 2]}  # fmt: skip
SMALL = {"hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 2,
         "intermediate_size": 64, "num_conv_pos_embeddings": 16,
         "num_conv_pos_embedding_groups": 4, **CONV}  # fmt: skip
MERT = {
    "model_type": "mert_model", "architectures": ["MERTModel"], "feat_extract_norm": "group",
    "feat_extract_activation": "gelu", "conv_bias": False, "feat_proj_layer_norm": True,
    "feat_proj_dropout": 0.0, "feature_extractor_cqt": False, "feature_extractor_cqt_bins": 336,
    "do_stable_layer_norm": False, "deepnorm": True, "attention_relax": -1.0,
    "hidden_act": "gelu", "layer_norm_eps": 1e-5, "hidden_dropout": 0.1,
    "attention_dropout": 0.1, "activation_dropout": 0.1, "layerdrop": 0.0,
    "mask_time_prob": 0.05, "mask_time_length": 10, "mask_feature_prob": 0.0,
    "mask_feature_length": 10, "sample_rate": 24000, "vocab_size": 32,
    "num_feat_extract_layers": 7, **SMALL,
}  # fmt: skip


def save_family(kind: str, folder: Path, seed: int = 0) -> Path:
    """A tiny ``wav2vec2``, ``hubert``, ``wavlm`` or ``whisper`` model with its processor."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor, WhisperFeatureExtractor

    torch.manual_seed(seed)
    if kind == "whisper":
        from transformers import WhisperConfig, WhisperModel

        config = WhisperConfig(
            d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
            decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=80,
            vocab_size=51865, max_source_positions=1500, max_target_positions=64,
            decoder_start_token_id=50258,
        )  # fmt: skip
        WhisperModel(config).eval().save_pretrained(folder)
        WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
        return folder
    from transformers import (
        HubertConfig,
        HubertModel,
        Wav2Vec2Config,
        Wav2Vec2Model,
        WavLMConfig,
        WavLMModel,
    )

    classes = {
        "wav2vec2": (Wav2Vec2Config, Wav2Vec2Model, {"feat_extract_norm": "group"}),
        "hubert": (HubertConfig, HubertModel, {"feat_extract_norm": "group"}),
        "wavlm": (WavLMConfig, WavLMModel, {"num_buckets": 32, "max_bucket_distance": 80}),
    }
    config_class, model_class, extra = classes[kind]
    model_class(config_class(**SMALL, **extra)).eval().save_pretrained(folder)
    # wav2vec2-base-960h's processor: no attention mask; HuBERT's and WavLM's return one
    mask = kind != "wav2vec2"
    Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=mask).save_pretrained(folder)
    # a CTC vocabulary, as the hub repos have: AutoProcessor builds the whole processor
    from transformers import Wav2Vec2CTCTokenizer

    letters = ["<pad>", "<s>", "</s>", "<unk>", "|", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ'"]
    (folder / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(letters)}))
    Wav2Vec2CTCTokenizer(str(folder / "vocab.json")).save_pretrained(folder)
    return folder


def save_mert(folder: Path, seed: int = 0) -> Path:
    """A tiny MERT as its hub repository lays it out (weights named as MERTModel's)."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor

    from musiccaps_kit.bench.embedders.mert_network import Mert

    torch.manual_seed(seed)
    net = Mert(MERT)
    state = {}
    for key, value in net.state_dict().items():  # hub names: the old weight-norm names
        key = key.replace("parametrizations.weight.original0", "weight_g")
        state[key.replace("parametrizations.weight.original1", "weight_v")] = value
    state["masked_spec_embed"] = torch.rand(MERT["hidden_size"])
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "pytorch_model.bin")
    (folder / "config.json").write_text(json.dumps(MERT, indent=1))
    Wav2Vec2FeatureExtractor(
        sampling_rate=24000, do_normalize=True, return_attention_mask=True
    ).save_pretrained(folder)
    return folder


CLIPS = {  # id: (manifest row, seconds, rate, stereo)
    "a10s44": (11, 10.0, 44100, True),
    "b7s16": (61, 7.3, 16000, False),
    "c12s44": (101, 12.5, 44100, False),
}
FAMILY_KINDS = {  # the family each tiny model stands for, and the layer the tests take
    "w2v2-base": ("wav2vec2", 2),
    "hubert-base": ("hubert", 2),
    "wavlm-base-plus": ("wavlm", 2),
    "whisper-base": ("whisper", None),
    "mert-v1-95m": ("mert", 2),
}


def write_sets(realmusic: Path, out: Path) -> tuple[Path, Path]:
    """A reference of real clips (44.1 kHz stereo, 16 kHz mono, 7.3 and 12.5 s) and a
    system of the same ids with white noise added (seeded), as 16-bit WAVs."""
    import csv

    import numpy as np
    import soundfile as sf
    import soxr

    rows = list(csv.DictReader(open(realmusic / "manifest.csv")))
    ref, system = out / "reference", out / "system"
    ref.mkdir(parents=True, exist_ok=True)
    system.mkdir(parents=True, exist_ok=True)
    for k, (name, (row, seconds, rate, stereo)) in enumerate(CLIPS.items()):
        wave, source = sf.read(
            realmusic / "clips" / f"{rows[row]['clip_id']}.flac", dtype="float32"
        )
        wave = np.tile(soxr.resample(wave, source, rate), 2)[: round(seconds * rate)]
        noisy = wave + 0.05 * np.random.default_rng(k).standard_normal(len(wave)).astype(np.float32)
        for folder, x in ((ref, wave), (system, noisy)):
            data = np.stack([x, 0.7 * np.roll(x, 50)], 1) if stereo else x
            sf.write(folder / f"{name}.wav", np.clip(data, -1, 1), rate, subtype="PCM_16")
    return ref, system


def save_all(out: Path) -> dict[str, Path]:
    """Every tiny model, by the family it stands for."""
    folders = {}
    for family, (kind, _) in FAMILY_KINDS.items():
        folder = out / family
        folders[family] = save_mert(folder) if kind == "mert" else save_family(kind, folder)
    return folders
