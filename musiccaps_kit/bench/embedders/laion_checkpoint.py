"""A LAION-CLAP checkpoint file (``music_audioset_epoch_15_esc_90.14.pt`` and its kin) as a
``transformers.ClapModel``, without the ``laion_clap`` package.

Fusion checkpoints (``630k-audioset-fusion-best.pt``: HTSAT-tiny with the ``aff_2d`` feature
fusion, stable-audio-metrics' default) convert too: their ``fusion_model`` and
``mel_conv2d`` tensors keep their names, which are transformers' (``enable_fusion=True``).

The key mapping is that of transformers' own conversion script
(``models/clap/convert_clap_original_pytorch_to_hf.py``): its ``KEYS_TO_MODIFY_MAPPING``
applied in order, ``qkv`` split into query, key and value, the projections' ``nn.Sequential``
indices 0 and 2 renamed ``linear1`` and ``linear2``. The spectrogram front end and the
training-only heads of the original have no place in ``ClapModel`` and are left out, as
the script does. The configuration is read from the tensors' shapes (the script reads the
same three numbers from the built model); the text tower is RoBERTa's, 64 dims per head.
"""

from __future__ import annotations

import re
from pathlib import Path

# transformers' KEYS_TO_MODIFY_MAPPING, in its order (each applies to the renamed key)
KEYS_TO_MODIFY = (
    ("text_branch", "text_model"),
    ("audio_branch", "audio_model.audio_encoder"),
    ("attn", "attention.self"),
    ("self.proj", "output.dense"),
    ("attention.self_mask", "attn_mask"),
    ("mlp.fc1", "intermediate.dense"),
    ("mlp.fc2", "output.dense"),
    ("norm1", "layernorm_before"),
    ("norm2", "layernorm_after"),
    ("bn0", "batch_norm"),
)
SEQUENTIAL = re.compile(r".*sequential.(\d+).*")
PROJECTION = re.compile(r".*_projection.(\d+).*")
TEXT_HEAD_DIMS = 64  # RoBERTa's hidden size per attention head
# LAION-CLAP's text branch is transformers' RobertaModel (roberta-base): LayerNorm eps 1e-5,
# where ClapTextConfig defaults to 1e-12
TEXT_LAYER_NORM_EPS = 1e-5
# buffers ClapModel computes itself: not expected in a checkpoint
COMPUTED = ("position_ids", "token_type_ids", "relative_position_index", "num_batches_tracked")


class CheckpointError(ValueError):
    """A file that is not a LAION-CLAP checkpoint of a kind ClapModel can hold."""


def read_state(path: str | Path) -> dict:
    """The tensors of a LAION-CLAP ``.pt`` file, without the ``module.`` prefix of DDP."""
    import torch

    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, foreign, or pickled objects beyond tensors
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({e})") from None
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{path}: no state dict inside")
    return {k.removeprefix("module."): v for k, v in state.items() if hasattr(v, "shape")}


def rename(state: dict) -> dict:
    """LAION's names -> transformers' names, as transformers' conversion script does."""
    out = {}
    for key, value in state.items():
        for old, new in KEYS_TO_MODIFY:
            if old in key:
                key = key.replace(old, new)
        if match := SEQUENTIAL.match(key):
            index = match.group(1)
            key = key.replace(f"sequential.{index}.", f"layers.{int(index) // 3}.linear.")
        elif match := PROJECTION.match(key):
            index = int(match.group(1))
            key = key.replace(
                f"_projection.{index}.", f"_projection.linear{1 if index == 0 else 2}."
            )
        if "qkv" in key:
            third = value.shape[0] // 3
            for i, part in enumerate(("query", "key", "value")):
                out[key.replace("qkv", part)] = value[i * third : (i + 1) * third]
        else:
            out[key] = value
    return out


def has_fusion(state) -> bool:
    """Whether a state dict (LAION's names or transformers') holds the feature-fusion layers."""
    return any("fusion_model" in k or "mel_conv2d" in k for k in state)


def file_has_fusion(path: str | Path) -> bool:
    """``has_fusion`` of a ``.pt`` file, read on the meta device (names and shapes only)."""
    import torch

    try:
        blob = torch.load(Path(path), map_location="meta", weights_only=True)
    except Exception as e:  # truncated, foreign, or pickled objects beyond tensors
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({e})") from None
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else {}
    return has_fusion(state)


def _count(state: dict, pattern: str) -> int:
    found = {int(m.group(1)) for k in state if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def config_from_state(state: dict, path: Path):
    """A ``ClapConfig`` for the renamed tensors (audio and text sizes from their shapes)."""
    from transformers import ClapConfig

    audio = "audio_model.audio_encoder."
    text = "text_model."
    try:
        layers = _count(state, re.escape(audio) + r"layers\.(\d+)\.")
        depths = [
            _count(state, re.escape(audio) + rf"layers\.{i}\.blocks\.(\d+)\.")
            for i in range(layers)
        ]
        tables = [
            state[f"{audio}layers.{i}.blocks.0.attention.self.relative_position_bias_table"]
            for i in range(layers)
        ]
        embed = state[f"{audio}patch_embed.proj.weight"]
        projection = state["audio_projection.linear1.weight"]
        words = state[f"{text}embeddings.word_embeddings.weight"]
        audio_config = {
            "patch_embeds_hidden_size": embed.shape[0],
            "patch_size": embed.shape[-1],
            "patch_stride": [embed.shape[-1], embed.shape[-1]],
            "depths": depths,
            "num_attention_heads": [t.shape[1] for t in tables],
            "window_size": int(round(tables[0].shape[0] ** 0.5) + 1) // 2,
            "hidden_size": projection.shape[1],
            "num_mel_bins": state[f"{audio}batch_norm.weight"].shape[0],
            "mlp_ratio": state[f"{audio}layers.0.blocks.0.intermediate.dense.weight"].shape[0]
            / embed.shape[0],
            "projection_dim": projection.shape[0],
            "enable_fusion": has_fusion(state),
        }
        text_config = {
            "vocab_size": words.shape[0],
            "hidden_size": words.shape[1],
            "num_hidden_layers": _count(state, re.escape(text) + r"encoder\.layer\.(\d+)\."),
            "num_attention_heads": max(words.shape[1] // TEXT_HEAD_DIMS, 1),
            "intermediate_size": state[f"{text}encoder.layer.0.intermediate.dense.weight"].shape[0],
            "max_position_embeddings": state[f"{text}embeddings.position_embeddings.weight"].shape[
                0
            ],
            "type_vocab_size": state[f"{text}embeddings.token_type_embeddings.weight"].shape[0],
            "projection_dim": projection.shape[0],
            "layer_norm_eps": TEXT_LAYER_NORM_EPS,
        }
    except (KeyError, IndexError) as e:
        raise CheckpointError(
            f"{path}: not a LAION-CLAP HTSAT checkpoint (no tensor {e})"
        ) from None
    return ClapConfig(
        audio_config=audio_config, text_config=text_config, projection_dim=projection.shape[0]
    )


def load_laion_checkpoint(path: str | Path):
    """A ``ClapModel`` (eval mode) holding the weights of a LAION-CLAP checkpoint file. Every
    ClapModel tensor must come from the file with its shape: the first one that does not is
    named in the error."""
    import torch
    from transformers import ClapModel

    path = Path(path)
    state = rename(read_state(path))
    model = ClapModel(config_from_state(state, path)).eval()
    expected = model.state_dict()
    for key, tensor in expected.items():
        if key.endswith(COMPUTED):
            continue
        if key not in state:
            raise CheckpointError(f"{path}: no tensor for {key}")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{path}: {key} has shape {tuple(state[key].shape)}, expected {tuple(tensor.shape)}"
            )
    with torch.no_grad():
        tensors = {k: v for k, v in state.items() if k in expected and not k.endswith(COMPUTED)}
        model.load_state_dict(tensors, strict=False)
    return model
