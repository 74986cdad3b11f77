"""The Fréchet distance's kernel against its floor, measured in the same run: one float64
``eigvalsh`` of the same size (the least any eigenvalue-based distance must do), and the
``scipy.linalg.sqrtm`` formula as the textbook reference. Where a CUDA device is present
it also times the same kernel with torch's float64 solvers on the GPU (a Cholesky of
cov_b, then the eigenvalues of L^T cov_a L), against one GPU ``eigvalsh``, and a batch of
bootstrap-sized problems solved at once.

    python -m benchmarks.frechet_speed [--dims 128 512 2048]
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
    trace_sqrt_product,
)


def timed(fn, *args, repeats: int = 3, sync=lambda: None) -> tuple[float, float]:
    """The last value and the median time of ``repeats`` calls (``sync`` waits for a device
    after each call)."""
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn(*args)
        sync()
        times.append(time.perf_counter() - start)
    return value, statistics.median(times)


def two_sets(dims: int) -> tuple[GaussianStats, GaussianStats]:
    """Statistics of two correlated Gaussian sets, 4 frames per dimension each."""
    rng = np.random.default_rng(dims)
    mix = rng.standard_normal((dims, dims)) / np.sqrt(dims)
    a = GaussianStats.of(rng.standard_normal((4 * dims, dims)) @ mix)
    b = GaussianStats.of(rng.standard_normal((4 * dims, dims)) @ (1.2 * mix) + 0.1)
    return a, b


def frechet(dims: int) -> None:
    a, b = two_sets(dims)
    args = (a.mean, a.cov, b.mean, b.cov)
    ours, t_ours = timed(frechet_distance, *args)
    _, t_floor = timed(lambda m: linalg.eigh(m, eigvals_only=True, check_finite=False), a.cov)
    ref, t_ref = timed(frechet_distance_sqrtm, *args, repeats=1 if dims > 1000 else 3)
    print(
        f"FD {dims:5d}-d: ours {t_ours * 1e3:8.1f} ms = {t_ours / t_floor:4.2f}x the floor "
        f"(one eigvalsh: {t_floor * 1e3:7.1f} ms); sqrtm {t_ref * 1e3:9.1f} ms "
        f"({t_ref / t_ours:5.1f}x slower); relative difference {abs(ours - ref) / ref:.1e}"
    )


def gpu_trace_sqrt_product(cov_a, cov_b):
    """Tr((cov_a cov_b)^(1/2)) on torch tensors (float64): the generalised problem of
    ``trace_sqrt_product`` reduced by hand, for a batch too (leading dimensions)."""
    import torch

    lower = torch.linalg.cholesky(cov_b)
    inner = lower.mT @ cov_a @ lower
    return torch.linalg.eigvalsh(inner).clamp(min=0).sqrt().sum(-1)


def gpu_frechet(dims: int, batch: int) -> None:
    import torch

    def cuda_timed(fn, *args, repeats: int = 3):
        fn(*args)
        return timed(fn, *args, repeats=repeats, sync=torch.cuda.synchronize)

    a, b = two_sets(dims)
    cpu_value, t_cpu = timed(trace_sqrt_product, a.cov, b.cov)
    cov_a = torch.from_numpy(a.cov).cuda()
    cov_b = torch.from_numpy(b.cov).cuda()
    value, t_gpu = cuda_timed(gpu_trace_sqrt_product, cov_a, cov_b)
    _, t_floor = cuda_timed(torch.linalg.eigvalsh, cov_a)
    stack_a, stack_b = cov_a.expand(batch, -1, -1).clone(), cov_b.expand(batch, -1, -1).clone()
    _, t_batch = cuda_timed(gpu_trace_sqrt_product, stack_a, stack_b, repeats=1)
    print(
        f"GPU {dims:5d}-d: {t_gpu * 1e3:7.1f} ms = {t_gpu / t_floor:4.2f}x one GPU eigvalsh "
        f"({t_floor * 1e3:6.1f} ms), CPU kernel {t_cpu * 1e3:8.1f} ms; relative difference "
        f"{abs(float(value) - cpu_value) / cpu_value:.1e}; a batch of {batch}: "
        f"{t_batch / batch * 1e3:7.2f} ms each ({t_cpu * batch / t_batch:5.1f}x the CPU kernel)"
    )


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.frechet_speed", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--dims", type=int, nargs="+", default=[128, 512, 2048])
    args = parser.parse_args(argv)
    for dims in args.dims:
        frechet(dims)
    import torch

    if torch.cuda.is_available():
        print(f"on {torch.cuda.get_device_name()}:")
        for dims, batch in ((128, 200), (512, 200), (2048, 20)):
            if dims in args.dims:
                gpu_frechet(dims, batch)


if __name__ == "__main__":
    main()
