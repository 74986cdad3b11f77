"""PaSST-S (Koutini et al., 2021) in plain torch, without torchaudio or timm: the AudioSet
tagger that AudioCraft's KL and kadtk's ``passt-base-*`` load through hear21passt.

It reads the checkpoint files hear21passt downloads (kkoutini/PaSST release v0.0.1-audioset):
``passt-s-f128-p16-s10-ap.476-swa.pt`` (10 s, hear21passt's default
``passt_s_swa_p16_128_ap476``) and ``passt-s-f128-20sec-p16-s10-ap.474-swa.pt`` (20 s,
``input_tdim=2000``, what MusicGen's evaluation uses). Each is a flat state dict of 159
tensors with the parameter names used here; which variant a file is comes from its time
position embedding (99 patches: 10 s; 200: 20 s), the width and depth from its shapes.

Front end (hear21passt ``AugmentMelSTFT`` in eval mode): pre-emphasis [-0.97, 1], STFT
(n_fft 1024, hop 320, a 800-sample symmetric Hann window, centred, reflect), power, a
Kaldi-style mel filterbank (128 bands, 0-15,000 Hz, torchaudio's ``get_mel_banks`` plus a
zero column), log(mel + 1e-5), (x + 4.5) / 5. Network: 16 x 16 patches with stride 10,
time and frequency position embeddings (time cut to the patches present), class and
distillation tokens, 12 pre-norm ViT blocks, LayerNorm; logits = head(mean of the two
tokens), features = that mean (768-d).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 32000
N_FFT, HOP, WINDOW = 1024, 320, 800
MELS, F_MIN, F_MAX = 128, 0.0, 15000.0  # hear21passt: fmax = sr // 2 - fmax_aug_range // 2
PATCH, STRIDE = 16, 10
HEAD_DIMS = 64  # ViT-B: 768 / 12 heads
AUDIOSET_CLASSES = 527
# the input lengths hear21passt's models are built for, by time position patches
VARIANTS = {99: ("passt-s-10s", 998, 10), 200: ("passt-s-20s", 2000, 20)}


class PasstCheckpointError(ValueError):
    """A file that is not a PaSST checkpoint this network can hold."""


def kaldi_mel_banks(bins: int = MELS, n_fft: int = N_FFT, rate: int = RATE) -> np.ndarray:
    """torchaudio's ``kaldi.get_mel_banks(bins, n_fft, rate, F_MIN, F_MAX, 100, -500, 1.0)``
    (no warping at factor 1): triangles on mel = 1127 ln(1 + f / 700) over the n_fft / 2
    bins below Nyquist, then a zero column for the Nyquist bin, as hear21passt pads it."""

    def mel(f):
        return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)

    half = n_fft // 2
    low, high = mel(F_MIN), mel(F_MAX)
    delta = (high - low) / (bins + 1)
    left = low + np.arange(bins)[:, None] * delta
    center, right = left + delta, left + 2 * delta
    fft_mel = mel(rate / n_fft * np.arange(half))[None, :]
    up = (fft_mel - left) / (center - left)
    down = (right - fft_mel) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1))).astype(np.float32)


def _torch_modules():
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Block(nn.Module):
        def __init__(self, dim: int, heads: int):
            super().__init__()
            self.heads = heads
            self.norm1 = nn.LayerNorm(dim, eps=1e-6)
            self.attn = nn.Module()
            self.attn.qkv = nn.Linear(dim, 3 * dim)
            self.attn.proj = nn.Linear(dim, dim)
            self.norm2 = nn.LayerNorm(dim, eps=1e-6)
            self.mlp = nn.Module()
            self.mlp.fc1 = nn.Linear(dim, 4 * dim)
            self.mlp.fc2 = nn.Linear(4 * dim, dim)

        def forward(self, x):
            b, n, d = x.shape
            qkv = self.attn.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, d // self.heads)
            q, k, v = qkv.permute(2, 0, 3, 1, 4)
            attended = F.scaled_dot_product_attention(q, k, v)
            x = x + self.attn.proj(attended.transpose(1, 2).reshape(b, n, d))
            return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))

    class PasstNet(nn.Module):
        def __init__(self, config: PasstConfig):
            super().__init__()
            dim = config.width
            self.patch_embed = nn.Module()
            self.patch_embed.proj = nn.Conv2d(1, dim, PATCH, STRIDE)
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.dist_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.new_pos_embed = nn.Parameter(torch.zeros(1, 2, dim))
            self.freq_new_pos_embed = nn.Parameter(torch.zeros(1, dim, MELS // STRIDE, 1))
            self.time_new_pos_embed = nn.Parameter(torch.zeros(1, dim, 1, config.time_patches))
            self.blocks = nn.Sequential(
                *[Block(dim, dim // HEAD_DIMS) for _ in range(config.depth)]
            )
            self.norm = nn.LayerNorm(dim, eps=1e-6)
            self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, config.classes))
            self.head_dist = nn.Linear(dim, config.classes)  # in the files; unused at inference
            self.register_buffer("preemphasis", torch.tensor([[[-0.97, 1.0]]]), persistent=False)
            window = torch.hann_window(WINDOW, periodic=False)
            self.register_buffer("window", window, persistent=False)
            self.register_buffer("mel", torch.from_numpy(kaldi_mel_banks()), persistent=False)

        def power(self, wave):
            """Pre-emphasis, then the STFT's power: [batch, 513, 1 + (samples - 1) // 320]."""
            x = F.conv1d(wave.unsqueeze(1), self.preemphasis).squeeze(1)
            spec = torch.stft(
                x, N_FFT, HOP, WINDOW, self.window, center=True, pad_mode="reflect",
                return_complex=True,
            )  # fmt: skip
            return spec.real.square() + spec.imag.square()

        def log_mel(self, wave):
            """[batch, samples] at 32 kHz -> [batch, 128, 1 + (samples - 1) // 320]."""
            return ((self.mel @ self.power(wave) + 1e-5).log() + 4.5) / 5.0

        def forward(self, wave):
            """Logits [batch, classes] and features [batch, width] of 32 kHz audio."""
            x = self.patch_embed.proj(self.log_mel(wave).unsqueeze(1))  # [b, d, f, t]
            x = x + self.time_new_pos_embed[..., : x.shape[-1]] + self.freq_new_pos_embed
            x = x.flatten(2).transpose(1, 2)
            b = len(x)
            tokens = torch.cat(
                [
                    self.cls_token.expand(b, -1, -1) + self.new_pos_embed[:, :1],
                    self.dist_token.expand(b, -1, -1) + self.new_pos_embed[:, 1:],
                ],
                dim=1,
            )
            x = self.norm(self.blocks(torch.cat([tokens, x], dim=1)))
            features = (x[:, 0] + x[:, 1]) / 2
            return self.head(features), features

    return PasstNet


@dataclass(frozen=True)
class PasstConfig:
    width: int = 768
    depth: int = 12
    classes: int = 527
    time_patches: int = 99

    @property
    def variant(self) -> str:
        return VARIANTS[self.time_patches][0]

    @property
    def seconds(self) -> int:
        """The audio length the model is built for: 10 or 20 s."""
        return VARIANTS[self.time_patches][2]


def build(config: PasstConfig):
    """A PaSST network of ``config``, random weights, eval mode."""
    return _torch_modules()(config).eval()


def config_of(state: dict, path: Path) -> PasstConfig:
    """The configuration a state dict's shapes describe; refused unless it is the 10 s or
    20 s AudioSet PaSST-S (the 30 s release, and the OpenMIC and FSD50K taggers, are other
    networks: kadtk's passt-base-30s, openmic and fsd50k are not reproduced here)."""
    state = {k.removeprefix("net."): v for k, v in state.items()}
    try:
        time_patches = state["time_new_pos_embed"].shape[-1]
        width = state["patch_embed.proj.weight"].shape[0]
        depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
        classes = state["head.1.weight"].shape[0]
    except (KeyError, ValueError, AttributeError, IndexError) as e:
        raise PasstCheckpointError(f"{path}: not a PaSST checkpoint (no {e})") from None
    if time_patches not in VARIANTS:
        raise PasstCheckpointError(
            f"{path}: time_new_pos_embed has {time_patches} time patches; known are "
            f"{sorted(VARIANTS)} (the 10 s and 20 s PaSST-S; not the 30 s release)"
        )
    if classes != AUDIOSET_CLASSES:
        raise PasstCheckpointError(
            f"{path}: a head of {classes} classes, not AudioSet's {AUDIOSET_CLASSES} (the "
            "OpenMIC or FSD50K release?): KL-PaSST and kadtk's passt-base need the AudioSet one"
        )
    return PasstConfig(width, depth, classes, time_patches)


def load(path: str | Path):
    """The network of a PaSST checkpoint file (torch's zip or legacy format, read with
    ``weights_only=True``); a truncated or foreign file, or one whose keys or shapes do not
    match, is a ``PasstCheckpointError`` naming the file and the first mismatch."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise PasstCheckpointError(f"--passt-checkpoint {path}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not torch's, or pickled objects beyond tensors
        raise PasstCheckpointError(f"{path}: not a readable PyTorch checkpoint ({e})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise PasstCheckpointError(f"{path}: holds a {type(state).__name__}, not a state dict")
    state = {k.removeprefix("net."): v for k, v in state.items()}
    net = build(config_of(state, path))
    expected = net.state_dict()
    for key, tensor in expected.items():
        if key not in state:
            raise PasstCheckpointError(f"{path}: no tensor {key}")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise PasstCheckpointError(
                f"{path}: {key} has shape {tuple(state[key].shape)}, expected {tuple(tensor.shape)}"
            )
    extra = sorted(set(state) - set(expected))
    if extra:
        raise PasstCheckpointError(f"{path}: unexpected tensor {extra[0]}")
    net.load_state_dict(state)
    return net


def frames(samples: int) -> int:
    """Mel frames for ``samples`` samples: pre-emphasis drops one, the STFT is centred."""
    return 1 + (samples - 1) // HOP


def time_patches(samples: int) -> int:
    return (frames(samples) - PATCH) // STRIDE + 1


def flops_per_clip(config: PasstConfig, seconds: float = 10.0) -> float:
    """Multiply-adds x 2 of the network for one clip (tokens from the patch grid)."""
    tokens = 2 + (MELS // STRIDE) * time_patches(int(seconds * RATE))
    d = config.width
    per_block = 2 * tokens * (12 * d * d) + 4 * tokens * tokens * d
    return config.depth * per_block + 2 * tokens * d * PATCH * PATCH
