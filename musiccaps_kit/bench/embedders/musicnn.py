"""musicnn's pretrained music taggers (Pons & Serra, 2019), ported to PyTorch, offline.

The PyPI package ``musicnn`` (ISC licence) ships TF1 checkpoints of taggers trained on
MagnaTagATune (``MTT_musicnn``) and the Million Song Dataset (``MSD_musicnn``), 50 tags
each. Its own extractor needs 2019-era TensorFlow and disables eager execution for the
whole process, so we read its checkpoint files and run the same network here:

* front-end: 16 kHz, log10(10000 * mel + 1) of a 96-band Slaney mel power spectrogram
  (n_fft 512, hop 256, centred), cut into non-overlapping 3 s patches (187 frames);
* musically motivated CNN: timbral (7x38, 7x67) and temporal (128, 64, 32) filters,
  a dense mid-end with residual connections, max and mean pooling over time, a 200-unit
  penultimate layer and 50 sigmoid outputs.

One embedding per 3 s patch: the penultimate layer (200-d) for FAD, and the tag
probabilities for KLD. ``tests/test_musicnn.py`` compares the port with the original.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.bench import device
from musiccaps_kit.bench.embedders.base import Embedder, register
from musiccaps_kit.checksums import checksum_files
from musiccaps_kit.mel import mel_filterbank

RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # librosa.time_to_frames(3 s) + 1, as musicnn's extractor
BN_EPSILON = 1e-3  # tf.compat.v1.layers.batch_normalization's default
MODELS = ("MTT_musicnn", "MSD_musicnn")
_RECENT: dict[tuple[str, bytes], tuple[np.ndarray, np.ndarray]] = {}
_RECENT_SIZE = 64
# Patches per network call. Small calls keep the front end's convolution outputs (9 MB
# per patch) near the caches: 3 runs about 1.3x faster than 48 on 2 cores. Every call
# has exactly this many patches (the last is padded): oneDNN picks its algorithm by batch
# size, so a clip's numbers never depend on which clips share its batch.
BATCH_PATCHES = 3
OUTPUTS = ("penultimate", "taggram", "logits")


def model_folder(model: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "musicnn is not installed: pip install --no-deps musicnn==0.1.0 "
            "(its pretrained weights ship in the wheel)"
        )
    return Path(spec.submodule_search_locations[0]) / model


def tag_names(model: str) -> list[str]:
    """The 50 tag names of ``model``, read from the package's configuration module."""
    import ast

    source = (model_folder(model).parent / "configuration.py").read_text()
    name = "MTT_LABELS" if model.startswith("MTT") else "MSD_LABELS"
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and node.targets[0].id == name:
            return list(ast.literal_eval(node.value))
    raise KeyError(f"{name} not found in musicnn's configuration")


def log_mel(wave: np.ndarray) -> np.ndarray:
    """musicnn's input: ``[frames, 96]`` of log10(10000 * mel power + 1), float16-rounded."""
    padded = np.pad(wave.astype(np.float32), N_FFT // 2)  # centred frames, zero padding
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    index = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann
    power = np.abs(np.fft.rfft(padded[index] * window, axis=1)) ** 2
    mel = power.astype(np.float32) @ mel_filterbank(RATE, N_FFT, N_MELS).T
    # The original casts to float16 before the log; keep that rounding.
    return np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)


def patches(spectrogram: np.ndarray) -> np.ndarray:
    """Non-overlapping 3 s patches ``[n, 187, 96]`` (a trailing partial patch is dropped)."""
    starts = range(0, spectrogram.shape[0] - PATCH_FRAMES + 1, PATCH_FRAMES)
    if not len(starts):
        raise ValueError(f"musicnn needs at least 3 s of audio, got {spectrogram.shape[0]} frames")
    return np.stack([spectrogram[s : s + PATCH_FRAMES] for s in starts])


def _one_blas_thread():
    """The log-mel's small matrix product on one BLAS thread. Threads of OpenBLAS spin for
    a while after a call and take the cores from torch's convolutions that follow: with
    them, clip-by-clip embedding runs at half speed. One thread gives the same numbers
    (sgemm splits rows and columns across threads, never the sums)."""
    return _thread_pools().limit(limits=1, user_api="blas")


@functools.cache
def _thread_pools():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # finds the loaded libraries once (milliseconds)


# (conv, its batch norm) in the checkpoint's numbering
TIMBRAL = ((0, 1), (1, 2))  # 7 x 38 and 7 x 67 over (time, frequency)
TEMPORAL = ((2, 3), (3, 4), (4, 5))  # 128 x 1, 64 x 1 and 32 x 1
MID_END = ((5, 6), (6, 7), (7, 8))


def _conv_name(i: int) -> str:
    return "conv2d" + (f"_{i}" if i else "")


def _bn_name(i: int) -> str:
    return "batch_normalization" + (f"_{i}" if i else "")


def _network_class():
    import torch
    import torch.nn.functional as F

    class MusicnnNet(torch.nn.Module):
        """musicnn's inference graph with weights from the TF1 checkpoint."""

        def __init__(self, weights: dict[str, np.ndarray]):
            super().__init__()
            self.w = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}
            # Front-end kernels (TF HWIO -> torch OIHW) negated for the channels whose batch
            # norm scale is negative: their max over frequency is then minus the min that
            # the monotone steps after the convolution need (negation is exact).
            self.front = {}
            for i, bn_i in TIMBRAL + TEMPORAL:
                sign = torch.where(self.w[f"{_bn_name(bn_i)}/gamma"] < 0, -1.0, 1.0)
                kernel = self.w[f"{_conv_name(i)}/kernel"].permute(3, 2, 0, 1)
                self.front[i] = (
                    (kernel * sign.view(-1, 1, 1, 1)).contiguous(),
                    self.w[f"{_conv_name(i)}/bias"] * sign,
                    sign.view(1, -1, 1),
                )
            # Mid-end kernels span all 561 features, kept in TF's 2-D layout: as a 1-D
            # convolution with the features as channels it runs 4x faster, but its sums go
            # in another order and the port drifts from the original (1e-5 against 2e-6).
            self.mid = {
                i: self.w[f"{_conv_name(i)}/kernel"].permute(3, 2, 0, 1).contiguous()
                for i, _ in MID_END
            }

        def to_device(self, device):
            """The network's tensors (kept in dicts, not parameters) on ``device``."""
            self.w = {k: v.to(device) for k, v in self.w.items()}
            self.front = {i: tuple(t.to(device) for t in parts) for i, parts in self.front.items()}
            self.mid = {i: t.to(device) for i, t in self.mid.items()}
            return self

        def bn(self, x, i: int, channel_dim: int):
            name = _bn_name(i)
            shape = [1] * x.dim()
            shape[channel_dim] = -1
            mean = self.w[f"{name}/moving_mean"].view(shape)
            var = self.w[f"{name}/moving_variance"].view(shape)
            gamma = self.w[f"{name}/gamma"].view(shape)
            beta = self.w[f"{name}/beta"].view(shape)
            return (x - mean) / torch.sqrt(var + BN_EPSILON) * gamma + beta

        def conv_bn_max(self, x, i: int, bn_i: int):
            """max over frequency of bn(relu(conv(x))), taken before the elementwise steps:
            relu and the batch norm's per-channel affine map are monotone, so the max of
            the result is the affine map of relu of the max (or, for a channel whose scale
            is negative, of the min). The same numbers, without four passes over the full
            convolution output."""
            kernel, bias, sign = self.front[i]
            peak = F.conv2d(x, kernel, bias).amax(dim=3) * sign
            return self.bn(F.relu(peak), bn_i, 1)

        @staticmethod
        def same_time_pad(x, kernel_height: int):
            total = kernel_height - 1  # TF "same": the extra row goes after
            return F.pad(x, (0, 0, total // 2, total - total // 2))

        def forward(self, x):
            # x: [batch, time, freq]; torch layout [batch, channels, time, freq]
            x = self.bn(x.unsqueeze(1), 0, 1)
            padded = F.pad(x, (0, 0, 3, 3))
            front = []
            for i, bn_i in TIMBRAL:  # 3 rows of padding either side
                front.append(self.conv_bn_max(padded, i, bn_i))
            for i, bn_i in TEMPORAL:  # TF's "same" padding in time
                height = self.front[i][0].shape[2]
                front.append(self.conv_bn_max(self.same_time_pad(x, height), i, bn_i))
            front = torch.cat(front, dim=1)  # [batch, 561, time]
            mid = [front]
            h = front
            for layer, (conv_i, bn_i) in enumerate(MID_END):
                rows = F.pad(h.transpose(1, 2).unsqueeze(1), (0, 0, 3, 3))  # [b, 1, t, 561]
                y = F.conv2d(rows, self.mid[conv_i], self.w[f"{_conv_name(conv_i)}/bias"])
                y = self.bn(F.relu(y).squeeze(3), bn_i, 1)  # [batch, 64, time]
                h = y if layer == 0 else y + h
                mid.append(h)
            features = torch.cat(mid, dim=1)  # [batch, 753, time]
            # max and mean over time, interleaved per feature as TF's flatten does
            pooled = torch.stack([features.amax(dim=2), features.mean(dim=2)], dim=2)
            flat = self.bn(pooled.flatten(1), 9, 1)
            dense = F.relu(flat @ self.w["dense/kernel"] + self.w["dense/bias"])
            penultimate = self.bn(dense, 10, 1)
            return penultimate, penultimate @ self.w["dense_1/kernel"] + self.w["dense_1/bias"]

    return MusicnnNet


def read_checkpoint(folder: Path) -> dict[str, np.ndarray]:
    """The model variables (Adam slots left out) of a musicnn TF1 checkpoint folder.

    Its ``checkpoint`` file points at the author's machine, so ``tf.train.load_checkpoint``
    fails; the reader opens the ``.index``/``.data`` pair by prefix instead.
    """
    from tensorflow.python.training.py_checkpoint_reader import NewCheckpointReader

    reader = NewCheckpointReader(str(folder) + "/")
    return {
        name: reader.get_tensor(name).astype(np.float32)
        for name in reader.get_variable_to_shape_map()
        if "Adam" not in name and "power" not in name
    }


@register("musicnn")
class Musicnn(Embedder):
    """musicnn, offline: ``penultimate`` (200-d) features, or per tag ``logits`` / ``taggram``."""

    name = "musicnn"
    rate = RATE

    def __init__(self, model: str = "MTT_musicnn", output: str = "penultimate"):
        if model not in MODELS:
            raise ValueError(f"musicnn model must be one of {MODELS}")
        if output not in OUTPUTS:
            raise ValueError(f"musicnn output must be one of {OUTPUTS}")
        self.model, self.output = model, output
        self.folder = model_folder(model)
        self._net = None
        self._checksum: str | None = None

    @property
    def net(self):
        """The network, built on first use: a run whose embeddings are all cached reads the
        checksum of the weight files and never imports TensorFlow or torch."""
        if self._net is None:
            net = _network_class()(read_checkpoint(self.folder)).eval()
            self._net = net.to_device(device.current())
        return self._net

    def forward(self, waves: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Penultimate features and tag logits, one row per 3 s patch, for each clip.

        The patches of all clips go through the network ``BATCH_PATCHES`` at a time. The
        last few results are kept so that FAD (penultimate) and KLD (logits) on the same
        clip run the network once.
        """
        keys = [(self.model, hashlib.sha256(wave.tobytes()).digest()) for wave in waves]
        done = {key: _RECENT[key] for key in keys if key in _RECENT}
        todo = {key: wave for key, wave in zip(keys, waves, strict=True) if key not in done}
        if todo:
            with _one_blas_thread():
                per_clip = [patches(log_mel(wave)) for wave in todo.values()]
            x = np.concatenate(per_clip)
            count = len(x)
            x = np.pad(x, ((0, -count % BATCH_PATCHES), (0, 0), (0, 0)))
            import torch

            with torch.no_grad():
                chunks = device.to_device(x).split(BATCH_PATCHES)
                outputs = [self.net(chunk) for chunk in chunks]
            penultimate = torch.cat([o[0] for o in outputs]).cpu().numpy()[:count]
            logits = torch.cat([o[1] for o in outputs]).cpu().numpy()[:count]
            ends = np.cumsum([len(p) for p in per_clip])
            for key, start, end in zip(todo, np.r_[0, ends[:-1]], ends, strict=True):
                done[key] = (penultimate[start:end], logits[start:end])
                if len(_RECENT) >= _RECENT_SIZE:
                    _RECENT.pop(next(iter(_RECENT)))
                _RECENT[key] = done[key]
        return [done[key] for key in keys]

    def embed(self, wave: np.ndarray) -> np.ndarray:
        return self.embed_many([wave])[0]

    def embed_many(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        return [self._select(*pair) for pair in self.forward(waves)]

    def _select(self, penultimate: np.ndarray, logits: np.ndarray) -> np.ndarray:
        if self.output == "penultimate":
            return penultimate
        return logits if self.output == "logits" else 1 / (1 + np.exp(-logits))

    def weights_checksum(self) -> str:
        if self._checksum is None:
            self._checksum = checksum_files(
                [p for p in self.folder.iterdir() if p.name.startswith((".index", ".data"))]
            )
        return self._checksum

    def weights_name(self) -> str:
        return f"musicnn 0.1.0 {self.model}"

    def settings(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "output": self.output,
            "windowing": "non-overlapping 3 s patches (187 frames of 16 ms)",
            "normalisation": "log10(10000 * mel + 1), 96 Slaney mel bands, n_fft 512, hop 256",
        }
