"""EnCodec embeddings as fadtk's ``encodec-emb`` (``fad_encodec``, ``kad_encodec``): the
SEANet encoder's output before the quantiser, ``[ceil(T / 320), 128]`` at 75 frames/s for
the 24 kHz model, on ``transformers.EncodecModel``.

``model`` is a hub id (default ``facebook/encodec_24khz``) or a ``save_pretrained`` folder.
As in fadtk, audio longer than 3 minutes is cut to its first 3 minutes, and the 24 kHz model
encodes a clip in one pass (no segments). kadtk 1.1.0's EnCodec loader further averages the
frames over 1 s; fadtk's does not, and this follows fadtk's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from musiccaps_kit.bench.embedders.base import Embedder, register
from musiccaps_kit.bench.embedders.hf_models import resolve

DEFAULT_MODEL = "facebook/encodec_24khz"
MAX_SECONDS = 180  # fadtk: "If it's longer than 3 minutes, cut it"


@register("encodec")
class Encodec(Embedder):
    name = "encodec"

    def __init__(self, model: str = DEFAULT_MODEL):
        found = resolve(str(model), "encodec", "--encodec-model")
        channels = found.config.get("audio_channels", 1)
        if channels != 1:
            raise ValueError(
                f"--encodec-model {model}: a {channels}-channel model; fadtk's encodec-emb "
                "is the mono 24 kHz model"
            )
        self.spec, self.folder, self._checksum = str(model), found.folder, found.checksum
        self.rate = int(found.config.get("sampling_rate", 24000))
        self._model = None

    @property
    def model(self):
        if self._model is None:
            from transformers import EncodecModel

            self._model = EncodecModel.from_pretrained(self.folder).eval()
        return self._model

    def embed(self, wave: np.ndarray) -> np.ndarray:
        """One clip per forward pass: batched convolutions round differently with the batch
        size, and a clip's frames must not depend on the clips beside it."""
        import torch

        cut = np.asarray(wave[: MAX_SECONDS * self.rate], dtype=np.float32)
        with torch.no_grad():
            return self.model.encoder(torch.from_numpy(cut)[None, None])[0].T.numpy()

    def weights_checksum(self) -> str:
        return self._checksum

    def settings(self) -> dict[str, Any]:
        return {
            "model": self.spec,
            "protocol": "fadtk 1.1.0 encodec-emb",
            "output": "SEANet encoder output before the quantiser, [ceil(T / 320), 128]",
            "windowing": f"whole clip in one pass, cut to its first {MAX_SECONDS} s",
            "normalisation": "none",
        }
