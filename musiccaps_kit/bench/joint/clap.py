"""LAION-CLAP from a local checkpoint, as a joint model for MCC.

``laion-clap`` is an optional extra (it pins numpy<2, so it installs with ``--no-deps``;
see the README). Its ``CLAP_Module`` builds a RoBERTa text tower from the Hugging Face
hub's ``roberta-base`` when constructed: a user needs network once, or that model in the
hub cache with ``HF_HUB_OFFLINE=1``. The checkpoint changes MCC a lot (0.13 vs 0.31 for
the same model in one report), so its sha256 is in the recipe.

Audio at 48 kHz is cut into 10 s windows (480,000 samples) with a 10 s hop, the last one
aligned with the clip's end, so LAION's loader never crops at random; a clip shorter
than 10 s is one window, which the module repeat-pads. The module quantises each window
to int16 and back, as in training. A clip's embedding is the mean of its windows'.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.audio import windows
from musiccaps_kit.bench import device
from musiccaps_kit.bench.embedders.base import Embedder
from musiccaps_kit.bench.joint.base import JointModel, register_joint
from musiccaps_kit.checksums import checksum_files

RATE = 48000
WINDOW = 10 * RATE
INSTALL = (
    "LAION-CLAP is an optional extra: pip install --no-deps laion-clap and "
    "pip install torchlibrosa ftfy braceexpand webdataset wget h5py"
)


class ClapAudio(Embedder):
    name = "clap-audio"
    rate = RATE

    def __init__(self, module, settings: dict[str, Any], checksum: str):
        self.module, self._settings, self._checksum = module, settings, checksum

    def embed(self, wave: np.ndarray) -> np.ndarray:
        return self.embed_many([wave])[0]

    def embed_many(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        per_clip = [windows(wave, WINDOW, WINDOW) for wave in waves]
        flat = [w.astype(np.float32) for parts in per_clip for w in parts]
        embeddings = np.asarray(self.module.get_audio_embedding_from_data(x=flat, use_tensor=False))
        ends = np.cumsum([len(parts) for parts in per_clip])
        return [embeddings[s:e] for s, e in zip(np.r_[0, ends[:-1]], ends, strict=True)]

    def weights_checksum(self) -> str:
        return self._checksum

    def settings(self) -> dict[str, Any]:
        return {
            **self._settings,
            "windowing": "10 s windows, 10 s hop, last aligned with the end; shorter: repeatpad",
            "normalisation": "int16 quantisation (the module's)",
        }


@register_joint("clap")
class ClapJoint(JointModel):
    """``checkpoint``: a LAION-CLAP ``.pt`` file; ``amodel``: its audio tower (HTSAT-tiny
    for the 630k checkpoints, HTSAT-base for the music ones); ``fusion`` for fusion ones."""

    name = "clap"

    def __init__(self, checkpoint: str | None = None, amodel: str = "HTSAT-tiny", fusion=False):
        if not checkpoint:
            raise ValueError("clap needs a local checkpoint file (--mcc-checkpoint)")
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"CLAP checkpoint {path} not found")
        try:
            import laion_clap
        except ImportError as e:
            raise ModuleNotFoundError(f"{INSTALL} ({e})") from None
        fusion = fusion in (True, "true", "1", "yes")
        where = str(device.current())
        self.module = laion_clap.CLAP_Module(enable_fusion=fusion, amodel=amodel, device=where)
        self.module.load_ckpt(str(path), verbose=False)
        settings = {"checkpoint": str(path), "amodel": amodel, "fusion": fusion}
        self.audio = ClapAudio(self.module, settings, checksum_files([path]))

    def text(self, captions: Sequence[str]) -> np.ndarray:
        return np.asarray(self.module.get_text_embedding(list(captions), use_tensor=False))

    def text_recipe(self) -> dict[str, Any]:
        return {
            "text_encoder": "roberta-base (the module's)",
            "max_tokens": 77,
            "weights_sha256": self.audio.weights_checksum(),
        }
