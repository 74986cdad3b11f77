"""VGGish and TRILL through TensorFlow Hub: a hub handle (with network) or a local path.

VGGish (``google/vggish/1``): 16 kHz mono float in [-1, 1] -> ``[frames, 128]``.
The default front-end is Google's 2019 FAD code: each clip divided by
``max(0.1, max(x))`` (positive peak, gain capped at 20 dB) and cut into 1 s windows with
a 0.5 s hop, one embedding per window (19 for 10 s). ``frontend="nonoverlapping"`` is the
PyTorch ports' variant: the whole clip through VGGish (0.96 s frames), no normalisation;
it gives 2-5 % different FADs, hence the recipe.

TRILL (``google/nonsemantic-speech-benchmark/trill/3``): ``module(samples=, sample_rate=)``
returns ``embedding`` (512-d) and ``layer19`` (12288-d); the paper does not say which
it used, so the output is a setting (default ``embedding``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.bench.embedders.base import Embedder, register
from musiccaps_kit.checksums import checksum_dir

VGGISH_HANDLE = "https://tfhub.dev/google/vggish/1"
TRILL_HANDLE = "https://tfhub.dev/google/nonsemantic-speech-benchmark/trill/3"
VGGISH_FRONTENDS = ("google2019", "nonoverlapping")
TRILL_OUTPUTS = ("embedding", "layer19")


def load_hub_model(handle: str):
    """``hub.load`` a handle or local SavedModel folder; return it and its local folder."""
    import tensorflow_hub as hub

    folder = handle if os.path.isdir(handle) else hub.resolve(handle)
    return hub.load(folder), Path(folder)


class _HubEmbedder(Embedder):
    rate = 16000

    def __init__(self, handle: str):
        self.handle = handle
        self.model, self.folder = load_hub_model(handle)
        self._checksum: str | None = None

    def weights_checksum(self) -> str:
        if self._checksum is None:
            self._checksum = checksum_dir(self.folder)
        return self._checksum

    def weights_name(self) -> str:
        return self.handle


@register("vggish")
class VGGish(_HubEmbedder):
    name = "vggish"

    def __init__(self, handle: str = VGGISH_HANDLE, frontend: str = "google2019"):
        if frontend not in VGGISH_FRONTENDS:
            raise ValueError(f"vggish frontend must be one of {VGGISH_FRONTENDS}")
        super().__init__(handle)
        self.frontend = frontend

    def embed(self, wave: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        if self.frontend == "nonoverlapping":
            return self.model(tf.constant(wave)).numpy()
        # Google 2019: positive-peak normalisation, gain capped at 20 dB.
        wave = wave / max(0.1, float(wave.max()))
        window, hop = self.rate, self.rate // 2
        starts = range(0, max(len(wave) - window, 0) + 1, hop)
        return np.concatenate(
            [self.model(tf.constant(wave[s : s + window])).numpy() for s in starts]
        )

    def settings(self) -> dict[str, Any]:
        if self.frontend == "google2019":
            windowing = "1 s windows, 0.5 s hop, one embedding each"
            normalisation = "x / max(0.1, max(x))"
        else:
            windowing = "non-overlapping 0.96 s frames"
            normalisation = "none"
        return {
            "handle": self.handle,
            "frontend": self.frontend,
            "windowing": windowing,
            "normalisation": normalisation,
        }


@register("trill")
class Trill(_HubEmbedder):
    name = "trill"

    def __init__(self, handle: str = TRILL_HANDLE, output: str = "embedding"):
        if output not in TRILL_OUTPUTS:
            raise ValueError(f"trill output must be one of {TRILL_OUTPUTS}")
        super().__init__(handle)
        self.output = output

    def embed(self, wave: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        result = self.model(samples=tf.constant(wave), sample_rate=self.rate)[self.output]
        frames = result.numpy()
        return frames.reshape(-1, frames.shape[-1])

    def settings(self) -> dict[str, Any]:
        return {
            "handle": self.handle,
            "output": self.output,
            "windowing": "the model's own framing",
            "normalisation": "none",
        }
