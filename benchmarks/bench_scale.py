"""How ``mck bench`` grows with the number of clips: the bench on 100, 400 and 1,600 clips
(the real clips of ../shared/realmusic, or the demo set, repeated under new ids with a
little noise each, so that no two share an embedding), one system against the reference,
``fad_musicnn, kld_musicnn, kad_musicnn`` (musicnn at full size, its released weights),
each size in a fresh process. Per phase (decode, embed, cache reads, statistics,
bootstrap, report): seconds and the peak resident memory while it ran; the growth exponent
k of time ~ clips^k between the sizes; and a projection for 5,521 clips x 2 systems on
this machine (the reference embedded once, its statistics shared).

    python -m benchmarks.bench_scale [--sizes 100 400 1600] [--device cpu]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

MUSICCAPS = 5521
REALMUSIC = Path(__file__).resolve().parents[2] / "shared" / "realmusic" / "clips"
METRICS = ("fad_musicnn", "kld_musicnn", "kad_musicnn")
# phases that run once per system (the reference's share is embedded once)
PER_SYSTEM = {"decode": 0.5, "embed": 0.5, "cache reads": 0.5}


def make_sets(root: Path, count: int) -> tuple[Path, Path]:
    """``count`` reference clips and a system's, each a real clip with its own noise."""
    import soundfile as sf

    from musiccaps_kit.resources import DEMO_AUDIO_DIR

    sources = sorted((REALMUSIC if REALMUSIC.is_dir() else DEMO_AUDIO_DIR).glob("*.flac"))
    waves = [sf.read(p, dtype="float32") for p in sources]
    rng = np.random.default_rng(count)
    reference, system = root / "reference", root / "system"
    for folder in (reference, system):
        folder.mkdir(parents=True)
    for i in range(count):
        wave, rate = waves[i % len(waves)]
        for folder, level in ((reference, 1e-3), (system, 3e-2)):
            noisy = wave + level * rng.standard_normal(len(wave)).astype(np.float32)
            sf.write(folder / f"c{i:05d}.flac", noisy, rate)
    return reference, system


class PhaseMemory:
    """The peak resident memory while each phase of a ``Timings`` runs (sampled)."""

    def __init__(self, timings):
        self.current, self.peaks = "setup", {}
        self.stop = threading.Event()
        original = timings.phase

        @contextmanager
        def phase(name):
            previous, self.current = self.current, name
            try:
                with original(name):
                    yield
            finally:
                self.current = previous

        timings.phase = phase
        threading.Thread(target=self.sample, daemon=True).start()

    def sample(self) -> None:
        while not self.stop.wait(0.02):
            rss = _rss_mib()
            self.peaks[self.current] = max(self.peaks.get(self.current, 0.0), rss)


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def one_size(count: int, spec: str, queue) -> None:
    from musiccaps_kit.bench.run import BenchSettings, run_bench
    from musiccaps_kit.bench.settings import model_options
    from musiccaps_kit.timing import Timings

    with tempfile.TemporaryDirectory() as tmp:
        reference, system = make_sets(Path(tmp), count)
        timings = Timings()
        memory = PhaseMemory(timings)
        settings = BenchSettings(
            metrics=METRICS,
            embedder_options=model_options(),
            bootstrap_rounds=200,
            inf=False,
            device=spec,
        )
        start = time.perf_counter()
        result = run_bench(reference, {"system": system}, settings, Path(tmp) / "cache", timings)
        with timings.phase("report"):
            from dataclasses import asdict

            from musiccaps_kit.bench import report

            report.write(result, asdict(result["settings"]), Path(tmp) / "out")
        total = time.perf_counter() - start
        memory.stop.set()
        frames = result["rows"][0]["results"]["fad_musicnn"].recipe["frames_system"]
        queue.put((dict(timings.seconds), memory.peaks, total, frames))


def isolated(count: int, spec: str):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=one_size, args=(count, spec, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main(sizes: list[int], spec: str) -> None:
    import torch

    print(f"mck bench ({', '.join(METRICS)}), one system, {torch.get_num_threads()} threads")
    runs = {n: isolated(n, spec) for n in sizes}
    phases = sorted({p for seconds, _, _, _ in runs.values() for p in seconds})
    for n, (seconds, peaks, total, frames) in runs.items():
        cells = ", ".join(
            f"{p} {seconds.get(p, 0):.1f} s / {peaks.get(p, 0):.0f} MiB" for p in phases
        )
        print(f"{n:5d} clips ({frames} frames a side): {total:.1f} s in all; {cells}")
    small, large = min(sizes), max(sizes)
    print(f"growth exponent k (time ~ clips^k, {small} -> {large} clips) and projection for "
          f"{MUSICCAPS:,} clips x 2 systems:")  # fmt: skip
    projected_total = 0.0
    for p in phases:
        t_small, t_large = runs[small][0].get(p, 0.0), runs[large][0].get(p, 0.0)
        k = np.log(max(t_large, 1e-6) / max(t_small, 1e-6)) / np.log(large / small)
        # the reference's embedding is shared by the systems; its statistics per system
        systems = 1 + 2 * PER_SYSTEM.get(p, 1.0) - PER_SYSTEM.get(p, 1.0)
        projected = t_large * (MUSICCAPS / large) ** k * systems
        projected_total += projected
        peak_growth = runs[large][1].get(p, 0) - runs[small][1].get(p, 0)
        print(f"  {p:12s} k = {k:4.2f}; peak memory {peak_growth:+5.0f} MiB from {small} to "
              f"{large} clips; projected {projected / 60:6.1f} min")  # fmt: skip
    print(f"  in all: {projected_total / 60:.1f} min on this machine")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_scale", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 400, 1600])
    parser.add_argument("--device", default="cpu", help="cpu, auto, cuda or cuda:N")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse()
    main(args.sizes, args.device)
