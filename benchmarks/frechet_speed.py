"""Fréchet distance at 128, 512 and 2048 dimensions: ours against the sqrtm formula,
and embedding throughput (times real time) of the offline embedders on CPU.

    python -m benchmarks.frechet_speed
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import soundfile as sf

from musiccaps_kit.embedders import make_embedder
from musiccaps_kit.metrics.frechet import GaussianStats, frechet_distance, frechet_distance_sqrtm
from musiccaps_kit.resources import DEMO_AUDIO_DIR


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


def throughput(name: str, **options) -> None:
    embedder = make_embedder(name, **options)
    waves = []
    for path in sorted(DEMO_AUDIO_DIR.glob("*.flac"))[:8]:
        wave, rate = sf.read(path, dtype="float32")
        waves.append((wave[: 10 * rate], rate))
    embedder(*waves[0])  # warm-up
    start = time.perf_counter()
    for wave, rate in waves:
        embedder(wave, rate)
    elapsed = time.perf_counter() - start
    print(f"{name} {options}: {len(waves) * 10 / elapsed:6.1f}x real time on CPU")


if __name__ == "__main__":
    for d in (128, 512, 2048):
        frechet(d)
    throughput("musicnn", output="penultimate")
