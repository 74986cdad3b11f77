"""MERT (``m-a-p/MERT-v1-95M``, ``-330M``) in plain torch, as its hub code
(``modeling_MERT.py``: ``MERTModel`` on transformers' HuBERT blocks) computes the hidden
states fadtk and kadtk take: transformers does not ship MERT, and its hub code needs
``trust_remote_code``.

Conv feature encoder (``conv_dim``/``conv_kernel``/``conv_stride``; ``feat_extract_norm``
``"group"``: a GroupNorm after the first conv, ``"layer"``: a LayerNorm after each), the
feature projection (an optional LayerNorm, ``feat_proj_layer_norm``, then a linear layer),
the convolutional position embedding (weight-normed conv, or a BatchNorm before a plain
conv when ``conv_pos_batch_norm``; same padding; GELU), the encoder's LayerNorm, and
post-norm layers whose residuals are scaled by ``(2 L)^(1/4)`` under ``deepnorm`` and whose
attention logits are "relaxed" (``x / r - max(x / r)``, times ``r``) when
``attention_relax > 0``. Hidden states: the encoder's input after its LayerNorm, then every
layer's output (13 for 12 layers). The CQT branch (``feature_extractor_cqt``) and the
pre-norm variant are refused: no MERT-v1 release uses them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MertConfigError(ValueError):
    """A MERT config this network does not build."""


class _ConvLayer(nn.Module):
    def __init__(self, config: dict, i: int):
        super().__init__()
        dims = config["conv_dim"]
        c_in = dims[i - 1] if i > 0 else 1
        self.conv = nn.Conv1d(
            c_in, dims[i], config["conv_kernel"][i], config["conv_stride"][i],
            bias=bool(config.get("conv_bias", False)),
        )  # fmt: skip
        self.norm_kind = config.get("feat_extract_norm", "group")
        if self.norm_kind == "layer":
            self.layer_norm = nn.LayerNorm(dims[i], elementwise_affine=True)
        elif self.norm_kind == "group" and i == 0:
            self.layer_norm = nn.GroupNorm(dims[i], dims[i], affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.norm_kind == "layer":
            x = self.layer_norm(x.transpose(-2, -1)).transpose(-2, -1)
        elif hasattr(self, "layer_norm"):
            x = self.layer_norm(x)
        return F.gelu(x)


class _FeatureEncoder(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        count = len(config["conv_dim"])
        self.conv_layers = nn.ModuleList(_ConvLayer(config, i) for i in range(count))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = wave[:, None]
        for layer in self.conv_layers:
            x = layer(x)
        return x


class _FeatureProjection(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        dims = config["conv_dim"][-1]
        if config.get("feat_proj_layer_norm", True):
            self.layer_norm = nn.LayerNorm(dims, eps=config.get("layer_norm_eps", 1e-5))
        self.projection = nn.Linear(dims, config["hidden_size"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "layer_norm"):
            x = self.layer_norm(x)
        return self.projection(x)


class _PositionalConv(nn.Module):
    def __init__(self, config: dict, batch_norm: bool):
        super().__init__()
        size, kernel = config["hidden_size"], config.get("num_conv_pos_embeddings", 128)
        groups = config.get("num_conv_pos_embedding_groups", 16)
        self.conv = nn.Conv1d(size, size, kernel, padding=kernel // 2, groups=groups)
        if batch_norm:
            self.batch_norm = nn.BatchNorm1d(size)
        else:
            self.conv = nn.utils.parametrizations.weight_norm(self.conv, name="weight", dim=2)
        self.trim = 1 if kernel % 2 == 0 else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)
        if hasattr(self, "batch_norm"):
            x = self.batch_norm(x)
        x = self.conv(x)
        if self.trim:
            x = x[:, :, : -self.trim]
        return F.gelu(x).transpose(1, 2)


class _Attention(nn.Module):
    def __init__(self, dims: int, heads: int, relax: float):
        super().__init__()
        self.heads, self.relax = heads, relax
        self.q_proj, self.k_proj = nn.Linear(dims, dims), nn.Linear(dims, dims)
        self.v_proj, self.out_proj = nn.Linear(dims, dims), nn.Linear(dims, dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        head = d // self.heads
        q = (self.q_proj(x) * head**-0.5).view(b, t, self.heads, head).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.heads, head).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.heads, head).transpose(1, 2)
        logits = q @ k.transpose(-1, -2)
        if self.relax > 0:
            relaxed = logits / self.relax
            logits = (relaxed - relaxed.max(dim=-1, keepdim=True).values) * self.relax
        out = logits.softmax(dim=-1) @ v
        return self.out_proj(out.transpose(1, 2).reshape(b, t, d))


class _FeedForward(nn.Module):
    def __init__(self, dims: int, hidden: int):
        super().__init__()
        self.intermediate_dense = nn.Linear(dims, hidden)
        self.output_dense = nn.Linear(hidden, dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_dense(F.gelu(self.intermediate_dense(x)))


class _Layer(nn.Module):
    def __init__(self, config: dict, alpha: float):
        super().__init__()
        dims, eps = config["hidden_size"], config.get("layer_norm_eps", 1e-5)
        relax = float(config.get("attention_relax", -1.0) or -1.0)
        self.attention = _Attention(dims, config["num_attention_heads"], relax)
        self.layer_norm = nn.LayerNorm(dims, eps=eps)
        self.feed_forward = _FeedForward(dims, config["intermediate_size"])
        self.final_layer_norm = nn.LayerNorm(dims, eps=eps)
        self.alpha = alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer_norm(x * self.alpha + self.attention(x))
        return self.final_layer_norm(x * self.alpha + self.feed_forward(x))


class _Encoder(nn.Module):
    def __init__(self, config: dict, batch_norm: bool):
        super().__init__()
        layers = config["num_hidden_layers"]
        alpha = math.pow(2.0 * layers, 0.25) if config.get("deepnorm") else 1.0
        self.pos_conv_embed = _PositionalConv(config, batch_norm)
        self.layer_norm = nn.LayerNorm(
            config["hidden_size"], eps=config.get("layer_norm_eps", 1e-5)
        )
        self.layers = nn.ModuleList(_Layer(config, alpha) for _ in range(layers))


class Mert(nn.Module):
    """``MERTModel``'s hidden states for one unpadded clip; the state dict named as the
    release's. ``conv_pos_batch_norm`` overrides the config's (fadtk sets it False)."""

    def __init__(self, config: dict, conv_pos_batch_norm: bool | None = None):
        super().__init__()
        if config.get("feature_extractor_cqt"):
            raise MertConfigError("a MERT config with the CQT feature branch (not MERT-v1)")
        if config.get("do_stable_layer_norm"):
            raise MertConfigError("a pre-norm MERT config (not MERT-v1)")
        self.batch_norm = (
            bool(config.get("conv_pos_batch_norm", False))
            if conv_pos_batch_norm is None
            else conv_pos_batch_norm
        )
        self.feature_extractor = _FeatureEncoder(config)
        self.feature_projection = _FeatureProjection(config)
        self.encoder = _Encoder(config, self.batch_norm)

    def forward(self, wave: torch.Tensor) -> list[torch.Tensor]:
        """``[1, samples]`` (as the processor gives it) -> every hidden state ``[1, T, d]``."""
        x = self.feature_projection(self.feature_extractor(wave).transpose(1, 2))
        x = self.encoder.layer_norm(x + self.encoder.pos_conv_embed(x))
        states = [x]
        for layer in self.encoder.layers:
            x = layer(x)
            states.append(x)
        return states


def load(config: dict, state: dict, source: str, conv_pos_batch_norm: bool | None) -> Mert:
    """The network with the release's weights (its old-style ``weight_g``/``weight_v``
    names read as well); a key the network needs and the file lacks, or a shape that
    differs, is refused naming ``source`` and the key."""
    net = Mert(config, conv_pos_batch_norm)
    renamed = {}
    for key, value in state.items():
        key = key.replace("conv.weight_g", "conv.parametrizations.weight.original0")
        renamed[key.replace("conv.weight_v", "conv.parametrizations.weight.original1")] = value
    own = net.state_dict()
    for key, value in own.items():
        if key not in renamed:
            raise MertConfigError(f"{source}: no {key} (not this MERT architecture)")
        if tuple(renamed[key].shape) != tuple(value.shape):
            raise MertConfigError(
                f"{source}: {key} is {tuple(renamed[key].shape)}, the config gives "
                f"{tuple(value.shape)}"
            )
    net.load_state_dict({k: renamed[k] for k in own})
    return net.eval()
