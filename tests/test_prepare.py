"""The prepare pipeline on the real Beam runner, on real clips."""

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from musiccaps_kit.audio import fit_length, resample
from musiccaps_kit.cli import main
from musiccaps_kit.data import catalog
from musiccaps_kit.data.demo_set import caption_for, write_realmusic_catalog
from musiccaps_kit.data.preparation import PrepareConfig, read_failures
from musiccaps_kit.data.records import iter_records, read_info
from musiccaps_kit.pipelines.prepare import run
from musiccaps_kit.resources import DEMO_AUDIO_DIR
from tests.conftest import prepare_demo


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory, demo_catalog):
    out = tmp_path_factory.mktemp("demo")
    prepare_demo(demo_catalog, out, shards=2)
    return out


def test_records_match_the_catalog_and_the_source_audio(demo_out, demo_catalog):
    info = read_info(demo_out)
    assert info["records"] == 24 and info["failures"]["total"] == 0
    assert info["recipe"]["segment"]["rates"] == [16000, 24000]
    assert info["recipe"]["segment"]["resampler"] == "soxr-HQ"
    seen = set()
    for split in ("eval", "train"):
        assert len(info["splits"][split]["shards"]) == 2
        for record in iter_records(demo_out, split):
            clip = demo_catalog[record.id]
            seen.add(record.id)
            assert record.split == clip.split == split
            assert record.caption == clip.caption
            assert tuple(record.aspects) == clip.aspects
            assert tuple(record.labels) == clip.labels
            assert record.is_balanced_subset == clip.is_balanced_subset
            assert record.is_audioset_eval == clip.is_audioset_eval
            assert (record.start_s, record.end_s) == (clip.start_s, clip.end_s)
            source, rate = sf.read(DEMO_AUDIO_DIR / f"{record.id}.flac", dtype="float32")
            assert rate == record.source_rate == 24000
            # The files run a few ms short of or past 10 s: padded or cut, and recorded.
            assert record.pad_s == pytest.approx(max(0, 10 - len(source) / rate))
            assert record.trim_s == 0
            source = source[: 10 * rate]
            np.testing.assert_array_equal(record.audio[24000], fit_length(source, 240000))
            np.testing.assert_array_equal(
                record.audio[16000], fit_length(resample(source, rate, 16000), 160000)
            )
    assert seen == set(demo_catalog.ids())


def test_shards_are_named_hashed_and_counted(demo_out):
    info = read_info(demo_out)
    for split, entry in info["splits"].items():
        total = 0
        for i, shard in enumerate(entry["shards"]):
            assert shard["file"] == f"demo-{split}.tfrecord-{i:05d}-of-00002"
            data = (demo_out / shard["file"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == shard["sha256"]
            total += shard["records"]
        assert total == entry["records"] == 12
    assert (demo_out / "failures.csv").read_text() == "id,category,message\n"


def test_rerun_uses_the_cache_and_writes_identical_shards(demo_out, demo_catalog, tmp_path):
    before = read_info(demo_out)
    stale = demo_out / "demo-eval.tfrecord-00000-of-00007"
    stale.write_bytes(b"left by an older run")
    leftover = demo_out / ".demo-eval.tfrecord-00001-of-00002.abc.tmp"
    leftover.write_bytes(b"partial")
    after = prepare_demo(demo_catalog, demo_out, shards=2)
    assert after["last_run"]["cached"] == 24 and after["last_run"]["fetched"] == 0
    assert after["splits"] == before["splits"]
    assert not stale.exists() and not leftover.exists()


def _youtube_catalog(tmp_path, ids):
    path = tmp_path / "custom.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ytid", "start_s", "end_s", "caption", "aspect_list", "is_audioset_eval"])
        for i, ytid in enumerate(ids):
            writer.writerow([ytid, 5, 15, f"clip {ytid}", "['test']", str(i % 2 == 0)])
    return path


@pytest.fixture
def www(tmp_path):
    folder = tmp_path / "www"
    folder.mkdir()
    a, rate = sf.read(DEMO_AUDIO_DIR / "wesnoth-00-0.flac", dtype="float32")
    b, _ = sf.read(DEMO_AUDIO_DIR / "singularity-00-0.flac", dtype="float32")
    for i in range(12):
        sf.write(folder / f"goodclip{i:03d}.wav", np.concatenate([a, b]) * (0.5 + i / 24), rate)
    sf.write(folder / "shortclip01.wav", np.concatenate([a, a])[: 12 * rate], rate)  # 7 s of 10
    (folder / "corruptid01.wav").write_bytes(b"RIFF" + bytes(range(256)) * 40)
    return folder


BAD_IDS = ["missingid01", "corruptid01", "shortclip01", "bad-id"]


def _prepare_args(csv_path, out, server, *extra):
    return [
        "prepare",
        "--dataset",
        str(csv_path),
        "--source",
        "youtube",
        "--url-template",
        server.url_template,
        "--retries",
        "0",
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]


def test_youtube_prepare_accounts_for_every_clip(tmp_path, www, serve):
    server = serve(www)
    ids = ["goodclip000", "goodclip001", *BAD_IDS]
    csv_path = _youtube_catalog(tmp_path, ids)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, _prepare_args(csv_path, out, server))
    assert result.exit_code == 0, result.output
    assert "failed" in result.output and "bad_media" in result.output
    info = read_info(out)
    assert info["records"] == 2
    failures = {r["id"]: r for r in read_failures(out)}
    assert {k: v["category"] for k, v in failures.items()} == {
        "missingid01": "unavailable",
        "corruptid01": "bad_media",
        "shortclip01": "bad_media",
        "bad-id": "invalid_id",
    }
    assert "404" in failures["missingid01"]["message"]
    assert "too short" in failures["shortclip01"]["message"]
    assert info["failures"]["by_category"] == {"bad_media": 2, "invalid_id": 1, "unavailable": 1}
    assert info["records"] + info["failures"]["total"] == len(ids)

    # A rerun asks the server for nothing: successes and permanent failures are cached.
    requests = len(server.requests)
    result = CliRunner().invoke(main, _prepare_args(csv_path, out, server))
    assert result.exit_code == 0, result.output
    assert len(server.requests) == requests
    assert read_info(out)["splits"] == info["splits"]

    # --only-failed retries just the failures: the missing clip is now on the server.
    (www / "missingid01.wav").write_bytes((www / "goodclip005.wav").read_bytes())
    result = CliRunner().invoke(main, _prepare_args(csv_path, out, server, "--only-failed"))
    assert result.exit_code == 0, result.output
    asked = {p.strip("/").split(".")[0] for p in server.requests[requests:]}
    assert asked == {"missingid01", "corruptid01", "shortclip01"}
    info = read_info(out)
    assert info["records"] == 3
    assert "missingid01" not in {r["id"] for r in read_failures(out)}
    assert "missingid01" in {r.id for split in info["splits"] for r in iter_records(out, split)}


def _shards(out):
    info = read_info(out)
    return {s["file"]: s["sha256"] for e in info["splits"].values() for s in e["shards"]}


def test_a_killed_run_resumes_to_the_same_records(tmp_path, www, serve):
    server = serve(www)
    ids = [f"goodclip{i:03d}" for i in range(12)] + BAD_IDS
    csv_path = _youtube_catalog(tmp_path, ids)

    whole = tmp_path / "whole"
    result = CliRunner().invoke(main, _prepare_args(csv_path, whole, server, "--shards", "2"))
    assert result.exit_code == 0, result.output

    killed = tmp_path / "killed"
    args = _prepare_args(csv_path, killed, server, "--shards", "2", "--sleep", "0.3")
    proc = subprocess.Popen(
        [sys.executable, "-m", "musiccaps_kit.cli", *args],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        done = list((killed / "cache" / "clips").glob("*.seg"))
        if len(done) >= 3:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = list((killed / "cache" / "clips").glob("*.seg"))
    assert 3 <= len(done) < 12, "the kill must land mid-run"
    assert not (killed / "dataset_info.json").exists()

    result = CliRunner().invoke(main, _prepare_args(csv_path, killed, server, "--shards", "2"))
    assert result.exit_code == 0, result.output
    assert _shards(killed) == _shards(whole)
    got = [r.id for split in ("eval", "train") for r in iter_records(killed, split)]
    assert sorted(got) == sorted(set(got)) == [f"goodclip{i:03d}" for i in range(12)]
    assert read_failures(killed) == read_failures(whole)


def test_realmusic_prepares_every_clip(realmusic, tmp_path):
    with open(realmusic / "manifest.csv", newline="") as f:
        manifest = list(csv.DictReader(f))
    path = write_realmusic_catalog(realmusic, tmp_path / "realmusic.csv")
    cat = catalog.load_csv(path)
    out = tmp_path / "out"
    config = PrepareConfig(
        name="realmusic",
        out_dir=str(out),
        cache_dir=str(out / "cache"),
        source_options={"audio_dir": str(realmusic / "clips")},
    )
    info = run(cat, config, progress=False)
    assert info["records"] == len(manifest) == 125
    assert info["splits"]["train"]["records"] == 125
    assert len(info["splits"]["train"]["shards"]) == 2  # one per 100 clips
    by_id = {row["clip_id"]: row for row in manifest}
    for record in iter_records(out, "train"):
        assert record.caption == caption_for(by_id[record.id])
        assert len(record.audio[16000]) == 160000 and np.isfinite(record.audio[16000]).all()
    json.dumps(info)  # the description is plain JSON


@pytest.mark.parametrize("second", [("--shards", "2"), ("--shards", "1", "--subset", "eval")])
def test_two_prepares_into_one_folder(tmp_path, www, serve, second):
    """A second run while the first is alive is refused, naming the first; the folder is
    the first run's, whole and readable (same or different selections)."""
    from musiccaps_kit.data.folder_lock import LOCK_FILE

    server = serve(www)
    ids = [f"goodclip{i:03d}" for i in range(12)]
    csv_path = _youtube_catalog(tmp_path, ids)
    out = tmp_path / "out"

    def start(*extra):
        args = _prepare_args(csv_path, out, server, *extra)
        return subprocess.Popen(
            [sys.executable, "-m", "musiccaps_kit.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    first = start("--shards", "3", "--sleep", "0.3")
    deadline = time.time() + 60
    while not (out / LOCK_FILE).is_file() or not (out / LOCK_FILE).read_text():
        assert time.time() < deadline and first.poll() is None
        time.sleep(0.05)
    other_out, _ = start(*second).communicate(timeout=120)
    first_out, _ = first.communicate(timeout=300)
    assert first.returncode == 0, first_out
    assert f"is in use by another prepare run (pid {first.pid}" in other_out, other_out
    assert "Traceback" not in other_out
    info = read_info(out)
    total = 0
    for split, entry in info["splits"].items():
        for shard in entry["shards"]:
            assert (out / shard["file"]).is_file()
        records = list(iter_records(out, split))
        assert len(records) == entry["records"] == len({r.id for r in records})
        total += len(records)
    assert total == info["records"] == 12
    assert {len(e["shards"]) for e in info["splits"].values()} == {3}
    assert not list(out.glob(".*.tmp"))
