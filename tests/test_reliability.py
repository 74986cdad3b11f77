"""Reliability: one run per output folder, malformed catalogs and bench inputs with clear
errors or recorded warnings, caches that recover, and nothing already done lost."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from musiccaps_kit.data.catalog import FIELD_LIMIT, CatalogError, load_csv
from musiccaps_kit.data.folder_lock import LOCK_FILE, FolderBusyError, FolderLock

HEADER = ["ytid", "start_s", "end_s", "caption", "aspect_list"]


def _csv(path: Path, rows: list[list[str]], encoding="utf-8", header=HEADER) -> Path:
    with open(path, "w", newline="", encoding=encoding) as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_catalog_edge_cases_are_clear(tmp_path):
    big = "x" * (FIELD_LIMIT // 2)
    ok = load_csv(_csv(tmp_path / "big.csv", [["a1", "0", "10", big, f"['{big}']"]]))
    assert len(ok["a1"].caption) == FIELD_LIMIT // 2  # large fields up to the limit
    huge = "y" * (FIELD_LIMIT + 10)
    with pytest.raises(
        CatalogError, match=r"huge.csv: row 2 \(line .*\): field larger .*1,048,576"
    ):
        load_csv(
            _csv(
                tmp_path / "huge.csv", [["a1", "0", "10", "fine", ""], ["a2", "0", "10", huge, ""]]
            )
        )
    latin = _csv(
        tmp_path / "latin.csv",
        [["a1", "0", "10", "ok", ""], ["a2", "0", "10", "café", ""]],
        "latin-1",
    )
    with pytest.raises(
        CatalogError, match=r"latin.csv: line 3 is not UTF-8 \(byte 0xe9\).*re-save"
    ):
        load_csv(latin)
    with pytest.raises(CatalogError, match="a header but no rows"):
        load_csv(_csv(tmp_path / "empty.csv", []))
    bom = _csv(tmp_path / "bom.csv", [["a1", "0", "10", "with a bom", ""]], "utf-8-sig")
    assert load_csv(bom)["a1"].caption == "with a bom"
    for caption in ("", "   \t "):
        with pytest.raises(CatalogError, match="row 1.*caption.*missing value"):
            load_csv(_csv(tmp_path / "blank.csv", [["a1", "0", "10", caption, ""]]))
    with pytest.raises(CatalogError, match="lasts 0.01 s, under the 1 s minimum"):
        load_csv(_csv(tmp_path / "tiny.csv", [["a1", "0", "0.01", "short", ""]]))


def test_the_cli_says_what_is_wrong_with_a_catalog(tmp_path):
    from click.testing import CliRunner

    from musiccaps_kit.cli import main

    empty = _csv(tmp_path / "empty.csv", [])
    result = CliRunner().invoke(
        main, ["prepare", "--dataset", str(empty), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "a header but no rows" in result.output
    result = CliRunner().invoke(
        main,
        ["prepare", "--dataset", "demo", "--subset", "label:Jazz", "--out", str(tmp_path / "o")],
    )
    assert result.exit_code == 2 and "the selection has no clips" in result.output


def test_a_folder_lock_names_its_owner_and_dies_with_it(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from musiccaps_kit.data.folder_lock import FolderLock\n"
            f"with FolderLock({str(tmp_path)!r}, 'prepare'):\n"
            "    print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderBusyError, match=rf"pid {holder.pid} on .*wait for it"):
            with FolderLock(tmp_path, "prepare"):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the kernel dropped the dead run's lock: the next run takes the folder
    with FolderLock(tmp_path, "prepare") as lock:
        assert lock.owner()["pid"] == os.getpid()
    assert (tmp_path / LOCK_FILE).read_text() == ""


def _ref_folder(tmp_path, n=4):
    import shutil

    from musiccaps_kit.resources import DEMO_AUDIO_DIR

    ids = sorted(p.stem for p in DEMO_AUDIO_DIR.glob("*.flac"))[:n]
    ref = tmp_path / "ref"
    ref.mkdir()
    for clip_id in ids:
        shutil.copy(DEMO_AUDIO_DIR / f"{clip_id}.flac", ref)
    return ref, ids


def test_a_broken_clip_is_named_and_what_came_before_is_kept(tmp_path):
    import numpy as np
    import soundfile as sf

    from musiccaps_kit.bench.embedding_cache import ClipError
    from musiccaps_kit.bench.run import BenchSettings, run_bench

    ref, ids = _ref_folder(tmp_path)
    sys_dir = tmp_path / "sys"
    sys_dir.mkdir()
    for clip_id in ids[:3]:
        wave, rate = sf.read(ref / f"{clip_id}.flac")
        sf.write(sys_dir / f"{clip_id}.wav", wave, rate)
    nan = np.zeros(24000 * 10, dtype=np.float32)
    nan[100] = np.nan
    sf.write(sys_dir / f"{ids[3]}.wav", nan, 24000, subtype="FLOAT")
    settings = BenchSettings(metrics=("fad_musicnn",), bootstrap_rounds=10, batch_size=8)
    with pytest.raises(ClipError, match=rf"sys: clip {ids[3]} \(.*{ids[3]}.wav\): .*NaN"):
        run_bench(ref, {"sys": sys_dir}, settings, tmp_path / "cache")
    # the good clips of the failing batch were embedded one by one and are kept
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 3
    sf.write(sys_dir / f"{ids[3]}.wav", np.full(8000, 0.1, dtype=np.float32), 16000)
    with pytest.raises(ClipError, match=rf"clip {ids[3]} .*needs at least 3 s of audio"):
        run_bench(ref, {"sys": sys_dir}, settings, tmp_path / "cache")


def test_odd_files_silent_clips_and_long_clips_are_listed(tmp_path):
    import numpy as np
    import soundfile as sf

    from musiccaps_kit.bench.run import BenchSettings, bench_to_folder

    ref, ids = _ref_folder(tmp_path, 6)
    sys_dir = tmp_path / "sys"
    sys_dir.mkdir()
    for clip_id in ids[:4]:
        wave, rate = sf.read(ref / f"{clip_id}.flac")
        sf.write(sys_dir / f"{clip_id}.wav", wave, rate)
    sf.write(sys_dir / f"{ids[4]}.wav", np.zeros(160000, dtype=np.float32), 16000)
    long, rate = sf.read(ref / f"{ids[5]}.flac")
    sf.write(sys_dir / f"{ids[5]}.wav", np.tile(long, 30), rate)  # 5 minutes
    (sys_dir / "notes.txt").write_text("not a clip")
    sf.write(sys_dir / "bad name!.wav", np.zeros(16000, dtype=np.float32), 16000)
    settings = BenchSettings(metrics=("fad_musicnn",), bootstrap_rounds=10)
    with pytest.warns(UserWarning, match=f"{ids[5]} is length"):
        bench_to_folder(ref, {"sys": sys_dir}, settings, tmp_path / "out")
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    row = board["rows"][0]
    assert row["ignored_files"] == ["bad name!.wav", "notes.txt"]
    kinds = {(w["id"], w["kind"]) for w in row["clip_warnings"]}
    assert kinds == {(ids[4], "silent"), (ids[5], "length")}


def test_broken_cache_entries_are_recomputed_and_stale_temporaries_go(tmp_path):
    import numpy as np

    from musiccaps_kit.atomic import remove_stale_temporaries
    from musiccaps_kit.bench.embedders import make_embedder
    from musiccaps_kit.bench.embedding_cache import EmbeddingCache

    embedder = make_embedder("musicnn")
    wave = np.random.default_rng(0).normal(0, 0.1, 16000 * 4).astype(np.float32)
    cache = EmbeddingCache(tmp_path, embedder)
    first = cache(wave, 16000)
    (entry,) = cache.folder.glob("*.npy")
    entry.write_bytes(entry.read_bytes()[:40])  # a truncated write
    with pytest.warns(UserWarning, match=f"{entry}: unreadable embedding cache entry"):
        again = EmbeddingCache(tmp_path, embedder)(wave, 16000)
    assert np.array_equal(first, again) and np.array_equal(np.load(entry), first)
    stale, fresh = cache.folder / ".x.npy.abc.tmp", cache.folder / ".y.npy.def.tmp"
    stale.write_bytes(b"left by a killed run")
    fresh.write_bytes(b"another run is writing this")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    EmbeddingCache(tmp_path, embedder)
    assert not stale.exists() and fresh.exists()
    assert remove_stale_temporaries(tmp_path, older_than_s=0) == 1
    # a temporary names its writer: one of a process of this host that died goes at once,
    # a live writer's and another host's stay (until the age rule takes them)
    from musiccaps_kit.atomic import atomic_path

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    with atomic_path(cache.folder / "z.npy") as live:
        host = live.name.split("@")[1].split(".")[0]
        killed = cache.folder / f".x.npy.{dead}@{host}.k1l2.tmp"
        elsewhere = cache.folder / f".x.npy.{dead}@another-host.k1l2.tmp"
        for path in (live, killed, elsewhere):
            path.write_bytes(b"half an entry")
        EmbeddingCache(tmp_path, embedder)
        assert live.exists() and elsewhere.exists() and not killed.exists()
    assert (cache.folder / "z.npy").read_bytes() == b"half an entry"  # renamed into place


def _truncate(data: bytes) -> bytes:
    return data[:100]


def _flip_one_audio_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x10]) + data[middle + 1 :]


def _garble_header(data: bytes) -> bytes:
    from musiccaps_kit.data.clip_cache import MAGIC

    at = len(MAGIC) + 4 + 1  # inside the JSON header
    return data[:at] + b"\x00" + data[at + 1 :]


@pytest.mark.parametrize("damage", [_truncate, _flip_one_audio_byte, _garble_header])
def test_a_damaged_clip_cache_entry_is_fetched_again(tmp_path, demo_catalog, damage):
    from musiccaps_kit.data.preparation import PrepareConfig
    from musiccaps_kit.pipelines.prepare import run
    from musiccaps_kit.resources import DEMO_AUDIO_DIR

    cat = demo_catalog.only([c.ytid for c in demo_catalog][:3])
    config = PrepareConfig(
        name="demo",
        out_dir=str(tmp_path / "out"),
        cache_dir=str(tmp_path / "cache"),
        source_options={"audio_dir": str(DEMO_AUDIO_DIR)},
    )
    first = run(cat, config, progress=False)
    entry = sorted((tmp_path / "cache" / "clips").glob("*.seg"))[0]
    entry.write_bytes(damage(entry.read_bytes()))
    stale = tmp_path / "cache" / "clips" / ".dead.seg.xyz.tmp"
    stale.write_bytes(b"partial")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    with pytest.warns(UserWarning, match="unreadable cache entry"):
        again = run(cat, config, progress=False)
    assert again["records"] == first["records"] == 3 and again["last_run"]["fetched"] == 1
    assert [s["sha256"] for s in again["splits"]["eval"]["shards"]] == [
        s["sha256"] for s in first["splits"]["eval"]["shards"]
    ]
    assert not stale.exists()
