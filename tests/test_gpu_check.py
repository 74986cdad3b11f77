"""The GPU check runs on CPU too, from the source tree, without TensorFlow, Beam,
soundfile, soxr or the record reader (the GPU machine has none of them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
ABSENT = ("tensorflow", "tensorflow_hub", "apache_beam", "soundfile", "soxr", "google_crc32c")


def run_gpu_check(tmp_path: Path, *args: str) -> dict:
    """``python -m benchmarks.gpu_check ARGS`` from the source tree with the data stack made
    unimportable (as on the GPU machine); its last line of output, as JSON."""
    for name in ABSENT:  # importing any of these fails
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('no {name} here')\n")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check", "--device", "cpu", *args],
        cwd=REPO,
        env={"PYTHONPATH": f"{tmp_path}:{REPO}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_gpu_check_runs_on_cpu_without_the_data_stack(tmp_path):
    report = run_gpu_check(tmp_path, "--steps", "2", "--preset", "tiny", "--tokens", "16")
    assert [m["model"] for m in report["models"]] == ["codec", "semantic", "mulan", "stages"]
    for m in report["models"]:
        assert m["step_s"] > 0 and m["flops_per_step"] > 0 and m["mfu"] is None
    (g,) = report["generation"]
    assert g["tokens"] == 16 and g["tokens_per_s_cache"] > 0 and g["cache_speed_up"] > 0
    assert g["tokens_per_s_static"] > 0 and g["static_speed_up"] > 0


def test_real_clips_travel_as_one_file_and_come_back_at_each_rate(tmp_path, realmusic):
    from benchmarks.gpu_check import clips_bank, write_clips

    out = tmp_path / "clips.npz"
    assert write_clips(realmusic, out, limit=3) == 3
    codec, semantic = clips_bank(out, 24_000), clips_bank(out, 16_000)
    assert len(codec) == len(semantic) == 3 and len(set(codec.ids)) == 3
    assert codec.ids == semantic.ids and all(c for c in codec.captions)
    assert {w.shape for w in codec.waves} == {(240_000,)}
    assert {w.shape for w in semantic.waves} == {(160_000,)}
    for high, low in zip(codec.waves, semantic.waves, strict=True):
        assert 0.01 < float(np.sqrt(np.mean(high**2))) < 1  # real music, not silence
        # the same audio at both rates: equal loudness after polyphase resampling
        assert np.sqrt(np.mean(low**2)) == pytest.approx(np.sqrt(np.mean(high**2)), rel=0.05)


def test_the_bench_check_runs_on_cpu_without_the_data_stack(tmp_path):
    report = run_gpu_check(tmp_path, "--bench", "--bench-models", "passt,openl3")
    models = {m["model"]: m for m in report["embedders"]}
    assert set(models) == {"PaSST-S 10 s", "OpenL3 mel256 (2 channels)"}
    for m in models.values():
        assert m["real_time"] > 0 and m["flops_per_clip"] > 1e9 and m["peak_fraction"] is None
    # OpenL3 at full size: about 20 GFLOP a window, 40 windows per stereo 10 s clip
    assert 500e9 < models["OpenL3 mel256 (2 channels)"]["flops_per_clip"] < 1500e9
