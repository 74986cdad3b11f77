"""KAD's time and peak memory at 10k and 50k frames of 512-d (a reference and a system of
that many frames each), against a floor measured in the same run: one float64 matrix
product of the same size (reference x system^T, in the same row blocks, each summed away,
since 50k x 50k float64 would need 20 GB). kadtk holds the full (m + n)^2 float32 kernel
matrices: the memory it would need is printed beside ours.

Each size runs in a fresh process, so its peak resident memory is its own. ``--device``
runs both (KAD and the floor) on a GPU (``cuda``, ``cuda:N``; ``auto`` when one is there),
the peak device memory then printed beside the host's.

    python -m benchmarks.kad_speed [--frames 10000 50000] [--dims 512] [--device cpu]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time

import numpy as np


def _sets(frames: int, dims: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((frames, dims)).astype(np.float32)
    y = (rng.standard_normal((frames, dims)) * 1.1 + 0.1).astype(np.float32)
    return x, y


def floor_product(frames: int, dims: int) -> float:
    """Seconds for x @ y.T in float64, 4,096 rows at a time, on the selected device."""
    import torch

    from musiccaps_kit.bench import device
    from musiccaps_kit.bench.metrics.kad import BLOCK

    x, y = (torch.from_numpy(a).double().to(device.current()) for a in _sets(frames, dims))
    start = time.perf_counter()
    total = 0.0
    for s in range(0, frames, BLOCK):
        total += float((x[s : s + BLOCK] @ y.T).sum())
    return time.perf_counter() - start


def kad_time(frames: int, dims: int) -> tuple[float, float, float]:
    """Seconds for the bandwidth (median), for the whole KAD, and the KAD."""
    from musiccaps_kit.bench.metrics.kad import kad, median_pairwise_distance

    x, y = _sets(frames, dims)
    start = time.perf_counter()
    bandwidth = median_pairwise_distance(y)
    median_s = time.perf_counter() - start
    value = kad(x, y, bandwidth)
    return median_s, time.perf_counter() - start, value


def _child(kind: str, frames: int, dims: int, spec: str, queue) -> None:
    import torch

    from musiccaps_kit.bench import device

    on = device.select(spec)
    result = floor_product(frames, dims) if kind == "floor" else kad_time(frames, dims)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    gpu = torch.cuda.max_memory_allocated(on) / 2**20 if on.type == "cuda" else None
    queue.put((result, peak_kib / 1024, gpu))


def isolated(kind: str, frames: int, dims: int, spec: str):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(kind, frames, dims, spec, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main(sizes: list[int], dims: int, spec: str) -> None:
    import torch

    from musiccaps_kit.bench import device

    print(f"KAD on {dims}-d frames on {device.resolve(spec)}, {torch.get_num_threads()} threads")
    for frames in sizes:
        floor_s, floor_mib, _ = isolated("floor", frames, dims, spec)
        (median_s, kad_s, value), kad_mib, gpu_mib = isolated("kad", frames, dims, spec)
        full_gib = 3 * (2 * frames) ** 2 * 4 / 2**30  # kadtk: d2 and kernel, (m + n)^2 float32
        on_gpu = f", device peak {gpu_mib:.0f} MiB" if gpu_mib is not None else ""
        print(
            f"{frames:6d} frames each side: KAD {kad_s:6.1f} s (bandwidth {median_s:.1f} s) = "
            f"{kad_s / floor_s:.1f}x one float64 product of the same size ({floor_s:.1f} s); "
            f"peak memory {kad_mib:.0f} MiB{on_gpu} (the product's process {floor_mib:.0f} MiB; "
            f"kadtk's full matrices about {full_gib:.0f} GiB); KAD = {value:.4f}"
        )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.kad_speed", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--frames", type=int, nargs="+", default=[10000, 50000])
    parser.add_argument("--dims", type=int, default=512)
    parser.add_argument("--device", default="cpu", help="cpu, auto, cuda or cuda:N")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse()
    main(args.frames, args.dims, args.device)
