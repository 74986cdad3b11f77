"""The Fréchet distance's kernel against its floor, measured in the same run: one float64
``eigvalsh`` of the same size (the least any eigenvalue-based distance must do), and the
``scipy.linalg.sqrtm`` formula as the textbook reference.

    python -m benchmarks.frechet_speed
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from scipy import linalg

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
    _, t_floor = timed(lambda m: linalg.eigh(m, eigvals_only=True, check_finite=False), a.cov)
    ref, t_ref = timed(frechet_distance_sqrtm, *args, repeats=1 if dims > 1000 else 3)
    print(
        f"FD {dims:5d}-d: ours {t_ours * 1e3:8.1f} ms = {t_ours / t_floor:4.2f}x the floor "
        f"(one eigvalsh: {t_floor * 1e3:7.1f} ms); sqrtm {t_ref * 1e3:9.1f} ms "
        f"({t_ref / t_ours:5.1f}x slower); relative difference {abs(ours - ref) / ref:.1e}"
    )


def main() -> None:
    for dims in (128, 512, 2048):
        frechet(dims)


if __name__ == "__main__":
    main()
