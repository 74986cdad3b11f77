"""OpenL3's audio embedding network (Cramer et al., 2019; marl/openl3 0.4.2) for
``input_repr="mel256"``, ``content_type="music"``, ``embedding_size=512``, in plain torch,
with openl3's own preprocessing and kapre 0.3.7's mel front end as openl3 builds it.

Preprocessing (openl3 ``core._preprocess_audio_batch``): resampled to 48 kHz with
resampy's ``kaiser_best`` (``resamplers.resampy_kaiser_best``), ``center=True`` prepends
24,000 zeros (half a window), zeros appended so that every sample falls in a window, then
1 s windows every ``hop`` s (0.5 s in stable-audio-metrics).

Front end per 1 s window (kapre ``get_melspectrogram_layer(n_fft=2048, hop_length=242,
n_mels=256, sample_rate=48000, pad_end=True)`` and openl3's
``kapre_v0_1_4_magnitude_to_decibel``): ``tf.signal.stft`` with a periodic Hann window of
2048, hop 242, the window zero-padded at its end to 199 frames; the magnitude; librosa's
Slaney mel filterbank (256 bands, 0-24 kHz, area-normalised, float32 values); 10 log10
of max(mel, 1e-10); minus the window's maximum; floored at -80 dB. Computed here in float64:
the tool's float32 TensorFlow STFT leaves rounding noise in the mel bands above the input's
Nyquist (empty after a 44.1 kHz -> 48 kHz resampling), which the per-window max and the
80 dB floor then amplify, so its own value depends on its FFT (CPU and GPU differ).

Network (openl3 ``_construct_mel256_audio_network``, channels last in Keras, first here):
BatchNormalization of the spectrogram; four blocks of two 3x3 'same' convolutions, each
followed by BatchNormalization (Keras eps 1e-3) and ReLU, except the last convolution,
``audio_embedding_layer``; 2x2 max pooling after blocks 1-3; then max pooling over the
whole (32, 24) map (``AUDIO_POOLING_SIZES["mel256"][512]``): 512 dims per window.

Weights: openl3's released ``openl3_audio_mel256_music.h5`` (Keras ``save_weights``:
one group per layer, ``<layer>/<layer>/kernel:0`` ...), or the same arrays in an ``.npz``
keyed ``<layer>/<weight>`` (``conv2d_1/kernel:0``). Layers are matched by name:
``batch_normalization[_N]`` and ``conv2d[_N]`` in suffix order, ``audio_embedding_layer``
last; the widths come from the shapes. openl3 itself reads the variant from the file name
(``*_<input_repr>_<content_type>.h5``): the mel128, linear and env files have the same
shapes, so a name naming another variant is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

RATE = 48000  # openl3 TARGET_SR
N_FFT, HOP, N_MELS = 2048, 242, 256
WINDOW = RATE  # one second
FRAMES = -(-WINDOW // HOP)  # tf.signal.stft with pad_end: 199
AMIN, DYNAMIC_RANGE = 1e-10, 80.0
BN_EPS = 1e-3  # Keras BatchNormalization default
POOLS = 3  # 2x2 poolings after blocks 1-3
NAME_PATTERN = re.compile(r"_(linear|mel128|mel256)_(music|env)")


class OpenL3WeightsError(ValueError):
    """A file that is not openl3's mel256 music audio network."""


@lru_cache(maxsize=1)
def mel_bank() -> np.ndarray:
    """``librosa.filters.mel(sr=48000, n_fft=2048, n_mels=256)`` as kapre 0.3.7 takes it
    (``filterbank_mel``, float32), in librosa's order: the triangles stored as float32, then
    scaled by the Slaney area norm into the same float32 array. ``[256, 1025]``."""
    from musiccaps_kit.mel import hz_to_mel, mel_to_hz

    fft_freqs = np.linspace(0, RATE / 2, 1 + N_FFT // 2)
    edges = hz_to_mel([0.0, RATE / 2])
    hz = mel_to_hz(np.linspace(edges[0], edges[1], N_MELS + 2))
    fdiff = np.diff(hz)
    ramps = hz[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper)).astype(np.float32)
    weights *= (2.0 / (hz[2 : N_MELS + 2] - hz[:N_MELS]))[:, None]
    return weights


def windows(wave: np.ndarray, hop_seconds: float) -> np.ndarray:
    """openl3's ``_center_audio`` + ``_pad_audio`` + framing: ``[n, 48000]`` windows of 48 kHz
    audio, the first centred on sample 0."""
    hop = int(hop_seconds * RATE)
    audio = np.pad(np.asarray(wave), (WINDOW // 2, 0))
    if audio.size < WINDOW:
        pad = WINDOW - audio.size
    else:
        pad = int(np.ceil((audio.size - WINDOW) / float(hop))) * hop - (audio.size - WINDOW)
    if pad > 0:
        audio = np.pad(audio, (0, pad))
    count = 1 + int((len(audio) - WINDOW) / float(hop))
    return np.stack([audio[i * hop : i * hop + WINDOW] for i in range(count)])


def _torch_modules():
    import torch
    import torch.nn.functional as F
    from torch import nn

    class OpenL3Net(nn.Module):
        """BatchNorm, 4 x (conv-BN-ReLU, conv-BN-ReLU[, pool]), global max: 512-d."""

        def __init__(self, widths: tuple[int, ...]):
            super().__init__()
            self.input_norm = nn.BatchNorm2d(1, eps=BN_EPS)
            convs, norms, previous = [], [], 1
            for width in widths:
                convs.append(nn.Conv2d(previous, width, 3, padding=1))
                previous = width
            self.convs = nn.ModuleList(convs)
            norms = [nn.BatchNorm2d(w, eps=BN_EPS) for w in widths[:-1]]
            self.norms = nn.ModuleList(norms)
            self.register_buffer("bank", torch.from_numpy(mel_bank()).double(), persistent=False)
            window = torch.hann_window(N_FFT, periodic=True, dtype=torch.float64)
            self.register_buffer("window", window, persistent=False)

        def spectrogram(self, frames):
            """``[batch, 48000]`` audio -> ``[batch, 1, 256, 199]`` dB mel, in float64."""
            x = frames.double()
            x = F.pad(x, (0, (FRAMES - 1) * HOP + N_FFT - x.shape[-1]))
            spec = torch.stft(x, N_FFT, HOP, N_FFT, self.window, center=False, return_complex=True)
            mel = self.bank @ spec.abs()
            db = 10.0 * torch.log10(mel.clamp(min=AMIN))
            db = db - db.amax(dim=(1, 2), keepdim=True)
            return db.clamp(min=-DYNAMIC_RANGE).unsqueeze(1)

        def forward(self, frames):
            """``[batch, 48000]`` 48 kHz windows -> ``[batch, 512]`` embeddings."""
            return self.network(self.spectrogram(frames).float())

        def network(self, spec):
            """``[batch, 1, 256, 199]`` float32 dB mel -> ``[batch, 512]``."""
            x = self.input_norm(spec)
            for i, conv in enumerate(self.convs):
                x = conv(x)
                if i == len(self.convs) - 1:
                    break  # audio_embedding_layer: no norm, no activation
                x = F.relu(self.norms[i](x))
                if i % 2 == 1 and i // 2 < POOLS:
                    x = F.max_pool2d(x, 2)
            return x.amax(dim=(2, 3))

    return OpenL3Net


@dataclass(frozen=True)
class OpenL3Config:
    widths: tuple[int, ...] = (64, 64, 128, 128, 256, 256, 512, 512)


def build(config: OpenL3Config = OpenL3Config()):
    """An OpenL3 network of ``config``, random weights, eval mode."""
    return _torch_modules()(config.widths).eval()


def _suffix(name: str) -> int:
    match = re.search(r"_(\d+)$", name)
    return int(match.group(1)) if match else 0


def read_weights(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """``{layer: {weight: array}}`` from openl3's ``.h5`` or an ``.npz`` of the same arrays
    keyed ``layer/weight``; weight names without Keras' ``:0``."""
    path = Path(path)
    layers: dict[str, dict[str, np.ndarray]] = {}
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                for key in data.files:
                    layer, _, weight = key.rpartition("/")
                    layers.setdefault(layer.split("/")[0], {})[weight.split(":")[0]] = data[key]
        else:
            import h5py

            with h5py.File(path, "r") as f:
                root = f["model_weights"] if "model_weights" in f else f
                for layer in root:
                    names = root[layer].attrs.get("weight_names", [])
                    for name in names:
                        name = name.decode() if isinstance(name, bytes) else str(name)
                        weight = name.split("/")[-1].split(":")[0]
                        layers.setdefault(layer, {})[weight] = np.asarray(root[layer][name])
    except (OSError, ValueError, KeyError) as e:
        raise OpenL3WeightsError(f"{path}: not a readable weights file ({e})") from None
    return layers


def check_variant(path: Path) -> None:
    """openl3 reads the variant from the file name; refuse one that names another."""
    match = NAME_PATTERN.search(path.name)
    if match is None:
        raise OpenL3WeightsError(
            f"{path}: openl3 reads the variant from the file name "
            "(openl3_audio_mel256_music.h5); this one names none"
        )
    if match.groups() != ("mel256", "music"):
        raise OpenL3WeightsError(
            f"{path}: the {match.group(1)} {match.group(2)} network; FD-openl3 as "
            "stable-audio-metrics computes it uses mel256 music (512-d)"
        )


def load(path: str | Path):
    """The network of an openl3 weights file, eval mode; a file that is not the mel256
    music audio network (another variant, front-end weights of kapre 0.1, missing layers,
    wrong shapes) is an ``OpenL3WeightsError`` naming the file and what is wrong."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise OpenL3WeightsError(f"--openl3-weights {path}: no such file")
    check_variant(path)
    layers = read_weights(path)
    for layer, weights in layers.items():
        if {"dft_real_kernels", "freq_to_mel"} & set(weights):
            raise OpenL3WeightsError(
                f"{path}: layer {layer} holds kapre 0.1 front-end weights (an openl3 < 0.4 "
                "file); openl3 0.4 and stable-audio-metrics use the v0.4.0 weights"
            )
    norms = sorted((n for n in layers if n.startswith("batch_normalization")), key=_suffix)
    convs = sorted((n for n in layers if re.fullmatch(r"conv2d(_\d+)?", n)), key=_suffix)
    if "audio_embedding_layer" in layers:
        convs.append("audio_embedding_layer")
    if len(convs) != 8 or len(norms) != 8:
        raise OpenL3WeightsError(
            f"{path}: {len(convs)} convolutions and {len(norms)} batch norms; openl3's audio "
            "network has 8 of each (the last convolution named audio_embedding_layer)"
        )
    try:
        kernels = [np.asarray(layers[c]["kernel"], dtype=np.float32) for c in convs]
    except KeyError:
        raise OpenL3WeightsError(f"{path}: a convolution without its kernel") from None
    widths = tuple(int(k.shape[-1]) for k in kernels)
    net = build(OpenL3Config(widths))
    state = {}
    for i, (name, kernel) in enumerate(zip(convs, kernels, strict=True)):
        expected = tuple(net.convs[i].weight.shape)
        weight = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())  # HWIO -> OIHW
        if tuple(weight.shape) != expected:
            raise OpenL3WeightsError(
                f"{path}: {name}/kernel has shape {kernel.shape}, expected HWIO of {expected}"
            )
        state[f"convs.{i}.weight"] = weight
        state[f"convs.{i}.bias"] = torch.from_numpy(np.asarray(layers[name]["bias"], np.float32))
    targets = ["input_norm"] + [f"norms.{i}" for i in range(len(widths) - 1)]
    keras = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean",
             "running_var": "moving_variance"}  # fmt: skip
    for target, name in zip(targets, norms, strict=True):
        for ours, theirs in keras.items():
            if theirs not in layers[name]:
                raise OpenL3WeightsError(f"{path}: {name} has no {theirs}")
            state[f"{target}.{ours}"] = torch.from_numpy(
                np.asarray(layers[name][theirs], dtype=np.float32)
            )
    try:
        net.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise OpenL3WeightsError(f"{path}: {str(e).splitlines()[-1].strip()}") from None
    return net.eval()


def save_npz(net, path: str | Path) -> Path:
    """A network's arrays as the ``.npz`` form ``load`` reads (Keras layer and weight names,
    kernels HWIO): random full-size networks for benchmarks, converted files for users."""
    arrays = {}
    norms = [net.input_norm, *net.norms]
    names = [f"conv2d_{i + 1}" for i in range(len(net.convs) - 1)] + ["audio_embedding_layer"]
    for name, conv in zip(names, net.convs, strict=True):
        arrays[f"{name}/kernel:0"] = conv.weight.detach().numpy().transpose(2, 3, 1, 0)
        arrays[f"{name}/bias:0"] = conv.bias.detach().numpy()
    for i, norm in enumerate(norms, start=1):
        for ours, theirs in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                             ("running_var", "moving_variance")):  # fmt: skip
            arrays[f"batch_normalization_{i}/{theirs}:0"] = getattr(norm, ours).detach().numpy()
    path = Path(path)
    np.savez(path, **arrays)
    return path


def flops_per_window(config: OpenL3Config = OpenL3Config()) -> float:
    """Multiply-adds x 2 of the convolutions for one 1 s window."""
    h, w, previous, total = N_MELS, FRAMES, 1, 0.0
    for i, width in enumerate(config.widths):
        total += 2 * h * w * width * previous * 9
        previous = width
        if i % 2 == 1 and i // 2 < POOLS:
            h, w = h // 2, w // 2
    return total
