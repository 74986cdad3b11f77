"""EnCodec embeddings as fadtk's ``encodec-emb`` (``fad_encodec``, ``kad_encodec``): the
SEANet encoder's output before the quantiser, ``[ceil(T / 320), 128]`` at 75 frames/s for
the 24 kHz model, on ``transformers.EncodecModel``.

``model`` is a hub id (default ``facebook/encodec_24khz``) or a ``save_pretrained`` folder.
As in fadtk, audio longer than 3 minutes is cut to its first 3 minutes, and the 24 kHz model
encodes a clip in one pass (no segments). ``pooling="kadtk"`` gives kadtk 1.1.0's frames
instead (``EncodecEmbModel._get_frame`` -> ``postprocess_resoultion``): the encoder frames
averaged over 1 s, ``stride = int(frames / (samples / rate))``, ``frames.unfold(0, stride,
stride).mean(-1)``, the remainder dropped (10 s: 10 frames; 7.3 s: 7).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from musiccaps_kit.bench import device
from musiccaps_kit.bench.audio_paths import FADTK
from musiccaps_kit.bench.embedders.base import Embedder, register
from musiccaps_kit.bench.embedders.hf_models import resolve

DEFAULT_MODEL = "facebook/encodec_24khz"
MAX_SECONDS = 180  # fadtk: "If it's longer than 3 minutes, cut it"
POOLINGS = ("none", "kadtk")


def kadtk_pooled(frames: np.ndarray, samples: int, rate: int) -> np.ndarray:
    """kadtk's ``postprocess_resoultion(audio, emb, pooling_resolution_sec=1)`` on
    ``[frames, dims]`` encoder output for ``samples`` of audio at ``rate``."""
    import torch

    stride = int(frames.shape[0] / (samples / rate / 1))
    if not 0 < stride <= frames.shape[0]:
        raise ValueError(
            f"{samples / rate:.2f} s of audio is shorter than kadtk's 1 s pooling window "
            "(kadtk fails on it too)"
        )
    emb = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))
    return emb.unfold(0, stride, stride).mean(-1).numpy()


@register("encodec")
class Encodec(Embedder):
    name = "encodec"
    audio_path = FADTK

    def __init__(self, model: str = DEFAULT_MODEL, pooling: str = "none"):
        if pooling not in POOLINGS:
            raise ValueError(f"encodec pooling {pooling!r}: one of {', '.join(POOLINGS)}")
        self.pooling = pooling
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

            self._model = device.place(EncodecModel.from_pretrained(self.folder))
        return self._model

    def embed(self, wave: np.ndarray) -> np.ndarray:
        return self.embed_many([wave])[0]

    def embed_many(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """On the CPU one clip per forward pass (batched convolutions round differently with
        the batch size, and a clip's frames must not depend on the clips beside it); on a GPU
        clips of one length go through together."""
        import torch

        cuts = [np.asarray(w[: MAX_SECONDS * self.rate], dtype=np.float32) for w in waves]
        groups: dict[int, list[int]] = {}
        for i, cut in enumerate(cuts):
            groups.setdefault(len(cut) if device.current().type == "cuda" else -1 - i, []).append(i)
        out: dict[int, np.ndarray] = {}
        for members in groups.values():
            batch = device.to_device(np.stack([cuts[i] for i in members])[:, None])
            with torch.inference_mode():
                encoded = self.model.encoder(batch).float().cpu().numpy()
            for k, i in enumerate(members):
                frames = encoded[k].T
                out[i] = (
                    kadtk_pooled(frames, len(cuts[i]), self.rate)
                    if self.pooling == "kadtk"
                    else frames
                )
        return [out[i] for i in range(len(cuts))]

    def weights_checksum(self) -> str:
        return self._checksum

    def weights_name(self) -> str:
        return self.spec

    def settings(self) -> dict[str, Any]:
        kadtk = self.pooling == "kadtk"
        return {
            "model": self.spec,
            "protocol": f"{'kadtk' if kadtk else 'fadtk'} 1.1.0 encodec-emb",
            "output": "SEANet encoder output before the quantiser, [ceil(T / 320), 128]",
            "windowing": f"whole clip in one pass, cut to its first {MAX_SECONDS} s",
            "pooling": "kadtk postprocess_resoultion: mean over 1 s, stride = int(frames / "
            "seconds), remainder dropped"
            if kadtk
            else "none (75 frames/s)",
            "normalisation": "none",
        }
