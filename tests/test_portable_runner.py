"""The pipelines on Beam's portable path, as Flink, Spark and Dataflow run them: the
PortableRunner submits to a job service, the package is staged with ``--setup_file``, and
SDK workers run in separate processes (Beam's external worker pool), so every DoFn is
pickled. The shards and statistics equal the in-process runner's."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from musiccaps_kit.bench.metrics.frechet import GaussianStats
from musiccaps_kit.bench.stats_files import STATS_FILE
from musiccaps_kit.data.records import read_info

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def worker_pool():
    """Beam's worker pool service: each SDK worker is a new ``python`` process."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    pool = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main"]
        + [f"--service_port={port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.time() < deadline and pool.poll() is None, "the worker pool did not start"
            time.sleep(0.2)
    yield port, env
    pool.terminate()
    _, log = pool.communicate(timeout=30)
    assert "Starting worker with command ['python'" in log  # workers were processes


def _portable(port: int) -> list[str]:
    return [
        "--runner=PortableRunner",
        "--job_endpoint=embed",
        "--environment_type=EXTERNAL",
        f"--environment_config=localhost:{port}",
        f"--setup_file={REPO / 'setup.py'}",
    ]


def _mck(args: list[str], env: dict) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "musiccaps_kit.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_prepare_and_stats_on_the_portable_runner(worker_pool, tmp_path):
    port, env = worker_pool
    local, portable = tmp_path / "local", tmp_path / "portable"
    base = ["prepare", "--dataset", "demo", "--quiet", "--shards", "2"]
    _mck([*base, "--out", str(local)], env)
    _mck([*base, "--out", str(portable), *_portable(port)], env)
    a, b = read_info(local), read_info(portable)
    assert a["records"] == b["records"] == 24
    for split in ("eval", "train"):
        shards = [(s["file"], s["sha256"]) for s in a["splits"][split]["shards"]]
        assert shards == [(s["file"], s["sha256"]) for s in b["splits"][split]["shards"]]

    stats = ["stats", "--clips", str(local)]
    _mck([*stats, "--out", str(tmp_path / "s-local"), "--cache-dir", str(tmp_path / "c1")], env)
    portable_stats = ["--out", str(tmp_path / "s-portable"), "--cache-dir", str(tmp_path / "c2")]
    _mck([*stats, *portable_stats, *_portable(port)], env)
    x = GaussianStats.load(tmp_path / "s-local" / STATS_FILE)
    y = GaussianStats.load(tmp_path / "s-portable" / STATS_FILE)
    assert x.count == y.count
    assert np.allclose(x.total, y.total, rtol=1e-12) and np.allclose(x.outer, y.outer, rtol=1e-12)
