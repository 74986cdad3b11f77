"""The GPU check runs on CPU too, from the source tree, without TensorFlow, Beam,
soundfile, soxr or the record reader (the GPU machine has none of them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ABSENT = ("tensorflow", "tensorflow_hub", "apache_beam", "soundfile", "soxr", "google_crc32c")


def test_the_gpu_check_runs_on_cpu_without_the_data_stack(tmp_path):
    for name in ABSENT:  # importing any of these fails, as on the GPU machine
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('no {name} here')\n")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check", "--device", "cpu", "--steps", "2"]
        + ["--preset", "tiny", "--tokens", "16"],
        cwd=REPO,
        env={"PYTHONPATH": f"{tmp_path}:{REPO}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert [m["model"] for m in report["models"]] == ["codec", "semantic", "mulan", "stages"]
    for m in report["models"]:
        assert m["step_s"] > 0 and m["flops_per_step"] > 0 and m["mfu"] is None
    g = report["generation"]
    assert g["tokens"] == 16 and g["tokens_per_s_cache"] > 0 and g["cache_speed_up"] > 0
