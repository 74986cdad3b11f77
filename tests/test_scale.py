"""`mck bench` at scale: the device option (CPU here; a CUDA device this machine lacks is a
clear error), two processes under torchrun giving one process's leaderboard, a bench
killed mid-batch and rerun, and two benches at once on one cache, on real clips."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from musiccaps_kit.bench import device
from musiccaps_kit.cli import main
from musiccaps_kit.resources import DEMO_AUDIO_DIR

METRICS = "fad_musicnn,kld_musicnn,kad_musicnn"
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """The 24 demo clips as the reference, and two noisy copies as systems."""
    root = tmp_path_factory.mktemp("scale")
    rng = np.random.default_rng(0)
    folders = {name: root / name for name in ("reference", "noisy", "noisier")}
    for folder in folders.values():
        folder.mkdir()
    for path in sorted(DEMO_AUDIO_DIR.glob("*.flac")):
        shutil.copy(path, folders["reference"])
        wave, rate = sf.read(path, dtype="float32")
        for name, level in (("noisy", 0.02), ("noisier", 0.08)):
            noise = level * rng.standard_normal(len(wave)).astype(np.float32)
            sf.write(folders[name] / path.name, wave + noise, rate)
    return folders


def bench_args(sets, system: str, out: Path, cache: Path, *extra: str) -> list[str]:
    return ["bench", "--reference", str(sets["reference"]), "--system", f"{system}={sets[system]}",
            "--metrics", METRICS, "--bootstrap", "20", "--no-inf", "--out", str(out),
            "--cache-dir", str(cache), *extra]  # fmt: skip


def values(out: Path) -> dict[str, float]:
    board = json.loads((out / "leaderboard.json").read_text())
    return {m: v["value"] for m, v in board["rows"][0]["metrics"].items()}


def test_the_device_option(sets, alone, tmp_path, monkeypatch):
    auto, cache = alone["noisy"]  # --device auto, the default
    entries = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy")}
    result = CliRunner().invoke(
        main, bench_args(sets, "noisy", tmp_path / "cpu", cache, "--device", "cpu")
    )
    assert result.exit_code == 0, result.output
    # float32 frames are one cache entry whatever the device: nothing embedded again
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy")} == entries
    board = json.loads((tmp_path / "cpu" / "leaderboard.json").read_text())
    recipe = board["rows"][0]["metrics"]["fad_musicnn"]["recipe"]
    assert recipe["device"] == "cpu" and recipe["precision"] == "float32"
    assert values(tmp_path / "cpu") == auto
    for flags, message in (
        (["--device", "cuda"], "no CUDA device is available"),
        (["--device", "tpu"], "use auto, cpu, cuda or cuda:N"),
        (["--device", "cpu", "--precision", "tf32"], "tf32 applies to CUDA devices only"),
    ):
        result = CliRunner().invoke(
            main, bench_args(sets, "noisy", tmp_path / "x", tmp_path / "c", *flags)
        )
        assert result.exit_code == 1 and message in result.output, result.output
        assert "Traceback" not in result.output
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(device.DeviceError, match=r"has 1 CUDA device\(s\): cuda:0"):
        device.resolve("cuda:3")
    assert str(device.resolve("cuda:0")) == "cuda:0"


@pytest.fixture(scope="module")
def alone(sets, tmp_path_factory) -> dict[str, tuple[dict[str, float], Path]]:
    """Each system benched alone, in one process, on its own cache: its values and cache."""
    root = tmp_path_factory.mktemp("alone")
    out = {}
    for system in ("noisy", "noisier"):
        args = bench_args(sets, system, root / system, root / f"cache-{system}")
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        out[system] = values(root / system), root / f"cache-{system}"
    return out


def run_cli(args: list[str], **env) -> subprocess.Popen:
    return subprocess.Popen(
        [str(VENV_BIN / "python"), "-m", "musiccaps_kit.cli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, **env},
    )  # fmt: skip


def test_two_processes_under_torchrun_give_one_process_leaderboard(sets, alone, tmp_path):
    one, one_cache = alone["noisy"]
    args = bench_args(sets, "noisy", tmp_path / "two", tmp_path / "c2")
    torchrun = [str(VENV_BIN / "torchrun"), "--standalone", "--nproc_per_node", "2"]
    command = [*torchrun, "-m", "musiccaps_kit.cli", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("report:") == 1  # rank 0 alone writes and prints the report
    for metric, value in one.items():
        assert values(tmp_path / "two")[metric] == pytest.approx(value, rel=1e-6, abs=1e-9)
    board = json.loads((tmp_path / "two" / "leaderboard.json").read_text())
    embedding = board["settings"]["embedding"]
    assert embedding["processes"] == 2 and len(embedding["clips_per_process"]) == 2
    assert abs(embedding["clips_per_process"][0] - embedding["clips_per_process"][1]) <= 3
    # every embedding the bench needs was in the cache before rank 0 computed the metrics
    assert len(list((tmp_path / "c2").rglob("*.npy"))) == len(list(one_cache.rglob("*.npy")))


def test_a_bench_killed_mid_batch_and_rerun(sets, alone, tmp_path):
    clean, clean_cache = alone["noisy"]
    total = len(list(clean_cache.rglob("*.npy")))
    cache = tmp_path / "cache"
    process = run_cli(bench_args(sets, "noisy", tmp_path / "killed", cache, "--batch-size", "1"))
    deadline = time.time() + 300
    while len(list(cache.rglob("*.npy"))) < 6 and process.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)  # mid-batch, without warning
    process.wait()
    kept = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy")}
    assert 0 < len(kept) < total
    assert not (tmp_path / "killed" / "leaderboard.json").exists()
    rerun = CliRunner().invoke(main, bench_args(sets, "noisy", tmp_path / "killed", cache))
    assert rerun.exit_code == 0, rerun.output
    assert values(tmp_path / "killed") == clean
    # what was written before the kill was read, not computed again
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in kept.items())
    assert len(list(cache.rglob("*.npy"))) == total
    assert not [p for p in cache.rglob("*") if p.is_file() and ".tmp" in p.name]


def test_two_benches_at_once_on_one_cache(sets, alone, tmp_path):
    shared = tmp_path / "shared"
    runs = {s: run_cli(bench_args(sets, s, tmp_path / f"together-{s}", shared, "--batch-size", "2"))
            for s in ("noisy", "noisier")}  # fmt: skip
    for system, process in runs.items():
        output = process.communicate(timeout=600)[0].decode()
        assert process.returncode == 0, output[-3000:]
        # the same frames (a torn entry would move a value by far more); the float64
        # statistics of another process may differ in their last bits with its BLAS threads
        expected = alone[system][0]
        assert values(tmp_path / f"together-{system}") == pytest.approx(expected, rel=1e-9)
