"""``mck prepare --source local`` against its floor, measured in the same run, at several
catalog sizes: start-up cost and marginal cost per clip apart.

    python -m benchmarks.prepare_throughput [--realmusic ../shared/realmusic] [--sizes 125,500,1000]

The floor decodes and resamples the same files (16 and 24 kHz, soxr HQ) in one process,
with nothing else. The pipeline is the whole command as a user runs it (``mck prepare``
in a new process: interpreter and imports, Beam start-up, decode, resample, tokenize,
encode, shard, hash and describe), from a cold cache. Catalogs larger than the 125 real
clips repeat them under new ids (links to the same files). A straight line through
(clips, seconds) gives each side's start-up (intercept) and marginal cost per clip
(slope); each figure is the fastest of ``--repeats`` runs (this machine is shared, and
noise only ever adds time). Goals: the whole command within 2x the floor at the largest
size, and the marginal cost within 1.3x the floor's.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from musiccaps_kit.audio import SegmentRecipe, load_segment
from musiccaps_kit.data.demo_set import write_realmusic_catalog


def repeated_catalog(realmusic: Path, count: int, folder: Path) -> tuple[Path, Path]:
    """A catalog of ``count`` rows over the real clips (repeated under new ids) and a
    folder of links named by those ids."""
    base = write_realmusic_catalog(realmusic, folder / "base.csv")
    with open(base, newline="") as f:
        rows = list(csv.DictReader(f))
    audio = folder / "audio"
    audio.mkdir()
    out = folder / "catalog.csv"
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for i in range(count):
            row = dict(rows[i % len(rows)])
            source = realmusic / "clips" / f"{row['ytid']}.flac"
            if i >= len(rows):
                row["ytid"] = f"{row['ytid']}-r{i // len(rows)}"
            (audio / f"{row['ytid']}.flac").symlink_to(source.resolve())
            writer.writerow(row)
    return out, audio


def floor(audio: Path) -> float:
    recipe = SegmentRecipe()
    start = time.perf_counter()
    for path in sorted(audio.glob("*.flac")):
        load_segment(path, 0.0, 10.0, recipe)
    return time.perf_counter() - start


def command(catalog: Path, audio: Path, out: Path) -> float:
    args = [sys.executable, "-m", "musiccaps_kit.cli", "prepare", "--dataset", str(catalog)]
    args += ["--source", "local", "--audio-dir", str(audio), "--out", str(out), "--quiet"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def line(sizes: list[int], seconds: list[float]) -> tuple[float, float]:
    """Intercept (s) and slope (s per clip) of the least-squares line."""
    slope, intercept = np.polyfit(sizes, seconds, 1)
    return float(intercept), float(slope)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realmusic", type=Path, default=Path("../shared/realmusic"))
    parser.add_argument("--sizes", default="125,500,1000")
    parser.add_argument("--repeats", type=int, default=2, help="the fastest of each is kept")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    floor(args.realmusic / "clips")  # warm-up: the files in the page cache, for both sides
    floors, runs = [], []
    print(f"{'clips':>6s} {'floor s':>8s} {'mck prepare s':>14s} {'ratio':>6s}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            catalog, audio = repeated_catalog(args.realmusic, n, Path(tmp))
            floors.append(min(floor(audio) for _ in range(args.repeats)))
            runs.append(
                min(command(catalog, audio, Path(tmp) / f"out{i}") for i in range(args.repeats))
            )
        print(f"{n:6d} {floors[-1]:8.2f} {runs[-1]:14.2f} {runs[-1] / floors[-1]:5.2f}x")
    if len(sizes) > 1:
        f0, f1 = line(sizes, floors)
        p0, p1 = line(sizes, runs)
        print(f"floor:       start-up {f0:5.2f} s, {f1 * 1e3:6.2f} ms per clip")
        print(f"mck prepare: start-up {p0:5.2f} s, {p1 * 1e3:6.2f} ms per clip")
        print(
            f"marginal cost per clip: {p1 / f1:.2f}x the floor's (goal 1.3x); whole command at "
            f"{sizes[-1]} clips: {runs[-1] / floors[-1]:.2f}x (goal 2x)"
        )


if __name__ == "__main__":
    main()
