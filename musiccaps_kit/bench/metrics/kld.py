"""KLD: per id, the KL divergence of the reference clip's class distribution from the
generated clip's, averaged over ids. The convention is a setting recorded with the result:

* ``audiocraft``: AudioCraft's formula (``audiocraft/metrics/kld.py``): each window
  (AudioCraft's segment) gets p = softmax of its logits; per pair of windows,
  ``sum_c p_ref[c] * (log p_ref[c] - log(p_gen[c] + 1e-6))``
  (``torch.nn.functional.kl_div(log(pred + 1e-6), target)`` summed over classes, 0 log 0 =
  0); windows are paired in order (the first ``min(n_ref, n_gen)``) and a clip's value is
  their mean. The epsilon in the prediction alone makes a clip against itself read about
  -1e-6 per class, as in AudioCraft.
* ``softmax``: clip logits = mean of window logits, p = softmax, both distributions clamped
  at 1e-6 before the logs (a clip against itself is exactly 0).
* ``bernoulli``: clip logits = mean of window logits; each class is a yes/no event with
  p = sigmoid(logit) (multi-label taggers such as musicnn's, AudioSet classifiers); the
  KL of the two Bernoullis, averaged over classes, probabilities clamped to [1e-6, 1 -
  1e-6].
"""

from __future__ import annotations

import numpy as np

CONVENTIONS = ("bernoulli", "audiocraft", "softmax")
EPS = 1e-6


def clip_logits(window_logits: np.ndarray) -> np.ndarray:
    """One clip's logits: the mean over its windows (``[windows, classes]`` in)."""
    return np.asarray(window_logits, dtype=np.float64).mean(axis=0)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(logits, dtype=np.float64)))


def audiocraft_kl(target_probs: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """AudioCraft's ``kl_divergence(pred, target)``: per row, KL(target || pred + eps)."""
    target = np.asarray(target_probs, dtype=np.float64)
    safe = np.where(target > 0, target, 1.0)
    terms = np.where(target > 0, target * (np.log(safe) - np.log(pred_probs + EPS)), 0.0)
    return terms.sum(axis=-1)


def kl_divergence(ref_windows: np.ndarray, gen_windows: np.ndarray, convention: str) -> float:
    """The KL of one clip pair from their window logits (``[windows, classes]`` each)."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown KL convention {convention!r}: use one of {CONVENTIONS}")
    ref = np.atleast_2d(np.asarray(ref_windows, dtype=np.float64))
    gen = np.atleast_2d(np.asarray(gen_windows, dtype=np.float64))
    if convention == "audiocraft":
        n = min(len(ref), len(gen))
        return float(audiocraft_kl(softmax(ref[:n]), softmax(gen[:n])).mean())
    if convention == "softmax":
        p = np.clip(softmax(clip_logits(ref)), EPS, 1)
        q = np.clip(softmax(clip_logits(gen)), EPS, 1)
        return max(float(np.sum(p * (np.log(p) - np.log(q)))), 0.0)
    p = np.clip(_sigmoid(clip_logits(ref)), EPS, 1 - EPS)
    q = np.clip(_sigmoid(clip_logits(gen)), EPS, 1 - EPS)
    per_class = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    return max(float(per_class.mean()), 0.0)


def kld(
    reference: dict[str, np.ndarray], generated: dict[str, np.ndarray], convention: str
) -> dict[str, float]:
    """Per-id KL from window logits, over the ids both sides have."""
    return {
        clip_id: kl_divergence(reference[clip_id], generated[clip_id], convention)
        for clip_id in sorted(reference.keys() & generated.keys())
    }
