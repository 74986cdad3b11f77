"""Where ``mck bench``'s time goes: a cold run and a fully cached rerun on the same clips,
with the per-phase timings, the bootstrap-and-statistics share of the cold run, and the
rerun's speed-up.

    python -m benchmarks.bench_phases [--clips 12] [--rounds 200] [--cli]

The system is the demo clips with white noise at 20 dB SNR, the reference the clips;
metrics fad_musicnn and kld_musicnn (offline), as in the performance issue's figures.
``--cli`` runs the whole ``mck bench`` command in a new process instead, as a user does
(imports and model loading included), on ../shared/realmusic's clips when present, with
two systems (noise at 20 and 10 dB SNR) and one ``--cache-dir``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from musiccaps_kit.bench.degrade import degrade_folder
from musiccaps_kit.bench.run import BenchSettings, bench_to_folder
from musiccaps_kit.resources import DEMO_AUDIO_DIR

REALMUSIC = Path(__file__).resolve().parents[2] / "shared" / "realmusic" / "clips"


def whole_command(clips: int, rounds: int) -> None:
    """Cold and cached ``mck bench`` as new processes; the rerun's speed-up."""
    import subprocess
    import sys

    source = REALMUSIC if REALMUSIC.is_dir() else DEMO_AUDIO_DIR
    root = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    try:
        ref = root / "reference"
        ref.mkdir()
        for path in sorted(source.glob("*.flac"))[:clips]:
            shutil.copy(path, ref)
        systems = [
            f"noise{db}={degrade_folder(ref, root / f'n{db}', 'noise', db)}" for db in (20, 10)
        ]
        times = {}
        for name in ("cold", "cached"):
            command = [sys.executable, "-m", "musiccaps_kit.cli", "bench", "--reference", str(ref)]
            for system in systems:
                command += ["--system", system]
            command += ["--metrics", "fad_musicnn,kld_musicnn", "--bootstrap", str(rounds)]
            command += ["--out", str(root / name), "--cache-dir", str(root / "cache")]
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            times[name] = time.perf_counter() - start
            if done.returncode:
                raise SystemExit(done.stdout + done.stderr)
            phases = done.stdout.strip().splitlines()[-1]
            print(f"{name:6s} whole command {times[name]:5.1f} s; {phases}")
        print(
            f"{len(list(ref.iterdir()))} clips, 2 systems: the cached rerun is "
            f"{times['cold'] / times['cached']:.1f}x faster than the cold run (goal >= 5x)"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--cli", action="store_true", help="the whole command, twice")
    args = parser.parse_args()
    if args.cli:
        whole_command(args.clips, args.rounds)
        return
    root = Path(tempfile.mkdtemp(prefix="bench-phases-"))
    try:
        ref = root / "reference"
        ref.mkdir()
        for path in sorted(DEMO_AUDIO_DIR.glob("*.flac"))[: args.clips]:
            shutil.copy(path, ref)
        noisy = degrade_folder(ref, root / "noisy", "noise", 20.0)
        settings = BenchSettings(bootstrap_rounds=args.rounds)
        runs = {}
        for name in ("cold", "cached"):
            start = time.perf_counter()
            result, _ = bench_to_folder(ref, {"noisy": noisy}, settings, root / "out")
            runs[name] = (time.perf_counter() - start, dict(result["timings"]))
            print(f"{name:6s} {runs[name][0]:6.1f} s  {result['timing_summary']}")
        cold, phases = runs["cold"]
        work = phases.get("bootstrap", 0) + phases.get("statistics", 0)
        print(f"bootstrap + statistics: {work / cold:.0%} of the cold run (goal <= 25 %)")
        print(
            f"cached rerun: {cold / runs['cached'][0]:.1f}x faster than the cold run (goal >= 5x)"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
