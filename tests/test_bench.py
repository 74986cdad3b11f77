"""Metric validity on real clips with the offline musicnn embedder, pairing and reports."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from musiccaps_kit.bench.clips import ClipSet, pair
from musiccaps_kit.bench.degrade import degrade_folder
from musiccaps_kit.bench.metrics.kld import kl_divergence
from musiccaps_kit.bench.run import BenchSettings, run_bench
from musiccaps_kit.cli import main
from musiccaps_kit.resources import DEMO_AUDIO_DIR

IDS = sorted(p.stem for p in DEMO_AUDIO_DIR.glob("*.flac"))[::3]  # 8 clips, every source


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    ref = root / "reference"
    ref.mkdir()
    for clip_id in IDS:
        shutil.copy(DEMO_AUDIO_DIR / f"{clip_id}.flac", ref)
    systems = {"same": ref}
    for kind, strengths in (
        ("noise", (30, 15, 5)),
        ("lowpass", (4000, 1000)),
        ("clip", (0.3, 0.05)),
    ):
        for s in strengths:
            systems[f"{kind}-{s}"] = degrade_folder(ref, root / f"{kind}-{s}", kind, s)
    return root, ref, systems


@pytest.fixture(scope="module")
def results(folders):
    root, ref, systems = folders
    settings = BenchSettings(metrics=("fad_musicnn", "kld_musicnn"), bootstrap_rounds=20)
    result = run_bench(ref, systems, settings, root / "cache")
    return {row["system"]: row["results"] for row in result["rows"]}


def _fad(results, name):
    return results[name]["fad_musicnn"].value


def test_fad_grows_with_the_strength_of_each_degradation(results):
    assert _fad(results, "same") < 1e-6
    assert _fad(results, "same") < _fad(results, "noise-30") < _fad(results, "noise-15")
    assert _fad(results, "noise-15") < _fad(results, "noise-5")
    assert _fad(results, "same") < _fad(results, "lowpass-4000") < _fad(results, "lowpass-1000")
    assert _fad(results, "same") < _fad(results, "clip-0.3") < _fad(results, "clip-0.05")


def test_kld_of_a_set_against_itself_is_zero_and_grows_with_damage(results):
    assert results["same"]["kld_musicnn"].value == pytest.approx(0, abs=1e-9)
    assert results["noise-5"]["kld_musicnn"].value > results["noise-30"]["kld_musicnn"].value
    recipe = results["noise-5"]["kld_musicnn"].recipe
    assert recipe["kl_convention"] == "bernoulli" and recipe["model"] == "MTT_musicnn"


def test_kl_conventions_are_divergences():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    for convention in ("softmax", "bernoulli"):
        assert kl_divergence(a, a, convention) == pytest.approx(0, abs=1e-12)
        assert kl_divergence(a, b, convention) > 0
    with pytest.raises(ValueError, match="unknown KL convention"):
        kl_divergence(a, b, "sigmoid")


def test_pairing_reports_missing_and_extra_ids(folders, tmp_path):
    _, ref, _ = folders
    partial = tmp_path / "partial"
    partial.mkdir()
    for clip_id in IDS[:5]:
        shutil.copy(ref / f"{clip_id}.flac", partial)
    shutil.copy(ref / f"{IDS[0]}.flac", partial / "notinref.flac")
    p = pair(ClipSet(ref), ClipSet(partial))
    assert p.common == tuple(IDS[:5])
    assert p.missing == tuple(IDS[5:])
    assert p.extra == ("notinref",)


def test_cli_writes_the_leaderboard_with_recipes_and_the_paper(folders, tmp_path):
    root, ref, systems = folders
    out = tmp_path / "board"
    args = [
        "bench",
        "--reference",
        str(ref),
        "--system",
        f"noisy={systems['noise-15']}",
        "--metrics",
        "fad_musicnn,kld_musicnn",
        "--out",
        str(out),
        "--cache-dir",
        str(root / "cache"),
        "--bootstrap",
        "20",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    board = json.loads((out / "leaderboard.json").read_text())
    row = board["rows"][0]
    assert row["system"] == "noisy" and row["n_common"] == 8
    fad = row["metrics"]["fad_musicnn"]
    assert len(fad["ci"]) == 2 and fad["n"] == 8
    for key in ("embedder", "weights_sha256", "rate", "resampler", "windowing", "bootstrap"):
        assert key in fad["recipe"]
    assert [r["system"] for r in board["paper_table1"]["rows"]][:3] == [
        "Riffusion",
        "Mubert",
        "MusicLM",
    ]
    assert all(r["kind"] == "reported" for r in board["paper_table1"]["rows"])
    assert "(reported)" in (out / "leaderboard.md").read_text()
    # one chart per metric and one per-clip chart per metric (the report of the fidelity
    # issue; it was one wide chart)
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 2 * 2
    lines = (out / "per_clip.csv").read_text().splitlines()
    assert lines[0] == "system,metric,id,value" and len(lines) == 1 + 2 * 8


def test_a_prepared_record_set_is_a_clip_set(tmp_path, demo_catalog):
    from musiccaps_kit.data.records import iter_records
    from tests.conftest import prepare_demo

    prepare_demo(demo_catalog, tmp_path, shards=2)
    clips = ClipSet(tmp_path)
    assert clips.ids() == set(demo_catalog.ids())
    for record in iter_records(tmp_path, "eval"):
        np.testing.assert_array_equal(clips.audio(record.id, 16000), record.audio[16000])
    assert len(clips.audio(record.id, 22050)) == 220500  # resampled from 24 kHz


def test_bad_bench_input_is_a_clear_error(folders, tmp_path):
    root, ref, _ = folders
    out = tmp_path / "board"
    bad_metric = CliRunner().invoke(
        main,
        [
            "bench",
            "--reference",
            str(ref),
            "--system",
            f"x={ref}",
            "--metrics",
            "fad_nosuchmodel",
            "--out",
            str(out),
        ],
    )
    assert bad_metric.exit_code != 0 and "unknown metric 'fad_nosuchmodel'" in bad_metric.output
    assert not out.exists(), "nothing is computed or written for an unknown metric"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / f"{IDS[0]}.wav").write_bytes(b"RIFF" + bytes(range(256)) * 8)
    result = CliRunner().invoke(
        main,
        [
            "bench",
            "--reference",
            str(ref),
            "--system",
            f"broken={broken}",
            "--metrics",
            "offline",
            "--out",
            str(out),
            "--cache-dir",
            str(root / "cache"),
        ],
    )
    assert result.exit_code == 1
    assert f"cannot decode {IDS[0]}.wav" in result.output


def test_worst_clips_from_records_are_written_beside_the_report(demo_records, tmp_path):
    from musiccaps_kit.data.records import iter_records

    ids = sorted(r.id for r in iter_records(demo_records, "eval"))[:3]
    system = tmp_path / "system"
    system.mkdir()
    for clip_id in ids:
        shutil.copy(DEMO_AUDIO_DIR / f"{clip_id}.flac", system)
    out = tmp_path / "board"
    args = ["bench", "--reference", str(demo_records), "--system", f"mine={system}",
            "--metrics", "fad_musicnn,kld_musicnn"]  # fmt: skip
    result = CliRunner().invoke(main, [*args, "--bootstrap", "10", "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text()
    assert "no file to play" not in html
    for clip_id in ids:
        written = out / "clips" / "reference" / f"{clip_id}.wav"
        assert f"src='clips/reference/{clip_id}.wav'" in html and written.is_file()
        wave, rate = sf.read(written, dtype="float32")
        expected = ClipSet(demo_records).audio(clip_id, rate)
        np.testing.assert_allclose(wave, expected, atol=1 / 32768 + 1e-7)
