"""Audiobox Aesthetics' network (PyPI ``audiobox-aesthetics`` 0.0.4, ``model/aes.py`` and
``model/wavlm.py``) on transformers' WavLM classes: the package cannot be a dependency (it
needs the PyPI torchaudio).

``AesMultiOutput``: its own fairseq-style WavLM-Base+ (``DEFAULT_AUDIO_CFG``: a 7-layer conv
front end whose first layer has a GroupNorm over time, so padding matters; 12 post-norm
layers of 768 with gated relative position bias, 320 buckets, max distance 800; no input
layer norm) on 16 kHz windows of 10 s; all 13 hidden states (the pos-conv input and every
layer's output); per axis (CE, CU, PC, PQ) a softmax-weighted sum of the layers, a mean over
the frames that are not padding, an L2 norm, the projection (``Linear(768, 1)``); the
score is ``x * std + mean`` from the checkpoint's ``target_transform``.

Padding (``WavLM.forward_padding_mask``): a 20 ms frame is padding only when all 320 of its
samples are (the sample mask cut to a whole number of frames, viewed as [frames, 320],
``all``); padded frames are zeroed before the positional convolution and masked as keys.

The weights load from the hub release (``config.json`` + ``model.safetensors``, written by
``PyTorchModelHubMixin``) or from ``checkpoint.pt`` (``state_dict`` with ``model.``
prefixes, ``model_cfg``, ``target_transform``); the fairseq names map onto transformers'.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

AXES = ("CE", "CU", "PC", "PQ")
RATE = 16000
WINDOW = 10 * RATE
HEAD_KEYS = (
    "proj_num_layer", "proj_ln", "proj_act_fn", "proj_dropout", "nth_layer",
    "use_weighted_layer_sum", "precision", "normalize_embed", "output_dim",
)  # fmt: skip
# fairseq WavLM names -> transformers' WavLMModel names (after "wavlm_model.")
RENAMES = (
    (r"^mask_emb$", "masked_spec_embed"),
    (r"^feature_extractor\.conv_layers\.(\d+)\.0\.", r"feature_extractor.conv_layers.\1.conv."),
    (r"^feature_extractor\.conv_layers\.0\.2\.", "feature_extractor.conv_layers.0.layer_norm."),
    (r"^layer_norm\.", "feature_projection.layer_norm."),
    (r"^post_extract_proj\.", "feature_projection.projection."),
    (r"^encoder\.pos_conv\.0\.bias", "encoder.pos_conv_embed.conv.bias"),
    (
        r"^encoder\.pos_conv\.0\.weight_g",
        "encoder.pos_conv_embed.conv.parametrizations.weight.original0",
    ),  # noqa: E501
    (
        r"^encoder\.pos_conv\.0\.weight_v",
        "encoder.pos_conv_embed.conv.parametrizations.weight.original1",
    ),  # noqa: E501
    (r"\.self_attn\.grep_linear\.", ".attention.gru_rel_pos_linear."),
    (r"\.self_attn\.grep_a$", ".attention.gru_rel_pos_const"),
    (r"\.self_attn\.relative_attention_bias\.", ".attention.rel_attn_embed."),
    (r"\.self_attn\.", ".attention."),
    (r"\.self_attn_layer_norm\.", ".layer_norm."),
    (r"\.fc1\.", ".feed_forward.intermediate_dense."),
    (r"\.fc2\.", ".feed_forward.output_dense."),
)
UNUSED = ("wavlm_model.label_embs_concat",)


class AesWeightsError(ValueError):
    """An Audiobox Aesthetics file or folder that is not the release's architecture."""


@dataclass(frozen=True)
class AesRelease:
    """What a release file holds: the head's settings, the targets' scaling, the weights."""

    head: dict
    target_transform: dict
    state: dict
    source: str


def wavlm_config():
    """The package's ``DEFAULT_AUDIO_CFG`` as transformers' ``WavLMConfig``."""
    from transformers import WavLMConfig

    return WavLMConfig(
        hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
        hidden_act="gelu", feat_extract_norm="group", conv_bias=False, do_stable_layer_norm=False,
        num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16, num_buckets=320,
        max_bucket_distance=800, layer_norm_eps=1e-5,
    )  # fmt: skip


def _mlp(dims: int, head: dict) -> nn.Sequential:
    """The package's ``create_mlp_block``."""
    layers: list[nn.Module] = []
    count = int(head.get("proj_num_layer", 1))
    for i in range(count):
        if i == count - 1:
            layers.append(nn.Linear(dims, int(head.get("output_dim", 1))))
            continue
        layers.append(nn.Linear(dims, dims))
        if head.get("proj_ln"):
            layers.append(nn.LayerNorm(dims))
        if head.get("proj_act_fn", "gelu") != "gelu":
            raise AesWeightsError(f"proj_act_fn {head.get('proj_act_fn')!r}: only gelu exists")
        layers.append(nn.GELU())
        if float(head.get("proj_dropout", 0) or 0):
            layers.append(nn.Dropout(float(head["proj_dropout"])))
    return nn.Sequential(*layers)


def frame_padding(sample_padding: torch.Tensor, frames: int) -> torch.Tensor:
    """``WavLM.forward_padding_mask``: [B, samples] -> [B, frames], a frame padding only when
    every sample of it is."""
    extra = sample_padding.size(1) % frames
    if extra > 0:
        sample_padding = sample_padding[:, :-extra]
    return sample_padding.view(sample_padding.size(0), frames, -1).all(-1)


class AesNetwork(nn.Module):
    def __init__(self, head: dict):
        super().__init__()
        from transformers import WavLMModel

        self.head = head
        self.wavlm_model = WavLMModel(wavlm_config())
        dims = self.wavlm_model.config.hidden_size
        self.layers = int(head.get("nth_layer", 13))
        if self.layers != self.wavlm_model.config.num_hidden_layers + 1:
            raise AesWeightsError(f"nth_layer {self.layers}: the release uses all 13")
        if not head.get("use_weighted_layer_sum", True):
            raise AesWeightsError("use_weighted_layer_sum False: the release weighs the layers")
        self.proj_layer = nn.ModuleDict({axis: _mlp(dims, head) for axis in AXES})
        self.layer_weights = nn.ParameterDict(
            {axis: nn.Parameter(torch.ones(self.layers) / self.layers) for axis in AXES}
        )

    def hidden_states(self, wav: torch.Tensor, valid: torch.Tensor):
        """All 13 hidden states [B, frames, 768, 13] and the frames' padding [B, frames]."""
        wavlm = self.wavlm_model
        features = wavlm.feature_extractor(wav).transpose(1, 2)
        hidden, _ = wavlm.feature_projection(features)
        padding = frame_padding(~valid, hidden.shape[1])
        encoder = wavlm.encoder
        hidden = hidden.masked_fill(padding[..., None], 0.0)
        hidden = encoder.layer_norm(hidden + encoder.pos_conv_embed(hidden))
        states, bias, keep = [hidden], None, (~padding).long()
        for i, layer in enumerate(encoder.layers):
            hidden, bias = layer(hidden, attention_mask=keep, position_bias=bias, index=i)
            states.append(hidden)
        return torch.stack(states, dim=-1), padding

    def forward(self, wav: torch.Tensor, valid: torch.Tensor) -> dict[str, torch.Tensor]:
        """[B, 160000] windows and their sample mask -> per axis [B] (before the targets'
        scaling)."""
        states, padding = self.hidden_states(wav, valid)
        keep = (~padding).unsqueeze(-1).to(states.dtype)
        out = {}
        for axis in AXES:
            weights = F.softmax(self.layer_weights[axis], dim=-1)
            embed = torch.einsum("btcl,l->btc", states, weights)
            embed = (embed * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1)
            if self.head.get("normalize_embed", True):
                embed = F.normalize(embed, dim=-1)
            out[axis] = self.proj_layer[axis](embed).squeeze(-1)
        return out


def _renamed(state: dict) -> dict:
    out = {}
    for key, value in state.items():
        if key.startswith(UNUSED):
            continue
        if key.startswith("wavlm_model."):
            rest = key[len("wavlm_model.") :]
            for pattern, new in RENAMES:
                rest = re.sub(pattern, new, rest)
            key = "wavlm_model." + rest
        out[key] = value
    return out


def read_release(spec: Path) -> AesRelease:
    """A hub folder (``config.json`` + ``model.safetensors``) or ``checkpoint.pt``."""
    if spec.is_dir():
        config_file, weights = spec / "config.json", spec / "model.safetensors"
        if not config_file.is_file() or not weights.is_file():
            raise AesWeightsError(f"{spec}: expected config.json and model.safetensors")
        try:
            config = json.loads(config_file.read_text())
            from safetensors.torch import load_file

            state = load_file(str(weights))
        except Exception as e:  # bad JSON, a truncated safetensors file: their own words
            raise AesWeightsError(f"{spec}: cannot read it ({e})") from None
        head = {k: config[k] for k in HEAD_KEYS if k in config}
        transform = config.get("target_transform")
        source = str(weights)
    else:
        try:
            blob = torch.load(spec, map_location="cpu", weights_only=True)
        except Exception as e:  # not a torch file, truncated
            raise AesWeightsError(f"{spec}: not a readable PyTorch file ({e})") from None
        if not isinstance(blob, dict) or not {"state_dict", "model_cfg"} <= set(blob):
            raise AesWeightsError(f"{spec}: not an Audiobox Aesthetics checkpoint.pt")
        head = {k: blob["model_cfg"][k] for k in HEAD_KEYS if k in blob["model_cfg"]}
        state = {re.sub(r"^model\.", "", k): v for k, v in blob["state_dict"].items()}
        transform = blob.get("target_transform")
        source = str(spec)
    if not isinstance(transform, dict) or any(a not in transform for a in AXES):
        raise AesWeightsError(f"{spec}: no target_transform for {', '.join(AXES)}")
    return AesRelease(head, transform, _renamed(state), source)


def build(release: AesRelease) -> AesNetwork:
    """The network with the release's weights; a missing, unknown or misshapen key is refused
    naming the file and the key."""
    net = AesNetwork(release.head)
    own = net.state_dict()
    for key, value in own.items():
        if key not in release.state:
            raise AesWeightsError(f"{release.source}: no {key} (not Audiobox Aesthetics)")
        if tuple(release.state[key].shape) != tuple(value.shape):
            raise AesWeightsError(
                f"{release.source}: {key} is {tuple(release.state[key].shape)}, the network "
                f"has {tuple(value.shape)}"
            )
    extra = [k for k in release.state if k not in own]
    if extra:
        raise AesWeightsError(f"{release.source}: {extra[0]} is not part of the network")
    net.load_state_dict(release.state)
    return net.eval()
