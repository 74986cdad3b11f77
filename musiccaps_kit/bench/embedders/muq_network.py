"""MuQ-MuLan (Tencent's open MuLan, ``OpenMuQ/MuQ-MuLan-large``, PyPI ``muq`` 0.1.0) as the
package computes it, in torch with transformers' classes: the package cannot be a
dependency (its code breaks on transformers 5 and needs the PyPI torchaudio).

Audio tower (``muq/muq.py``, ``muq/models/muq_model.py``, ``muq_mulan/models/audio.py``):
24 kHz mono -> torchaudio's ``MelSpectrogram(24000, n_fft=2048, hop_length=240,
n_mels=128)`` with its defaults (periodic Hann, centred reflect padding, power 2, HTK mel
scale 0-12 kHz, no filter normalisation) -> ``AmplitudeToDB`` (10 log10, floor 1e-10, no
top_db) -> the last frame dropped -> ``(x - mean) / std`` (the MuQ config's ``stat``) ->
``Conv2dSubsampling`` (two residual 2-d conv blocks with BatchNorm, /2 in frequency twice
and /2 in time twice, a linear layer) -> transformers' ``Wav2Vec2ConformerEncoder`` (its
``w2v2_config``, 12 layers of 1024) -> the last hidden state -> ``Linear(1024, 768)`` -> the
MuLan transformer (depth from the config; 0 in the release) -> mean over time ->
``Linear(768, 512)`` -> L2 norm. ``pos_conv_embed``, ``rvq``, ``aggregator`` and the
8192-wide ``linear`` are in the release but unused, as in the package.

Text tower (``muq_mulan/models/text.py``): ``XLMRobertaModel``'s last hidden state (every
token, padding included) -> the MuLan transformer without a mask (8 layers) -> mean over
tokens -> ``Linear(768, 512)`` -> L2 norm.

The MuLan transformer (``muq_mulan/modules/transformer.py``): pre-norm blocks of attention
with L2-normalised queries and keys scaled by learned vectors and 8 (not 1/sqrt(d)), and a
GEGLU feed-forward of ``int(dim * mult * 2 / 3)``; LayerNorms with a learned gain and no
bias.

The state dict keeps the package's names (``mulan.audio.model.model.conformer...``), so the
release's ``pytorch_model.bin`` loads as it is; a file of another architecture, or a
truncated one, is refused naming the file and the first key that does not fit.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

RATE = 24000
CLIP_SECONDS = 10
N_FFT, HOP, N_MELS = 2048, 240, 128
# in the release, used by nothing at inference (the package's forward never reaches them)
UNUSED = (
    "mulan.audio.model.model.linear.",
    "mulan.audio.model.model.cls_token",
    "mulan.audio.model.model.quantizer_",
    "mulan.audio.model.model.rvq.",
    "mulan.audio.model.model.recon_proj.",
    "mulan.audio.model.model.conformer.pos_conv_embed.",
    # the rotary or relative position tables: computed, saved by some transformers versions
    "mulan.audio.model.model.conformer.embed_positions.",
    "mulan.audio.aggregator.",
    "mulan.contrast.",
    "mulan.multi_layer_contrastive_learning.",
    "mulan.text.model.embeddings.position_ids",
)


class MuqWeightsError(ValueError):
    """A MuQ-MuLan file or folder that is not the release's architecture."""


# --- the front end -----------------------------------------------------------------------


def htk_mel_filters(n_freqs: int, n_mels: int, rate: int) -> torch.Tensor:
    """torchaudio's ``melscale_fbanks(n_freqs, 0, rate // 2, n_mels, rate, None, "htk")``:
    [n_freqs, n_mels] triangles on the HTK mel scale, float32 as torchaudio builds them."""
    all_freqs = torch.linspace(0, rate // 2, n_freqs)
    m_min = 2595.0 * math.log10(1.0 + 0.0 / 700.0)
    m_max = 2595.0 * math.log10(1.0 + float(rate // 2) / 700.0)
    m_pts = torch.linspace(m_min, m_max, n_mels + 2)
    f_pts = 700.0 * (10.0 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.max(torch.zeros(1), torch.min(down, up))


class MelFrontEnd(nn.Module):
    """MuQ's ``MelSTFT(n_fft=2048, hop_length=240, is_db=True)`` then ``[..., :-1]``."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        filters = htk_mel_filters(N_FFT // 2 + 1, N_MELS, RATE)
        self.register_buffer("filters", filters, persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(
            wave, N_FFT, HOP, N_FFT, self.window, center=True, pad_mode="reflect",
            normalized=False, onesided=True, return_complex=True,
        ).abs().pow(2.0)  # fmt: skip
        mel = torch.matmul(spec.transpose(-1, -2), self.filters).transpose(-1, -2)
        return (10.0 * torch.log10(torch.clamp(mel, min=1e-10)))[..., :-1]


# --- MuQ's subsampling (muq/modules/conv.py) ----------------------------------------------


class Res2dModule(nn.Module):
    def __init__(self, idim: int, odim: int, stride: tuple[int, int]):
        super().__init__()
        self.conv1 = nn.Conv2d(idim, odim, 3, padding=1, stride=stride)
        self.bn1 = nn.BatchNorm2d(odim)
        self.conv2 = nn.Conv2d(odim, odim, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(odim)
        self.diff = idim != odim or stride[0] > 1
        if self.diff:
            self.conv3 = nn.Conv2d(idim, odim, 3, padding=1, stride=stride)
            self.bn3 = nn.BatchNorm2d(odim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.diff:
            x = self.bn3(self.conv3(x))
        return F.relu(x + out)


class Conv2dSubsampling(nn.Module):
    def __init__(self, hdim: int, odim: int, strides: tuple[int, int], n_bands: int):
        super().__init__()
        self.conv = nn.Sequential(
            Res2dModule(1, hdim, (2, strides[0])), Res2dModule(hdim, hdim, (2, strides[1]))
        )
        self.linear = nn.Linear(hdim * n_bands // 2 // 2, odim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x.unsqueeze(1))  # [b, c, f, t]
        b, c, f, t = x.shape
        return self.linear(x.permute(0, 3, 1, 2).reshape(b, t, c * f))


# --- the MuLan transformer (muq_mulan/modules/transformer.py) -----------------------------


class GainNorm(nn.Module):
    """LayerNorm with a learned gain and no bias (the package's ``LayerNorm``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.learned_gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        zero = torch.zeros_like(self.learned_gamma)
        return F.layer_norm(x, x.shape[-1:], self.learned_gamma, zero)


class Attention(nn.Module):
    def __init__(self, dim: int, dim_head: int, heads: int):
        super().__init__()
        self.heads = heads
        inner = dim_head * heads
        self.norm = GainNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.q_scale = nn.Parameter(torch.ones(dim_head))
        self.k_scale = nn.Parameter(torch.ones(dim_head))
        self.to_out = nn.Sequential(nn.Linear(inner, dim, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        q, k, v = self.to_q(x), *self.to_kv(x).chunk(2, dim=-1)
        b, n, _ = x.shape
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        q = F.normalize(q, p=2, dim=-1) * self.q_scale
        k = F.normalize(k, p=2, dim=-1) * self.k_scale
        attn = (torch.einsum("bhid,bhjd->bhij", q, k) * 8).softmax(dim=-1)
        out = torch.einsum("bhij,bhjd->bhid", attn, v)
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class GegluFeedForward(nn.Sequential):
    def __init__(self, dim: int, mult: int):
        hidden = int(dim * mult * 2 / 3)
        super().__init__(
            GainNorm(dim), nn.Linear(dim, hidden * 2, bias=False), _Geglu(), nn.Identity(),
            nn.Linear(hidden, dim, bias=False),
        )  # fmt: skip


class _Geglu(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, gate = x.chunk(2, dim=-1)
        return F.gelu(gate) * x


class MulanTransformer(nn.Module):
    def __init__(self, dim: int, depth: int, dim_head: int = 64, heads: int = 8, ff_mult=4):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList([Attention(dim, dim_head, heads), GegluFeedForward(dim, ff_mult)])
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return x


# --- the towers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MuqMulanConfig:
    """What the two config files say: MuQ-MuLan's ``config.json`` and the audio model's
    (``audio_model.name``, ``OpenMuQ/MuQ-large-msd-iter`` in the release)."""

    mulan: dict
    audio_model: dict
    text_model: dict
    audio_transformer: dict
    text_transformer: dict
    muq: dict

    @property
    def stat(self) -> tuple[float, float]:
        stat = self.muq.get("stat") or {}
        try:
            return float(stat["melspec_2048_mean"]), float(stat["melspec_2048_std"])
        except KeyError as e:
            raise MuqWeightsError(f"the MuQ config's stat has no {e.args[0]}") from None


def _transformer(config: dict, dim_key: str = "dim") -> MulanTransformer:
    return MulanTransformer(
        int(config.get(dim_key, 768)), int(config.get("tf_depth", 0)),
        int(config.get("dim_head", 64)), int(config.get("heads", 8)), int(config.get("ff_mult", 4)),
    )  # fmt: skip


class _MuqEncoder(nn.Module):
    """``MuQ.model``: the front end's statistics, the subsampling and the Conformer."""

    def __init__(self, muq: dict):
        super().__init__()
        from transformers import Wav2Vec2ConformerConfig
        from transformers.models.wav2vec2_conformer.modeling_wav2vec2_conformer import (
            Wav2Vec2ConformerEncoder,
        )

        n_fold = int(100 // int(muq.get("label_rate", 25)))
        strides = {4: (2, 2), 2: (2, 1)}[n_fold]
        dim = int(muq.get("encoder_dim", 1024))
        n_mels = int(muq.get("n_mels", N_MELS))
        self.conv = Conv2dSubsampling(int(muq.get("conv_dim", 512)), dim, strides, n_mels)
        w2v2 = {**(muq.get("w2v2_config") or {})}
        w2v2.update(num_hidden_layers=int(muq.get("encoder_depth", 12)), hidden_size=dim)
        self.conformer = Wav2Vec2ConformerEncoder(Wav2Vec2ConformerConfig(**w2v2))
        del self.conformer.pos_conv_embed  # built but never called by the encoder's forward


class _MuqWrapper(nn.Module):
    def __init__(self, muq: dict):
        super().__init__()
        self.model = _MuqEncoder(muq)


class AudioTower(nn.Module):
    def __init__(self, config: MuqMulanConfig):
        super().__init__()
        self.model = _MuqWrapper(config.muq)
        model_dim = int(config.audio_model.get("model_dim") or 1024)
        dim = int(config.audio_transformer.get("dim", 768))
        self.proj = nn.Linear(model_dim, dim)
        self.transformer = _transformer(config.audio_transformer)
        if int(config.audio_model.get("use_layer_idx", -1)) != -1:
            raise MuqWeightsError(
                "audio_model.use_layer_idx: only the last layer (-1, as the release) is built"
            )


class TextTower(nn.Module):
    def __init__(self, config: MuqMulanConfig, text_config):
        super().__init__()
        from transformers import XLMRobertaModel

        self.model = XLMRobertaModel(text_config)
        dim = int(config.text_transformer.get("dim", 768))
        model_dim = config.text_model.get("model_dim")
        self.proj = (
            nn.Linear(int(model_dim), dim) if model_dim and int(model_dim) != dim else nn.Identity()
        )
        self.transformer = _transformer(config.text_transformer)


class _Mulan(nn.Module):
    def __init__(self, config: MuqMulanConfig, text_config):
        super().__init__()
        latent = int(config.mulan.get("dim_latent", 512))
        self.audio = AudioTower(config)
        self.text = TextTower(config, text_config)
        self.text_to_latents = nn.Linear(int(config.text_transformer.get("dim", 768)), latent)
        self.audio_to_latents = nn.Linear(int(config.audio_transformer.get("dim", 768)), latent)


class MuqMulan(nn.Module):
    """The network, its state dict named as the package's (``mulan.*``)."""

    def __init__(self, config: MuqMulanConfig, text_config):
        super().__init__()
        self.config = config
        self.mulan = _Mulan(config, text_config)
        self.front_end = MelFrontEnd()
        self.mean, self.std = config.stat
        self.rate = int(config.mulan.get("sr", RATE))
        self.clip_samples = int(self.rate * float(config.mulan.get("clip_secs", CLIP_SECONDS)))

    def audio_latents(self, pieces: torch.Tensor) -> torch.Tensor:
        """``[pieces, samples]`` 24 kHz -> ``[pieces, 512]`` unit vectors
        (``MuLanModel.get_audio_latents``)."""
        encoder = self.mulan.audio.model.model
        x = (self.front_end(pieces) - self.mean) / self.std
        hidden = encoder.conformer(encoder.conv(x)).last_hidden_state  # hidden_states[-1]
        audio = self.mulan.audio
        x = audio.transformer(audio.proj(hidden)).mean(dim=-2)
        return F.normalize(self.mulan.audio_to_latents(x), p=2, dim=-1)

    def text_latents(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Tokenised captions -> ``[captions, 512]`` unit vectors (the mean runs over every
        token, padding included: embed one caption at a time)."""
        text = self.mulan.text
        hidden = text.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        x = text.transformer(text.proj(hidden)).mean(dim=-2)
        return F.normalize(self.mulan.text_to_latents(x), p=2, dim=-1)


def pieces_of(wave: torch.Tensor, size: int) -> torch.Tensor:
    """``MuQMuLan._get_all_clips``: non-overlapping pieces of ``size``; the remainder padded
    circularly with the clip's own start (a clip shorter than one piece: itself, then its
    start again, as the package's ``torch.cat`` gives)."""
    pieces, start = [], 0
    while start + size <= len(wave):
        pieces.append(wave[start : start + size])
        start += size
    if start < len(wave):
        rest = wave[start:]
        pieces.append(torch.cat([rest, wave[: size - len(rest)]]))
    return torch.stack(pieces)


# --- files -----------------------------------------------------------------------------------


def _read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise MuqWeightsError(f"{path}: cannot read {what} ({e})") from None


def read_config(folder: Path, audio_config: Path) -> MuqMulanConfig:
    """MuQ-MuLan's ``config.json`` and the audio model's."""
    config = _read_json(folder / "config.json", "MuQ-MuLan's config")
    keys = ("mulan", "audio_model", "text_model", "audio_transformer", "text_transformer")
    missing = [k for k in keys if not isinstance(config.get(k), dict)]
    if missing:
        raise MuqWeightsError(
            f"{folder / 'config.json'}: not a MuQ-MuLan config (no {', '.join(missing)})"
        )
    muq = _read_json(audio_config, "the MuQ audio model's config")
    if "w2v2_config" not in muq:
        raise MuqWeightsError(f"{audio_config}: not a MuQ config (no w2v2_config)")
    return MuqMulanConfig(**{k: config[k] for k in keys}, muq=muq)


def load_state(model: MuqMulan, weights: Path) -> None:
    """The release's state dict into ``model``; refused, naming ``weights`` and the first
    key, when a key the network needs is absent, one it does not know is present (other
    than the package's unused parts), or a shape differs."""
    try:
        if weights.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(weights))
        else:
            state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated file, not a torch file: the loader's words
        raise MuqWeightsError(f"{weights}: not a readable weights file ({e})") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    own = model.state_dict()
    computed = "mulan.audio.model.model.conformer.embed_positions."  # tables, not weights
    for key in own:
        if key not in state and key.startswith(computed):
            state[key] = own[key]
        elif key not in state:
            raise MuqWeightsError(f"{weights}: no {key} (not MuQ-MuLan's architecture)")
        if tuple(state[key].shape) != tuple(own[key].shape):
            raise MuqWeightsError(
                f"{weights}: {key} is {tuple(state[key].shape)}, the config gives "
                f"{tuple(own[key].shape)}"
            )
    for key in state:
        if key not in own and not key.startswith(UNUSED) and "num_batches_tracked" not in key:
            raise MuqWeightsError(f"{weights}: {key} is not part of MuQ-MuLan's network")
    model.load_state_dict({k: state[k] for k in own})


def summary(config: MuqMulanConfig) -> dict[str, Any]:
    """The architecture in the recipe's words."""
    return {
        "audio": f"MuQ ({config.muq.get('encoder_depth', 12)} Conformer layers of "
        f"{config.muq.get('encoder_dim', 1024)}) -> Linear -> "
        f"{config.audio_transformer.get('tf_depth', 0)}-layer transformer -> time mean -> "
        f"Linear({config.mulan.get('dim_latent', 512)}) -> L2",
        "text": f"XLM-RoBERTa -> {config.text_transformer.get('tf_depth', 8)}-layer "
        "transformer (no mask) -> mean over tokens -> Linear -> L2",
    }
