"""One seeded percentile bootstrap for every interval the toolkit reports (FAD, KLD, MCC,
the listening study's Bradley-Terry strengths)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def percentile_interval(
    statistic: Callable[[np.ndarray], float | np.ndarray],
    n: int,
    rounds: int,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``confidence`` percentile interval of ``statistic`` over ``rounds`` draws of ``n``
    indices with replacement (numpy's default generator seeded with ``seed``).

    ``statistic`` takes the drawn indices and returns a number or an array (one interval
    per element).
    """
    rng = np.random.default_rng(seed)
    draws = np.asarray([statistic(rng.integers(0, n, n)) for _ in range(rounds)])
    tail = (1 - confidence) / 2
    low, high = np.quantile(draws, [tail, 1 - tail], axis=0)
    return low, high
