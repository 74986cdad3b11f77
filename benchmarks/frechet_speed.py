"""Fréchet distance at 128, 512 and 2048 dimensions: ours against the sqrtm formula.

python -m benchmarks.frechet_speed
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from musiccaps_kit.bench.metrics.frechet import (
    GaussianStats,
    frechet_distance,
    frechet_distance_sqrtm,
)


def timed(fn, *args, repeats: int = 3) -> tuple[float, float]:
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn(*args)
        times.append(time.perf_counter() - start)
    return value, statistics.median(times)


def frechet(dims: int) -> None:
    rng = np.random.default_rng(dims)
    mix = rng.standard_normal((dims, dims)) / np.sqrt(dims)
    a = GaussianStats.of(rng.standard_normal((4 * dims, dims)) @ mix)
    b = GaussianStats.of(rng.standard_normal((4 * dims, dims)) @ (1.2 * mix) + 0.1)
    args = (a.mean, a.cov, b.mean, b.cov)
    ours, t_ours = timed(frechet_distance, *args)
    ref, t_ref = timed(frechet_distance_sqrtm, *args, repeats=1 if dims > 1000 else 3)
    print(
        f"FD {dims:5d}-d: eigen {t_ours * 1e3:8.1f} ms, sqrtm {t_ref * 1e3:9.1f} ms, "
        f"speed-up {t_ref / t_ours:5.1f}x, relative difference {abs(ours - ref) / ref:.1e}"
    )


if __name__ == "__main__":
    for d in (128, 512, 2048):
        frechet(d)
