"""The layout's rules, checked on every run: the import contracts in pyproject.toml
(import-linter), and a wheel that installs one top-level package with every data file and
preset and works non-editable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _lint_imports(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "lint-imports"), "--config", str(config), "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )


def test_import_contracts_are_kept():
    result = _lint_imports(REPO / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    kinds = {c["type"] for c in contracts["contracts"]}
    assert {"forbidden", "layers", "acyclic_siblings"} <= kinds
    assert "7 kept, 0 broken" in result.stdout


def test_the_contracts_catch_a_core_module_importing_the_cascade(tmp_path):
    """The same contracts over a copy of the package with one forbidden import added."""
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "musiccaps_kit", copy / "musiccaps_kit", symlinks=False)
    shutil.copytree(REPO / "benchmarks", copy / "benchmarks")
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    bad = copy / "musiccaps_kit" / "bench" / "degrade.py"
    bad.write_text(bad.read_text() + "\nfrom musiccaps_kit.models.training import loop\n")
    result = subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"],
        cwd=copy,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(copy)},
    )
    assert result.returncode != 0
    assert "musiccaps_kit.bench.degrade -> musiccaps_kit.models.training.loop" in result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build") / "src"
    # a clean copy: the build's own folders never land in the working tree
    ignore = shutil.ignore_patterns(".git", ".venv", "out", "build", "*.egg-info", "__pycache__")
    shutil.copytree(REPO, build, symlinks=True, ignore=ignore)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(out), str(build)],
        check=True,
    )
    (path,) = out.glob("musiccaps_kit-*.whl")
    return path


def test_the_wheel_installs_one_package_with_its_data_and_presets(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"musiccaps_kit"}
    for needed in (
        "musiccaps_kit/models/presets/codec-tiny.json",
        "musiccaps_kit/models/presets/stages-paper.json",
        "musiccaps_kit/pipelines/prepare.py",
        "musiccaps_kit/assets/musiccaps-public.csv",
        "musiccaps_kit/assets/paper-table1.json",
        "musiccaps_kit/assets/audioset-class-map.csv",
        "musiccaps_kit/assets/demo/demo.csv",
        "musiccaps_kit/assets/demo/clips/wesnoth-00-0.flac",
        "musiccaps_kit/listening/static/rate.js",
    ):
        assert needed in names, needed
    assert len([n for n in names if n.startswith("musiccaps_kit/models/presets/")]) == len(
        list((REPO / "models" / "presets").glob("*.json"))
    )
    assert not [n for n in names if n.startswith("benchmarks/")]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "musiccaps_kit.models.cascade_tokenizer:CascadeTokenizer" in text


def test_a_non_editable_install_runs_the_demo_and_trains_from_a_preset(wheel, tmp_path):
    """A fresh venv with the wheel installed (not editable); its dependencies come from this
    environment's site-packages through a .pth file, which pulls in no editable finder."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    deps = sysconfig.get_path("purelib")
    (site / "dependencies.pth").write_text(deps + "\n")
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [str(python), "-c", "import musiccaps_kit.models.codec as m; print(m.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert where.stdout.startswith(str(site)), where.stdout
    mck = [str(venv / "bin" / "mck")]
    demo = subprocess.run(
        [*mck, "demo", "--no-cascade", "--out", str(tmp_path / "demo")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert (tmp_path / "demo" / "bench" / "report.html").is_file()
    assert "lowpass-2kHz" in demo.stdout
    train = subprocess.run(
        [*mck, "train", "codec", "--records", str(tmp_path / "demo" / "records")]
        + ["--preset", "tiny", "--steps", "2", "--out", str(tmp_path / "codec")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]
    assert "codec: 2 steps" in train.stdout
    assert (tmp_path / "codec" / "model.pt").is_file()
