"""PaSST embeddings and AudioSet logits for ``fad_passt``, ``kad_passt`` and ``kld_passt``.

``passt`` (registered): kadtk's ``passt-base-10s`` (``passt-base-20s`` for the 20 s file)
scene embedding, one 1,295-d vector per clip (the 527 logits, then the 768-d features),
the clip zero-padded or cut to the model's length first.

``PasstPieces``: AudioCraft's ``PasstKLDivergenceMetric`` input: the clip split into pieces
of the model's length (10 s, or 20 s for the 20 s model) with ``torch.split``, the short
last piece kept unpadded, pieces of 4,800 samples (0.15 s) or fewer dropped; one row of
logits per piece.

The checkpoint is a local file (``--passt-checkpoint``): the README gives the release URLs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.bench.embedders.base import Embedder, register
from musiccaps_kit.bench.embedders.passt_network import (
    RATE,
    VARIANTS,
    PasstCheckpointError,
    load,
)
from musiccaps_kit.checksums import checksum_files

MIN_PIECE = 4800  # AudioCraft: int(0.15 * 32000); a piece must be longer
FRONT_END = (
    "hear21passt AugmentMelSTFT (eval): pre-emphasis [-0.97, 1], STFT n_fft 1024, hop 320, "
    "symmetric Hann 800, centred, reflect; power; Kaldi mel 128 bands 0-15000 Hz; "
    "(log(mel + 1e-5) + 4.5) / 5"
)


class _Passt(Embedder):
    rate = RATE

    def __init__(self, checkpoint: str | None = None):
        if not checkpoint:
            raise PasstCheckpointError(
                "PaSST needs a local checkpoint file (--passt-checkpoint): see the README"
            )
        self.checkpoint = Path(checkpoint)
        if not self.checkpoint.is_file():
            raise PasstCheckpointError(f"--passt-checkpoint {checkpoint}: no such file")
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
        shape = getattr(state.get("time_new_pos_embed"), "shape", None)
        if shape is None or shape[-1] not in VARIANTS:
            raise PasstCheckpointError(
                f"{self.checkpoint}: not a PaSST-S checkpoint (time_new_pos_embed {shape})"
            )
        return VARIANTS[shape[-1]][2]

    @property
    def net(self):
        """The network, read from the file on first use (a cached run never reads it)."""
        if self._net is None:
            self._net = load(self.checkpoint)
        return self._net

    def forward(self, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits and features of one piece (one piece per pass: a clip's numbers never
        depend on what was batched with it)."""
        import torch

        with torch.no_grad():
            logits, features = self.net(torch.from_numpy(np.ascontiguousarray(wave))[None])
        return logits[0].numpy(), features[0].numpy()

    def weights_checksum(self) -> str:
        return self._checksum

    def embed(self, wave: np.ndarray) -> np.ndarray:
        return self.embed_many([wave])[0]


@register("passt")
class PasstScene(_Passt):
    """kadtk's ``passt-base-10s`` / ``-20s``: [1, 1295] per clip."""

    name = "passt"

    def embed_many(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        length = self.seconds * RATE
        out = []
        for wave in waves:
            fitted = np.zeros(length, dtype=np.float32)
            fitted[: min(len(wave), length)] = wave[:length]
            logits, features = self.forward(fitted)
            out.append(np.concatenate([logits, features])[None, :])
        return out

    def settings(self) -> dict[str, Any]:
        return {
            "checkpoint": str(self.checkpoint),
            "protocol": f"kadtk 1.1.0 passt-base-{self.seconds}s scene embedding",
            "output": "the 527 logits then the 768-d features (mean of the two tokens)",
            "windowing": f"one vector per clip, zero-padded or cut to {self.seconds} s",
            "normalisation": FRONT_END,
        }


class PasstPieces(_Passt):
    """AudioCraft's PaSST input pieces: [pieces, 527] logits per clip."""

    name = "passt-pieces"

    def embed_many(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        return [np.stack([self.forward(p)[0] for p in self.pieces(w)]) for w in waves]

    def pieces(self, wave: np.ndarray) -> list[np.ndarray]:
        size = self.seconds * RATE
        parts = [wave[s : s + size] for s in range(0, len(wave), size)]
        kept = [p for p in parts if len(p) > MIN_PIECE]
        if not kept:
            raise ValueError(f"PaSST: a clip of {len(wave)} samples has no piece over {MIN_PIECE}")
        return kept

    def settings(self) -> dict[str, Any]:
        return {
            "checkpoint": str(self.checkpoint),
            "protocol": "AudioCraft PasstKLDivergenceMetric (MusicGen Table 1 KL)",
            "output": "527 AudioSet logits per piece",
            "windowing": f"torch.split into {self.seconds} s pieces, the last unpadded, pieces "
            f"of {MIN_PIECE} samples or fewer dropped",
            "normalisation": FRONT_END,
        }
