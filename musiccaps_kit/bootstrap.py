"""One seeded bootstrap for every interval the toolkit reports (FAD, KLD, MCC, the
listening study's Bradley-Terry strengths).

The interval is the *basic* bootstrap interval with the bootstrap distribution re-centred
on its median: ``[estimate - (q_hi - median), estimate + (median - q_lo)]``, where q_lo and
q_hi are the draws' ``(1 - confidence) / 2`` quantiles. It has the spread of the usual
percentile interval but is placed around the estimate, so it always contains it: a
statistic whose bootstrap draws are biased (FAD, computed on sets with repeated clips,
reads high) no longer yields an interval that excludes its own estimate. The benchmark
``benchmarks/interval_coverage.py`` measures its coverage.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

METHOD = "basic bootstrap re-centred on the median of the draws (contains the estimate)"


def bootstrap_interval(
    estimate: float | np.ndarray,
    statistic: Callable[..., float | np.ndarray],
    sizes: int | tuple[int, ...],
    rounds: int,
    confidence: float = 0.95,
    seed: int = 0,
    floor: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``confidence`` interval of ``statistic`` around ``estimate``.

    Each of ``rounds`` draws picks, for every size in ``sizes``, that many indices with
    replacement (numpy's default generator seeded with ``seed``) and calls
    ``statistic(*indices)``: one size for paired resampling (the same ids on both sides),
    two for independent sets. ``statistic`` may return an array (one interval per
    element). ``floor`` clamps the low end for statistics that cannot go below it.
    """
    sizes = (sizes,) if isinstance(sizes, int) else tuple(sizes)
    rng = np.random.default_rng(seed)
    draws = np.asarray(
        [statistic(*(rng.integers(0, n, n) for n in sizes)) for _ in range(rounds)],
        dtype=np.float64,
    )
    tail = (1 - confidence) / 2
    low_q, median, high_q = np.quantile(draws, [tail, 0.5, 1 - tail], axis=0)
    low = estimate - (high_q - median)
    high = estimate + (median - low_q)
    if floor is not None:
        low = np.maximum(low, floor)
    return low, high
