"""MCC (MuLan cycle consistency): per id, the cosine between the text embedding of the
caption and the audio embedding of the generated clip; the metric is the mean over ids."""

from __future__ import annotations

import numpy as np


def clip_embedding(frames: np.ndarray) -> np.ndarray:
    """One clip's audio embedding: the mean of its window embeddings (MuLan's recipe)."""
    return np.asarray(frames, dtype=np.float64).mean(axis=0)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity in [-1, 1]; a zero vector is an error, not a NaN."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    if not norms > 0:
        raise ValueError("cosine of a zero vector is undefined")
    return float(np.clip(a @ b / norms, -1.0, 1.0))


def mcc(text: dict[str, np.ndarray], audio: dict[str, np.ndarray]) -> dict[str, float]:
    """Per-id cosine over the ids both sides have."""
    return {i: cosine(text[i], audio[i]) for i in sorted(text.keys() & audio.keys())}
