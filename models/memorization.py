"""Memorisation analysis of the semantic stage (paper Sec. 4.4 and 5, Fig. 3).

* Exact matches: prompt = MuLan tokens M_A + the first T semantic tokens of a clip; greedy
  decoding of ``continuation`` tokens (paper: 125, 5 s); a match when all of them equal the
  clip's own next tokens. Reported per T as the exact-match rate and mean token accuracy.
* Approximate matches: the generated and the true continuation as histograms over the
  semantic vocabulary; the cost between two tokens is the Euclidean distance between their
  k-means centroids; optimal transport by Sinkhorn (POT, log domain) on the rows and
  columns with non-zero counts. A match when the distance is under tau, calibrated on
  negative pairs (a generated continuation against another clip's) so that at most
  ``false_positive_rate`` of them fall under it (paper: 1e-4, tau 0.85).
* Token entropy (bits) of the generated continuations, for matches and for all.

Run on training clips and, as the control, on held-out clips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from musiccaps_kit.models.stage import generate


class SinkhornError(ValueError):
    """Sinkhorn did not converge, or returned a distance that cannot be right."""


def entropy_bits(tokens: np.ndarray) -> float:
    counts = np.bincount(np.asarray(tokens).ravel())
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def sinkhorn_distance(
    a_tokens: np.ndarray,
    b_tokens: np.ndarray,
    centroids: np.ndarray,
    reg: float = 0.05,
    max_iterations: int = 10000,
) -> float:
    """Entropic OT cost between two token sequences' histograms under centroid distances.

    Restricted to the tokens that occur; costs are divided by their largest value before
    Sinkhorn so that ``reg`` is relative, and the cost is reported in centroid units.
    Identical histograms are 0 by definition; otherwise a non-converged or near-zero
    result raises ``SinkhornError`` instead of passing for a match.
    """
    import ot

    ids_a, counts_a = np.unique(a_tokens, return_counts=True)
    ids_b, counts_b = np.unique(b_tokens, return_counts=True)
    if np.array_equal(ids_a, ids_b) and np.array_equal(counts_a, counts_b):
        return 0.0
    cost = ot.dist(centroids[ids_a], centroids[ids_b], metric="euclidean")
    scale = cost.max()
    if scale <= 0:
        return 0.0
    p, q = counts_a / counts_a.sum(), counts_b / counts_b.sum()
    plan, log = ot.sinkhorn(
        p,
        q,
        cost / scale,
        reg,
        method="sinkhorn_log",
        numItermax=max_iterations,
        stopThr=1e-9,
        log=True,
    )
    if log["err"] and log["err"][-1] > 1e-4:  # marginal violation (histograms sum to 1)
        raise SinkhornError(f"Sinkhorn did not converge (error {log['err'][-1]:.2g})")
    value = float((plan * cost).sum())
    exact = float(ot.emd2(p, q, cost))
    if value < 1e-9 < exact:
        raise SinkhornError("Sinkhorn returned ~0 for different histograms")
    return value


@dataclass(frozen=True)
class MemorizationSettings:
    prompt_seconds: tuple[float, ...] = (0, 1, 2, 3, 4, 5)
    continuation: int = 125
    false_positive_rate: float = 1e-4
    reg: float = 0.05
    seed: int = 0


def _continuations(model, vocab, clips, t: int, length: int) -> tuple[list, list]:
    """Greedy continuations and the true ones, for clips long enough."""
    made, truth = [], []
    for m, s, *melody in clips:
        if t + length > len(s):
            continue
        conditioning = [vocab.mulan(m)] + [vocab.melody_ids(x) for x in melody if x is not None]
        prompt = np.concatenate([*conditioning, vocab.semantic_ids(s[:t])])
        out = generate(
            model,
            torch.from_numpy(prompt).long()[None],
            length,
            vocab.ranges("semantic"),
            temperature=0.0,
        )
        made.append(out[0].numpy() - vocab.semantic_offset)
        truth.append(np.asarray(s[t : t + length]))
    return made, truth


def analyse(
    model,
    vocab,
    centroids: np.ndarray,
    clips: list[tuple[np.ndarray, np.ndarray]],
    settings: MemorizationSettings,
    tau: float | None = None,
) -> dict[str, Any]:
    """Exact and approximate matches for ``clips`` ([(M_A tokens, semantic tokens[, melody
    tokens])]);
    ``tau`` is calibrated on these clips' negatives unless given (the control reuses the
    training clips' tau)."""
    rng = np.random.default_rng(settings.seed)
    rows, negatives_all = [], []
    for seconds in settings.prompt_seconds:
        t = round(seconds * 25)
        made, truth = _continuations(model, vocab, clips, t, settings.continuation)
        if not made:
            continue
        accuracy = [float(np.mean(g == r)) for g, r in zip(made, truth, strict=True)]
        exact = [g.tolist() == r.tolist() for g, r in zip(made, truth, strict=True)]
        positives = [
            sinkhorn_distance(g, r, centroids, settings.reg)
            for g, r in zip(made, truth, strict=True)
        ]
        negatives = []
        if len(made) > 1:
            for i, g in enumerate(made):
                for j in rng.permutation(len(truth))[: min(len(truth) - 1, 20)]:
                    if j != i:
                        negatives.append(sinkhorn_distance(g, truth[j], centroids, settings.reg))
        negatives_all += negatives
        rows.append(
            {
                "prompt_seconds": seconds,
                "clips": len(made),
                "exact_match_rate": float(np.mean(exact)),
                "mean_token_accuracy": float(np.mean(accuracy)),
                "positive_distances": positives,
                "exact": exact,
                "entropy_bits": [entropy_bits(g) for g in made],
            }
        )
    calibrated, resolution = calibrate_tau(np.array(negatives_all), settings.false_positive_rate)
    tau = calibrated if tau is None else tau
    for row in rows:
        matched = [d <= tau for d in row.pop("positive_distances")]
        row["approximate_match_rate"] = float(np.mean(matched))
        entropies = row.pop("entropy_bits")
        row["entropy_bits_all"] = float(np.mean(entropies))
        chosen = [e for e, hit in zip(entropies, matched, strict=True) if hit]
        row["entropy_bits_matched"] = float(np.mean(chosen)) if chosen else None
        row.pop("exact")
    return {
        "rows": rows,
        "tau": tau,
        "negatives": len(negatives_all),
        "false_positive_rate": settings.false_positive_rate,
        "false_positive_resolution": resolution,
        "settings": {
            "continuation_tokens": settings.continuation,
            "decoding": "greedy",
            "cost": "Euclidean distance between semantic k-means centroids",
            "ot": f"POT sinkhorn_log, reg {settings.reg} x max cost, non-zero bins only",
        },
    }


def calibrate_tau(negatives: np.ndarray, rate: float) -> tuple[float, float]:
    """The largest tau with at most ``rate`` of the negatives under or at it, and the
    finest rate these negatives can resolve (1 / their count). With too few negatives for
    ``rate``, tau sits just under the smallest negative distance."""
    if not len(negatives):
        return 0.0, 1.0
    ordered = np.sort(negatives)
    allowed = int(np.floor(rate * len(ordered)))
    tau = float(ordered[allowed] * (1 - 1e-9)) if allowed < len(ordered) else float(ordered[-1])
    return tau, 1.0 / len(ordered)
