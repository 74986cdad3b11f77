"""Scores extrapolated to infinitely many frames: fadtk's FAD-inf and kadtk's KAD-inf.

Both tools fit score = value + slope / n over draws of n evaluated frames and report the
intercept (``score_inf`` in ``fadtk/fad.py`` and ``kadtk/kad.py``, 1.1.0): FAD is biased
by sample size, and the fit removes the bias; KAD is unbiased, and its slope shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Extrapolation:
    """A score extrapolated to infinitely many frames (fadtk's FAD-inf, kadtk's KAD-inf):
    the intercept of a least-squares line through (1 / n, score at n)."""

    value: float
    slope: float
    r2: float
    points: tuple[tuple[int, float], ...]

    def as_dict(self) -> dict:
        return {"value": self.value, "slope": self.slope, "r2": self.r2}


def extrapolate(
    score_draws: Callable[[np.ndarray, list[np.ndarray]], list[float]],
    frames: np.ndarray,
    steps: int = 25,
    min_n: int = 500,
    seed: int = 0,
) -> Extrapolation:
    """fadtk's and kadtk's ``score_inf``: for each of ``steps`` sizes
    ``int(np.linspace(min_n, len(frames), steps))`` a draw of that many frames with
    replacement is scored (``score_draws(frames, index arrays)`` scores them all, so a
    metric may share work between draws), then score = value + slope / n is fitted. The
    tools draw from NumPy's global state; here from a generator seeded with ``seed``. With
    fewer than ``min_n`` frames the sizes run downwards from ``min_n``, as in both tools."""
    rng = np.random.default_rng(seed)
    sizes = [int(n) for n in np.linspace(min_n, len(frames), steps)]
    draws = [rng.choice(len(frames), size=n, replace=True) for n in sizes]
    scores = [float(v) for v in score_draws(frames, draws)]
    xs = 1 / np.asarray(sizes, dtype=np.float64)
    ys = np.asarray(scores)
    slope, intercept = np.polyfit(xs, ys, 1)
    spread = np.sum((ys - ys.mean()) ** 2)
    r2 = 1 - np.sum((ys - (slope * xs + intercept)) ** 2) / spread if spread > 0 else 1.0
    return Extrapolation(
        float(intercept), float(slope), float(r2), tuple(zip(sizes, scores, strict=True))
    )
