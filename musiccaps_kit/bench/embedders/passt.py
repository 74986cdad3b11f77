"""PaSST embeddings and AudioSet logits for ``fad_passt``, ``kad_passt`` and ``kld_passt``.

``passt`` (registered): kadtk 1.1.0's ``passt-base-10s`` / ``passt-base-20s`` scene
embedding (``PaSSTModel``), one 1,295-d vector per clip (the 527 logits, then the 768-d
features). kadtk zero-pads or cuts the clip to 10 or 20 s and calls hear21passt's
``get_scene_embeddings`` on the *10 s* wrapper (``get_basic_model(mode="all")``, whose net
it swaps for the 20 s one): a 10 s clip goes through the network once; a 20 s clip takes
the wrapper's long-input branch, ``get_timestamp_embeddings(window 10 s, hop 2.5 s)``: the
clip reflect-padded by 5 s at both ends, 9 windows of 10 s every 2.5 s through the
network, their vectors averaged. Its audio arrives as kadtk loads it (``FADTK`` path).

``PasstPieces``: AudioCraft's ``PasstKLDivergenceMetric`` input: the clip split into pieces
of the model's length (10 s, or 20 s for the 20 s model) with ``torch.split``, the short
last piece kept unpadded, pieces of 4,800 samples (0.15 s) or fewer dropped; one row of
logits per piece; its audio arrives as AudioCraft's ``convert_audio`` gives it (julius).

``PasstSao``: stable-audio-metrics' ``return_probabilities`` (``passt_kld.py``): the 10 s
model only; 10 s windows every 5 s over ``range(0, max(step, len - step), step)``, a short
last window zero-padded to 10 s when longer than 15 % of it and passed as it is otherwise;
the windows' logits collected by their mean (``collect="mean"``, or ``"max"``): one row of
527 logits per clip; its audio as the tool loads it (librosa at 32 kHz, peak -1 dBFS).

The checkpoints are local files: ``--passt-embedding-checkpoint`` for ``passt`` (kadtk's
default is the 10 s file), ``--passt-checkpoint`` for ``kld_passt`` (MusicGen's evaluation
uses the 20 s file); with none, each class's release, fetched by name (``model_store``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.bench import device, model_store, releases
from musiccaps_kit.bench.audio_paths import AUDIOCRAFT, FADTK, SAO
from musiccaps_kit.bench.embedders.base import Embedder, register
from musiccaps_kit.bench.embedders.passt_network import (
    RATE,
    PasstCheckpointError,
    config_of,
    load,
)
from musiccaps_kit.checksums import checksum_files

MIN_PIECE = 4800  # AudioCraft: int(0.15 * 32000); a piece must be longer
# hear21passt's PasstBasicWrapper (base.get_basic_model): max_model_window 10 s, scene_hop
# 2.5 s; get_timestamp_embeddings pads window // 2 at both ends
WRAPPER_WINDOW = 10 * RATE
SCENE_HOP = int(2500 * RATE / 1000)
# stable-audio-metrics passt_kld.return_probabilities(window_size=10, overlap=5)
SAO_STEP = 5 * RATE
SAO_SHORTEST_PADDED = int(10 * RATE * 0.15)
COLLECTS = ("mean", "max")
GPU_BATCH = 32  # pieces per pass on a GPU
FRONT_END = (
    "hear21passt AugmentMelSTFT (eval): pre-emphasis [-0.97, 1], STFT n_fft 1024, hop 320, "
    "symmetric Hann 800, centred, reflect; power; Kaldi mel 128 bands 0-15000 Hz; "
    "(log(mel + 1e-5) + 4.5) / 5"
)


class _Passt(Embedder):
    rate = RATE

    option = "--passt-checkpoint"
    # the file its tool loads, fetched by name when no checkpoint is given
    release = releases.PASST_20S

    def __init__(self, checkpoint: str | None = None):
        self.checkpoint = Path(checkpoint) if checkpoint else model_store.fetch(self.release)
        if not self.checkpoint.is_file():
            raise PasstCheckpointError(f"{self.option} {checkpoint}: no such file")
        self._checksum = checksum_files([self.checkpoint])
        self.seconds = self._seconds()
        self._net = None

    def _seconds(self) -> int:
        """10 or 20 s, from the file's shapes alone (tensors on the meta device: no data is
        read, so a cached run stays cheap); a file without them is refused here, early."""
        import torch

        try:
            state = torch.load(self.checkpoint, map_location="meta", weights_only=True)
        except Exception as e:
            raise PasstCheckpointError(
                f"{self.checkpoint}: not a readable PyTorch checkpoint ({e})"
            ) from None
        state = state.get("state_dict", state) if isinstance(state, dict) else {}
        return config_of(state, self.checkpoint).seconds

    @property
    def net(self):
        """The network, read from the file on first use (a cached run never reads it)."""
        if self._net is None:
            self._net = device.place(load(self.checkpoint))
        return self._net

    def forward(self, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits and features of one piece."""
        return self.forward_many([wave])[0]

    def forward_many(self, pieces: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Logits and features of each piece: on the CPU one piece per pass (a clip's
        numbers never depend on what was batched with it); on a GPU pieces of one length
        go through together, ``GPU_BATCH`` at a time."""
        import torch

        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        per_pass = GPU_BATCH if device.current().type == "cuda" else 1
        by_length: dict[int, list[int]] = {}
        for i, piece in enumerate(pieces):
            by_length.setdefault(len(piece), []).append(i)
        for indices in by_length.values():
            for start in range(0, len(indices), per_pass):
                chunk = indices[start : start + per_pass]
                x = device.to_device(np.stack([pieces[i] for i in chunk]))
                with torch.inference_mode():
                    logits, features = self.net(x)
                logits, features = logits.float().cpu().numpy(), features.float().cpu().numpy()
                out.update({i: (logits[k], features[k]) for k, i in enumerate(chunk)})
        return [out[i] for i in range(len(pieces))]

    def checkpoint_settings(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint.name, "variant": f"passt-s-{self.seconds}s"}

    def weights_checksum(self) -> str:
        return self._checksum

    def weights_name(self) -> str:
        return str(self.checkpoint)

    def embed(self, wave: np.ndarray) -> np.ndarray:
        return self.embed_many([wave])[0]


@register("passt")
class PasstScene(_Passt):
    """kadtk's ``passt-base-10s`` / ``-20s``: [1, 1295] per clip."""

    name = "passt"
    audio_path = FADTK
    option = "--passt-embedding-checkpoint"
    release = releases.PASST_10S

    def embed_many(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        length = self.seconds * RATE
        out = []
        for wave in waves:
            fitted = np.zeros(length, dtype=np.float32)
            fitted[: min(len(wave), length)] = wave[:length]
            out.append(self.scene(fitted)[None, :])
        return out

    def scene(self, wave: np.ndarray) -> np.ndarray:
        """hear21passt's ``get_scene_embeddings`` on the 10 s wrapper: one pass for at most
        10 s, else the mean over ``scene_windows``."""
        import torch

        vectors = [np.concatenate(r) for r in self.forward_many(scene_windows(wave))]
        return torch.from_numpy(np.stack(vectors)).mean(dim=0).numpy()

    def settings(self) -> dict[str, Any]:
        windows = len(scene_windows(np.zeros(self.seconds * RATE, dtype=np.float32)))
        return {
            **self.checkpoint_settings(),
            "protocol": f"kadtk 1.1.0 passt-base-{self.seconds}s scene embedding",
            "output": "the 527 logits then the 768-d features (mean of the two tokens)",
            "windowing": f"zero-padded or cut to {self.seconds} s; hear21passt's 10 s "
            "wrapper's get_scene_embeddings: "
            + (
                "one pass"
                if windows == 1
                else f"reflect-padded 5 s each side, {windows} windows of 10 s every 2.5 s, "
                "mean of their vectors"
            ),
            "normalisation": FRONT_END,
        }


def scene_windows(wave: np.ndarray) -> list[np.ndarray]:
    """The windows hear21passt's 10 s wrapper feeds its network for a scene embedding: the
    clip itself up to 10 s; longer, ``get_timestamp_embeddings(window_size=10 s,
    hop=2.5 s)``: reflect padding of 5 s at both ends, then every 10 s window every 2.5 s
    (``F.unfold``)."""
    if len(wave) <= WRAPPER_WINDOW:
        return [wave]
    pad = WRAPPER_WINDOW // 2
    padded = np.pad(wave, pad, mode="reflect")
    starts = range(0, len(padded) - WRAPPER_WINDOW + 1, SCENE_HOP)
    return [padded[s : s + WRAPPER_WINDOW] for s in starts]


class PasstPieces(_Passt):
    """AudioCraft's PaSST input pieces: [pieces, 527] logits per clip."""

    name = "passt-pieces"
    audio_path = AUDIOCRAFT

    def embed_many(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        per_clip = [self.pieces(w) for w in waves]
        results = self.forward_many([p for pieces in per_clip for p in pieces])
        out, start = [], 0
        for pieces in per_clip:
            out.append(np.stack([logits for logits, _ in results[start : start + len(pieces)]]))
            start += len(pieces)
        return out

    def pieces(self, wave: np.ndarray) -> list[np.ndarray]:
        size = self.seconds * RATE
        parts = [wave[s : s + size] for s in range(0, len(wave), size)]
        kept = [p for p in parts if len(p) > MIN_PIECE]
        if not kept:
            raise ValueError(f"PaSST: a clip of {len(wave)} samples has no piece over {MIN_PIECE}")
        return kept

    def settings(self) -> dict[str, Any]:
        return {
            **self.checkpoint_settings(),
            "protocol": f"AudioCraft PasstKLDivergenceMetric (pretrained_length {self.seconds})",
            "output": "527 AudioSet logits per piece",
            "windowing": f"torch.split into {self.seconds} s pieces, the last unpadded, pieces "
            f"of {MIN_PIECE} samples or fewer dropped",
            "normalisation": FRONT_END,
        }


class PasstSao(_Passt):
    """stable-audio-metrics' PaSST logits: [1, 527] per clip, collected over windows."""

    name = "passt-sao"
    audio_path = SAO
    option = "--passt-checkpoint or --passt-embedding-checkpoint"
    release = releases.PASST_10S

    def __init__(self, checkpoint: str | None = None, collect: str = "mean"):
        super().__init__(checkpoint)
        if self.seconds != 10:
            raise PasstCheckpointError(
                f"{self.checkpoint}: the {self.seconds} s PaSST; stable-audio-metrics' KL uses "
                "the 10 s model (hear21passt get_basic_model)"
            )
        if collect not in COLLECTS:
            raise ValueError(f"--kl-collect {collect!r}: one of {', '.join(COLLECTS)}")
        self.collect = collect

    def embed_many(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        out = []
        for wave in waves:
            windows = sao_windows(wave)
            logits = torch.from_numpy(np.stack([r[0] for r in self.forward_many(windows)]))
            collected = logits.mean(dim=0) if self.collect == "mean" else logits.max(dim=0).values
            out.append(collected.numpy()[None, :])
        return out

    def settings(self) -> dict[str, Any]:
        return {
            **self.checkpoint_settings(),
            "protocol": "stable-audio-metrics passt_kld return_probabilities",
            "output": f"527 AudioSet logits per clip, the {self.collect} over windows",
            "windowing": "10 s windows every 5 s over range(0, max(step, len - step), step); a "
            "short last window zero-padded to 10 s when longer than 1.5 s, else as it is",
            "normalisation": FRONT_END,
        }


def sao_windows(wave: np.ndarray) -> list[np.ndarray]:
    """stable-audio-metrics' analysis windows of a 32 kHz clip."""
    size = WRAPPER_WINDOW
    out = []
    for start in range(0, max(SAO_STEP, len(wave) - SAO_STEP), SAO_STEP):
        window = wave[start : start + size]
        if SAO_SHORTEST_PADDED < len(window) < size:
            window = np.pad(window, (0, size - len(window)))
        if len(window) <= MIN_PIECE:
            raise ValueError(
                f"PaSST: a window of {len(window)} samples is too short for the network "
                "(stable-audio-metrics skips such an id with an error message)"
            )
        out.append(np.asarray(window, dtype=np.float32))
    return out
