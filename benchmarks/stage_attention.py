"""The stages' attention paths side by side in one run: the dense ``[heads, T, T]`` bias
passed to ``scaled_dot_product_attention`` (the old path) against the bias computed inside
a compiled ``flex_attention`` (the new path), forward time and peak resident memory at
several lengths, each in a fresh process; then eager against compiled training steps of
the tiny stages preset. On a CPU flex runs forward only (torch has no flex backward on
CPU); on CUDA both directions.

    python -m benchmarks.stage_attention [--lengths 1024 2048 4096] [--dim 256 --heads 8]
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import time


def _peak_kib() -> int:
    return int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read()).group(1))


def _forward(mode: str, length: int, dim: int, heads: int, layers: int, queue) -> None:
    import torch

    from musiccaps_kit.models.stage import StageConfig, StageTransformer

    torch.manual_seed(0)
    config = StageConfig(vocab=1024, dim=dim, layers=layers, heads=heads, ff=4 * dim, dropout=0)
    model = StageTransformer(config, attention=mode).eval()
    tokens = torch.randint(0, 1024, (1, length))
    with torch.no_grad():
        model(tokens)  # warm-up: flex compiles its kernel for this length
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # peak resident size from here
        before = _peak_kib()
        start = time.perf_counter()
        for _ in range(3):
            model(tokens)
        seconds = (time.perf_counter() - start) / 3
    queue.put((seconds, (_peak_kib() - before) / 1024))


def forward(mode: str, length: int, dim: int, heads: int, layers: int) -> tuple[float, float]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_forward, args=(mode, length, dim, heads, layers, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def training_steps(steps: int = 3) -> None:
    """Eager against compiled steps of the tiny stages on synthetic tokens (the first
    compiled step pays the compilation)."""
    import torch

    from benchmarks.gpu_check import synthetic_tokens
    from musiccaps_kit.models.tokens import Vocabulary
    from musiccaps_kit.models.training.loop import draw_batch, load_preset
    from musiccaps_kit.models.training.tasks import make_task

    config = load_preset("stages", "tiny")
    bank = synthetic_tokens(16, 10.0, Vocabulary(12, 64, 512, 8, 256, 4))
    for compiled in (False, True):
        train = {**config["train"], "compile": compiled}
        torch.manual_seed(0)
        task = make_task("stages", config["model"], train, torch.device("cpu"), 1)
        task.prepare(bank)
        times = []
        for step in range(steps + 1):
            batch = draw_batch(task, bank, train, step)
            start = time.perf_counter()
            task.train_step(batch, step)
            times.append(time.perf_counter() - start)
        print(
            f"tiny stages, {'compiled' if compiled else 'eager':8s}: first step {times[0]:6.2f} s, "
            f"then {sum(times[1:]) / steps * 1e3:7.1f} ms a step"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.stage_attention", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--no-training", action="store_true", help="skip the training steps")
    args = parser.parse_args(argv)
    print(f"stage transformer dim {args.dim} x {args.layers} layers, {args.heads} heads, batch 1")
    for length in args.lengths:
        dense_s, dense_mib = forward("dense", length, args.dim, args.heads, args.layers)
        flex_s, flex_mib = forward("flex", length, args.dim, args.heads, args.layers)
        bias_mib = args.heads * length * length * 4 / 2**20
        print(
            f"T {length:5d}: dense bias {dense_s * 1e3:8.1f} ms, peak +{dense_mib:6.0f} MiB "
            f"(the bias alone {bias_mib:.0f} MiB); flex {flex_s * 1e3:8.1f} ms, peak "
            f"+{flex_mib:5.0f} MiB; flex/dense time {flex_s / dense_s:.2f}x"
        )
    if not args.no_training:
        training_steps()


if __name__ == "__main__":
    main()
