"""Tiny random models with the real transformers classes, saved the way a user's download
is (``save_pretrained``), so the bench loads them through its real path: CLAP (with a
byte-level RoBERTa tokenizer and the music CLAP's feature-extractor settings), EnCodec,
and a LAION-CLAP ``.pt`` file written with LAION's tensor names."""

from __future__ import annotations

from pathlib import Path

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
CLAP_AUDIO = {
    "patch_embeds_hidden_size": 16,
    "depths": [1, 1],
    "num_attention_heads": [2, 2],
    "hidden_size": 32,
    "projection_dim": 16,
    "window_size": 8,
    "spec_size": 256,
    "num_mel_bins": 64,
    "enable_fusion": False,
}
# 64 dims per head, as RoBERTa's: the LAION converter reads the head count that way
CLAP_TEXT = {
    "vocab_size": 300,
    "hidden_size": 128,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 80,
    "type_vocab_size": 1,
    "projection_dim": 16,
}


def _byte_symbols() -> set[str]:
    """GPT-2's byte-to-symbol table: printable bytes stand for themselves, the others for
    the code points from 256 up."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    others = [b for b in range(256) if b not in printable]
    return {chr(b) for b in printable} | {chr(256 + i) for i in range(len(others))}


def byte_level_tokenizer(folder: Path):
    """A RoBERTa tokenizer whose vocabulary is the 256 byte symbols (no merges)."""
    from transformers import RobertaTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    symbols = SPECIALS + sorted(_byte_symbols())
    tokenizer = RobertaTokenizer(vocab={s: i for i, s in enumerate(symbols)}, merges=[])
    tokenizer.save_pretrained(folder)
    return tokenizer


def tiny_clap(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

    torch.manual_seed(seed)
    config = ClapConfig(audio_config=CLAP_AUDIO, text_config=CLAP_TEXT, projection_dim=16)
    model = ClapModel(config).eval()
    model.save_pretrained(folder)
    byte_level_tokenizer(folder)
    ClapFeatureExtractor(frequency_min=50, frequency_max=14000).save_pretrained(folder)
    return folder


def tiny_fusion_clap(folder: Path, seed: int = 2) -> Path:
    """The tiny CLAP with LAION's feature fusion (``enable_fusion``), as ``tiny_clap``."""
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

    torch.manual_seed(seed)
    config = ClapConfig(
        audio_config={**CLAP_AUDIO, "enable_fusion": True}, text_config=CLAP_TEXT, projection_dim=16
    )
    ClapModel(config).eval().save_pretrained(folder)
    byte_level_tokenizer(folder)
    ClapFeatureExtractor(frequency_min=50, frequency_max=14000).save_pretrained(folder)
    return folder


def tiny_encodec(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import EncodecConfig, EncodecModel

    torch.manual_seed(seed)
    config = EncodecConfig(
        num_filters=4,
        hidden_size=128,
        codebook_size=16,
        upsampling_ratios=[8, 5, 4, 2],
        target_bandwidths=[1.5],
    )
    EncodecModel(config).eval().save_pretrained(folder)
    return folder


def to_laion_names(state: dict) -> dict:
    """transformers' ClapModel names -> LAION-CLAP's, the inverse of the conversion script's
    mapping, written out here independently of the library's converter."""
    import torch

    out = {}
    pending: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if key.endswith(("position_ids", "token_type_ids")):
            continue
        new = key.replace("text_model.", "text_branch.").replace(
            "audio_model.audio_encoder.", "audio_branch."
        )
        for i in (1, 2):
            new = new.replace(f"_projection.linear{i}.", f"_projection.{0 if i == 1 else 2}.")
        if new.startswith("audio_branch."):
            new = (
                new.replace("layernorm_before", "norm1")
                .replace("layernorm_after", "norm2")
                .replace("attention.output.dense", "attn.proj")
                .replace("intermediate.dense", "mlp.fc1")
                .replace("output.dense", "mlp.fc2")
                .replace("attention.self.", "attn.")
                .replace("batch_norm", "bn0")
            )
            for part in ("query", "key", "value"):
                if f"attn.{part}." in new:
                    stem = new.replace(f"attn.{part}.", "attn.qkv.")
                    pending.setdefault(stem, {})[part] = value
                    break
            else:
                out[new] = value
        else:
            out[new] = value
    for stem, parts in pending.items():
        out[stem] = torch.cat([parts["query"], parts["key"], parts["value"]])
    return out


def laion_checkpoint(model_folder: Path, path: Path) -> Path:
    """The tiny CLAP's weights as a LAION-CLAP training checkpoint: ``module.``-prefixed
    names under ``state_dict``, plus tensors ClapModel has no place for (the original's
    spectrogram front end and its text position ids)."""
    import torch
    from transformers import ClapModel

    state = to_laion_names(ClapModel.from_pretrained(model_folder).state_dict())
    state["audio_branch.spectrogram_extractor.stft.conv_real.weight"] = torch.zeros(513, 1, 1024)
    state["text_branch.embeddings.position_ids"] = torch.arange(80)[None]
    blob = {"epoch": 15, "state_dict": {f"module.{k}": v for k, v in state.items()}}
    torch.save(blob, path)
    return path
