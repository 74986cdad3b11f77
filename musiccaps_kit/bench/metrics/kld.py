"""KLD: per id, KL(p_ref || p_gen) between a classifier's class distributions on the
reference clip and the generated clip, averaged over ids.

The convention is a setting recorded with the result:
* ``softmax`` (AudioCraft): clip logits = mean of window logits; p = softmax(logits);
  probabilities clamped at ``eps`` = 1e-6 before the logs.
* ``bernoulli``: each class is a yes/no event with p = sigmoid(logit) (multi-label
  taggers, AudioSet classifiers); the KL of the two Bernoullis, averaged over classes.
"""

from __future__ import annotations

import numpy as np

CONVENTIONS = ("softmax", "bernoulli")
EPS = 1e-6


def clip_logits(window_logits: np.ndarray) -> np.ndarray:
    """One clip's logits: the mean over its windows (``[windows, classes]`` in)."""
    return np.asarray(window_logits, dtype=np.float64).mean(axis=0)


def kl_divergence(ref_logits: np.ndarray, gen_logits: np.ndarray, convention: str) -> float:
    """KL(p_ref || p_gen) for one clip pair under ``convention``; always >= 0."""
    if convention == "softmax":
        p = _softmax(ref_logits)
        q = _softmax(gen_logits)
        p, q = np.clip(p, EPS, 1), np.clip(q, EPS, 1)
        return max(float(np.sum(p * (np.log(p) - np.log(q)))), 0.0)
    if convention == "bernoulli":
        p = np.clip(_sigmoid(ref_logits), EPS, 1 - EPS)
        q = np.clip(_sigmoid(gen_logits), EPS, 1 - EPS)
        per_class = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
        return max(float(per_class.mean()), 0.0)
    raise ValueError(f"unknown KL convention {convention!r}: use one of {CONVENTIONS}")


def kld(
    reference: dict[str, np.ndarray], generated: dict[str, np.ndarray], convention: str
) -> dict[str, float]:
    """Per-id KL over the ids both sides have (pairing and its report happen upstream)."""
    return {
        clip_id: kl_divergence(reference[clip_id], generated[clip_id], convention)
        for clip_id in sorted(reference.keys() & generated.keys())
    }


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max()
    e = np.exp(z)
    return e / e.sum()


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(logits, dtype=np.float64)))
