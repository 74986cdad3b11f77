"""Clips per second of ``mck prepare --source local`` against a single-process floor.

    python -m benchmarks.prepare_throughput [--realmusic ../shared/realmusic] [--repeats 3]

The floor decodes and resamples the same files (16 and 24 kHz, soxr HQ) in one process,
with nothing else. The pipeline run is the whole job from a cold cache: Beam start-up,
fetch, decode, resample, tokenize, encode, shard, hash and describe. Goal: within 4x.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from musiccaps_kit.audio import SegmentRecipe, load_segment
from musiccaps_kit.data.catalog import load_csv
from musiccaps_kit.data.demo_set import write_realmusic_catalog
from musiccaps_kit.data.preparation import PrepareConfig
from musiccaps_kit.pipelines.prepare import run


def floor(clip_dir: Path, ids: list[str]) -> float:
    recipe = SegmentRecipe()
    start = time.perf_counter()
    for ytid in ids:
        load_segment(clip_dir / f"{ytid}.flac", 0.0, 10.0, recipe)
    return time.perf_counter() - start


def pipeline(catalog, clip_dir: Path, folder: Path) -> float:
    config = PrepareConfig(
        name="bench",
        out_dir=str(folder / "out"),
        cache_dir=str(folder / "cache"),
        source_options={"audio_dir": str(clip_dir)},
    )
    start = time.perf_counter()
    info = run(catalog, config, progress=False)
    elapsed = time.perf_counter() - start
    assert info["records"] == len(catalog), info["failures"]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realmusic", type=Path, default=Path("../shared/realmusic"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    clip_dir = args.realmusic / "clips"
    with tempfile.TemporaryDirectory() as tmp:
        catalog = load_csv(write_realmusic_catalog(args.realmusic, Path(tmp) / "realmusic.csv"))
        ids = catalog.ids()
        floors = [floor(clip_dir, ids) for _ in range(args.repeats)]
        runs = []
        for i in range(args.repeats):
            folder = Path(tmp) / f"run{i}"
            runs.append(pipeline(catalog, clip_dir, folder))
    n = len(ids)
    f, p = statistics.median(floors), statistics.median(runs)
    print(f"clips: {n} (10 s each, 16 + 24 kHz out), median of {args.repeats} runs")
    print(f"floor (decode + resample, one process): {n / f:8.1f} clips/s  ({f:.2f} s)")
    print(f"mck prepare --source local (cold cache): {n / p:8.1f} clips/s  ({p:.2f} s)")
    print(f"ratio pipeline / floor time: {p / f:.2f}x (goal: within 4x)")


if __name__ == "__main__":
    main()
