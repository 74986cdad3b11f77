"""A LEAF AudioSet classifier (``leaf_network``) as an embedder, from a checkpoint path.

MusicLM's KLD classifier; no AudioSet weights for it are public, so ``checkpoint`` is
required: a file written by ``leaf_network.save_checkpoint`` (a model a user trained).
Each clip is cut into ``window_s`` windows with a ``hop_s`` hop, the last one aligned
with the clip's end (a clip shorter than one window is one window); each window gives
the pooled CNN features (``embedding``, for FAD) or the 527 AudioSet ``logits`` (KLD).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.audio import windows
from musiccaps_kit.bench import device
from musiccaps_kit.bench.embedders.base import Embedder, register
from musiccaps_kit.checksums import checksum_files

OUTPUTS = ("embedding", "logits")


@register("leaf")
class LeafEmbedder(Embedder):
    name = "leaf"
    rate = 16000

    def __init__(
        self,
        checkpoint: str | None = None,
        output: str = "embedding",
        window_s: float = 10.0,
        hop_s: float = 10.0,
    ):
        from musiccaps_kit.bench.embedders.leaf_network import load_checkpoint

        if not checkpoint:
            raise ValueError(
                "leaf needs a checkpoint path (--leaf-checkpoint): no LEAF AudioSet "
                "weights are public; train one with musiccaps_kit.bench.embedders.leaf_network "
                "and save_checkpoint"
            )
        if output not in OUTPUTS:
            raise ValueError(f"leaf output must be one of {OUTPUTS}")
        if not 0 < hop_s <= window_s:
            raise ValueError("leaf windows need 0 < hop_s <= window_s")
        import torch

        self.checkpoint = Path(checkpoint)
        net, self.classes = load_checkpoint(self.checkpoint)
        self.net = device.place(net)
        self.output, self.window_s, self.hop_s = output, window_s, hop_s
        self._torch = torch
        self._checksum = checksum_files([self.checkpoint])

    def embed(self, wave: np.ndarray) -> np.ndarray:
        size, hop = round(self.window_s * self.rate), round(self.hop_s * self.rate)
        batch = device.to_device(np.stack(windows(wave, size, hop)))
        with self._torch.inference_mode():
            features, logits = self.net(batch)
        return (logits if self.output == "logits" else features).cpu().numpy()

    def weights_checksum(self) -> str:
        return self._checksum

    def weights_name(self) -> str:
        return str(self.checkpoint)

    def settings(self) -> dict[str, Any]:
        return {
            "checkpoint": str(self.checkpoint),
            "output": self.output,
            "classes": len(self.classes),
            "windowing": f"{self.window_s:g} s windows, {self.hop_s:g} s hop",
            "normalisation": "none (sPCEN in the model)",
        }
