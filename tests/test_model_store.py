"""The papers' weights by name: each column's released file found in $MCK_MODELS or fetched
once from a mirror (a loopback server following a web server's answers: Range, 5xx, HTML
error pages, cut connections), checked, locked against a second process, resumable after
Ctrl-C; offline, one message naming every missing file; and a bench with no model option
equal to one naming the same files by path, each column on its own release."""

from __future__ import annotations

import csv
import dataclasses
import errno
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
from click.testing import CliRunner

from musiccaps_kit.bench import model_store, releases
from musiccaps_kit.bench.model_store import DownloadError, MissingModels
from musiccaps_kit.cli import main
from tests.model_mirror import ModelMirror

CLAP_MUSIC = releases.CLAP_MUSIC.file
PASST20 = releases.PASST_20S.file
PASST10 = releases.PASST_10S.file
FUSION = releases.CLAP_FUSION_630K.file
OPENL3 = releases.OPENL3_MEL256_MUSIC.file


@pytest.fixture(scope="module")
def release_files(tmp_path_factory):
    """Small models of the real architectures under the released names, as the mirror
    serves them (openl3's gzipped, as its repository has it)."""
    from musiccaps_kit.bench.embedders import passt_network as P
    from tests.openl3_keras import save_keras_openl3
    from tests.test_sao import SMALL
    from tests.tiny_hf import laion_checkpoint, tiny_clap, tiny_fusion_clap

    root = tmp_path_factory.mktemp("releases")
    served, work = root / "served", root / "work"
    served.mkdir()
    work.mkdir()
    torch.manual_seed(11)
    torch.save(P.build(P.PasstConfig(width=64, depth=2)).state_dict(), served / PASST10)
    config20 = P.PasstConfig(width=64, depth=2, time_patches=200)
    torch.save(P.build(config20).state_dict(), served / PASST20)
    laion_checkpoint(tiny_clap(work / "clap", seed=4), served / CLAP_MUSIC)
    laion_checkpoint(tiny_fusion_clap(work / "fusion"), served / FUSION)
    h5 = work / releases.OPENL3_MEL256_MUSIC.local_name
    save_keras_openl3(h5, SMALL, seed=1)
    (served / OPENL3).write_bytes(gzip.compress(h5.read_bytes()))
    return served, work


@pytest.fixture
def store(release_files, tmp_path, monkeypatch):
    """$MCK_MODELS empty, a mirror of the small releases, and the release table's sizes
    set to theirs (the real ones are 344 MB)."""
    served, _ = release_files
    mirror = ModelMirror(served)
    monkeypatch.setenv("MCK_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("MCK_MODELS_MIRROR", mirror.url)
    for var in ("MCK_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    sized = tuple(
        dataclasses.replace(r, size=(served / r.file).stat().st_size) if r.size else r
        for r in releases.FILES
    )
    monkeypatch.setattr(releases, "FILES", sized)
    monkeypatch.setattr(model_store, "BACKOFF_S", 0.01)
    yield tmp_path / "models", mirror
    mirror.close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".part", ".tmp"))


def test_fetched_once_by_name_and_checked(store, release_files):
    folder, mirror = store
    served, _ = release_files
    path = model_store.fetch(model_store.by_name(PASST20))
    assert path == folder / PASST20
    assert path.read_bytes() == (served / PASST20).read_bytes()
    assert model_store.fetch(model_store.by_name(PASST20)) == path  # found, not fetched
    assert mirror.requests_for(PASST20) == [None]
    # openl3's release is gzipped: unpacked once to .h5 and checked as HDF5
    h5 = model_store.fetch(model_store.by_name(OPENL3))
    assert h5.name == "openl3_audio_mel256_music-v0_4_0.h5" and h5.read_bytes()[:4] == b"\x89HDF"
    assert not (folder / OPENL3).exists() and leftovers(folder) == []


def test_a_503_is_retried_and_a_cut_transfer_resumed(store, release_files):
    folder, mirror = store
    served, _ = release_files
    mirror.plan(PASST10, 503, 503)
    mirror.plan(CLAP_MUSIC, ("cut", 300_000), ("cut", 400_000))
    assert (
        model_store.fetch(model_store.by_name(PASST10)).read_bytes()
        == (served / PASST10).read_bytes()
    )
    assert mirror.requests_for(PASST10) == [None, None, None]
    got = model_store.fetch(model_store.by_name(CLAP_MUSIC))
    assert got.read_bytes() == (served / CLAP_MUSIC).read_bytes()
    first, second, third = mirror.requests_for(CLAP_MUSIC)
    # resumed where the kept bytes end (what the client had read of its last chunk)
    starts = [int(r.split("=")[1].rstrip("-")) for r in (second, third)]
    assert first is None and 0 < starts[0] <= 300_000 < starts[1] <= starts[0] + 400_000
    assert leftovers(folder) == []


@pytest.mark.parametrize(
    "answer, words",
    [
        ("html", "gave an HTML page"),
        (404, "answered HTTP 404"),
        ("cut", "after 5 tries"),
        ("wrong size", "the release has"),
        ("not a zip", "is not a zip archive"),
    ],
)
def test_bad_answers_are_refused_naming_file_and_url(store, release_files, answer, words):
    folder, mirror = store
    served, _ = release_files
    release = model_store.by_name(PASST10)
    if answer == "wrong size":
        original = (served / PASST10).read_bytes()
        (served / PASST10).write_bytes(original + b"extra")
    elif answer == "not a zip":
        original = (served / PASST10).read_bytes()
        (served / PASST10).write_bytes(b"GARBAGE!" + original[8:])
    elif answer == "cut":  # every try cut short: the part is kept for the next run
        mirror.plan(PASST10, *([("cut", 100_000)] * 5))
    else:
        mirror.plan(PASST10, *([answer] * 6))
    try:
        with pytest.raises(DownloadError) as e:
            model_store.fetch(release)
    finally:
        if answer in ("wrong size", "not a zip"):
            (served / PASST10).write_bytes(original)
    assert words in str(e.value) and PASST10 in str(e.value) and mirror.url in str(e.value)
    assert not (folder / PASST10).exists()  # never a bad file under the released name
    mirror.plans.clear()
    assert model_store.fetch(release).read_bytes() == (served / PASST10).read_bytes()
    if answer == "cut":
        assert mirror.requests_for(PASST10)[-1].startswith("bytes=")  # resumed


def test_a_folder_that_cannot_be_made_no_network_and_a_full_disk(store, tmp_path, monkeypatch):
    folder, mirror = store
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("MCK_MODELS", str(blocker / "models"))
    with pytest.raises(DownloadError, match=f"{PASST10}: cannot create .*a-file/models"):
        model_store.fetch(model_store.by_name(PASST10))
    monkeypatch.setenv("MCK_MODELS", str(folder))
    # no server at all (no network): the file and URL named
    monkeypatch.setenv("MCK_MODELS_MIRROR", "http://127.0.0.1:9")
    with pytest.raises(DownloadError, match=f"{PASST10}: http://127.0.0.1:9/{PASST10}: Conn"):
        model_store.fetch(model_store.by_name(PASST10))
    monkeypatch.setenv("MCK_MODELS_MIRROR", mirror.url)
    real_open = open

    class Full:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *_):
            self.handle.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    def full(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        return Full(handle) if str(path).endswith(".part") else handle

    monkeypatch.setattr(model_store, "open", full, raising=False)
    with pytest.raises(DownloadError, match=f"{PASST10}: the disk is full"):
        model_store.fetch(model_store.by_name(PASST10))
    assert not folder.joinpath(PASST10).exists() and leftovers(folder) == []


def _fetch_process(env: dict, name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "musiccaps_kit.cli", "models", "fetch", name],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a run started in the background (CI) ignores SIGINT, and a child inherits that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_two_processes_download_once_and_ctrl_c_resumes(release_files, tmp_path):
    """Real processes (`mck models fetch`) on a slow mirror: two at once make one download
    (and one unpacking of a gzipped release); one interrupted by SIGINT leaves no file
    under the released name, and the next run resumes with a Range request."""
    served, _ = release_files
    mirror = ModelMirror(served, delay_s=6.0)
    env = {**os.environ, "MCK_MODELS": str(tmp_path / "models"), "MCK_MODELS_MIRROR": mirror.url}
    env.pop("MCK_OFFLINE", None)
    try:
        runs = [_fetch_process(env, CLAP_MUSIC) for _ in range(2)]
        outs = [r.communicate(timeout=120) for r in runs]
        assert [r.returncode for r in runs] == [0, 0], outs
        assert mirror.requests_for(CLAP_MUSIC) == [None]  # one download for both
        target = tmp_path / "models" / CLAP_MUSIC
        assert target.read_bytes() == (served / CLAP_MUSIC).read_bytes()
        assert all(str(target) in out for out, _ in outs)
        # openl3's gzipped release: downloaded once and unpacked once, both processes served
        runs = [_fetch_process(env, OPENL3) for _ in range(2)]
        outs = [r.communicate(timeout=120) for r in runs]
        assert [r.returncode for r in runs] == [0, 0], outs
        assert mirror.requests_for(OPENL3) == [None]
        h5 = tmp_path / "models" / releases.OPENL3_MEL256_MUSIC.local_name
        assert h5.read_bytes()[:4] == b"\x89HDF" and not (tmp_path / "models" / OPENL3).exists()
        assert all(str(h5) in out for out, _ in outs)

        run = _fetch_process(env, FUSION)
        part = tmp_path / "models" / f"{FUSION}.part"
        deadline = time.time() + 60
        while not (part.exists() and part.stat().st_size > 0) and time.time() < deadline:
            time.sleep(0.05)
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=60)
        assert run.returncode != 0 and "interrupted" in err and FUSION in err
        assert not (tmp_path / "models" / FUSION).exists() and part.exists()
        had = part.stat().st_size
        again = _fetch_process(env, FUSION)
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
        assert mirror.requests_for(FUSION)[-1] == f"bytes={had}-"
        assert (tmp_path / "models" / FUSION).read_bytes() == (served / FUSION).read_bytes()
    finally:
        mirror.close()


def test_models_list_fetch_verify(store, release_files, tmp_path):
    folder, mirror = store
    runner = CliRunner()
    listed = runner.invoke(main, ["models", "list"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.count("not fetched") == 5 and f"{mirror.url}/{PASST20}" in listed.output
    carry = tmp_path / "carry"
    fetched = runner.invoke(main, ["models", "fetch", "musicgen", "--to", str(carry)])
    assert fetched.exit_code == 0, fetched.output
    kept = sorted(p.name for p in carry.iterdir() if p.suffix != ".lock")
    assert kept == sorted([CLAP_MUSIC, PASST20])
    assert runner.invoke(main, ["models", "fetch", "kld_passt_sao"]).exit_code == 0
    listed = runner.invoke(main, ["models", "list"])
    assert listed.output.count("not fetched") == 4 and "sha256: " in listed.output
    ok = runner.invoke(main, ["models", "verify"])
    assert ok.exit_code == 0 and f"ok  {PASST10}" in ok.output
    (folder / PASST10).write_bytes((folder / PASST10).read_bytes()[:-10])
    bad = runner.invoke(main, ["models", "verify"])
    assert bad.exit_code == 1 and f"BAD {PASST10}" in bad.output and "the release has" in bad.output
    unknown = runner.invoke(main, ["models", "fetch", "fad_nothing"])
    assert unknown.exit_code == 1 and "unknown metric 'fad_nothing'" in unknown.output


# --- the bench ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bench_inputs(realmusic, release_files, tmp_path_factory):
    from tests.hub_models import build_vggish_like

    root = tmp_path_factory.mktemp("bench")
    rows = list(csv.DictReader(open(realmusic / "manifest.csv")))[3::40][:3]
    ref, system = root / "ref", root / "sys"
    ref.mkdir()
    system.mkdir()
    for k, row in enumerate(rows):
        wave, rate = sf.read(realmusic / "clips" / f"{row['clip_id']}.flac", dtype="float32")
        sf.write(ref / f"{row['clip_id']}.flac", wave, rate)
        noisy = soxr.resample(wave, rate, 44100) + 0.01 * np.random.default_rng(k).normal(
            size=round(len(wave) * 44100 / rate)
        )
        sf.write(system / f"{row['clip_id']}.wav", noisy.astype(np.float32), 44100)
    captions = root / "captions.csv"
    captions.write_text(
        "ytid,caption\n" + "".join(f"{r['clip_id']},music number {k}\n" for k, r in enumerate(rows))
    )
    _, work = release_files
    common = [
        "bench", "--reference", str(ref), "--system", f"mine={system}",
        "--captions", str(captions), "--clap-tokenizer", str(work / "clap"),
        "--vggish", str(build_vggish_like(root / "vggish")), "--bootstrap", "10", "--no-inf",
    ]  # fmt: skip
    return common, root


def test_a_bench_with_no_model_option_gets_each_columns_release(
    store, bench_inputs, release_files, tmp_path
):
    """`--metrics musicgen,sao` with no model option: kld_passt on the 20 s PaSST and
    kld_passt_sao on the 10 s one, clap_score on the music CLAP and clap_score_sao on the
    fusion CLAP, fd_openl3 on openl3's file, each fetched once and claimed as its
    protocol; the same numbers as naming each file by path."""
    folder, mirror = store
    common, _ = bench_inputs
    served, work = release_files
    runner = CliRunner()

    def bench(out: str, *more: str, cache: str | None = None):
        result = runner.invoke(
            main,
            [*common, *more, "--cache-dir", str(tmp_path / f"cache-{cache or out}"),
             "--out", str(tmp_path / out)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        return json.loads((tmp_path / out / "leaderboard.json").read_text())

    fetched = bench("fetched", "--metrics", "musicgen,sao")
    names = sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))
    h5_name = releases.OPENL3_MEL256_MUSIC.local_name
    assert names == sorted([PASST20, PASST10, CLAP_MUSIC, FUSION, h5_name])
    assert all(len(mirror.requests_for(r.file)) == 1 for r in releases.FILES)
    columns = fetched["columns"]
    expect = {
        "kld_passt": (PASST20, "as MusicGen Table 1"),
        "clap_score": (CLAP_MUSIC, "as MusicGen Table 1"),
        "kld_passt_sao": (PASST10, "as stable-audio-metrics"),
        "clap_score_sao": (FUSION, "as stable-audio-metrics"),
        "fd_openl3": ("openl3_audio_mel256_music-v0_4_0.h5", "as stable-audio-metrics"),
    }
    for metric, (checkpoint, header) in expect.items():
        assert columns[metric]["checkpoint"] == checkpoint, (metric, columns[metric])
        assert columns[metric]["protocol"].startswith(header), (metric, columns[metric])
    again = bench("again", "--metrics", "musicgen,sao", cache="fetched")  # all cached
    assert all(len(mirror.requests_for(r.file)) == 1 for r in releases.FILES)
    h5 = work / "openl3_audio_mel256_music-v0_4_0.h5"
    named = bench(
        "named", "--metrics", "musicgen,sao",
        "--model", f"kld_passt={served / PASST20}", "--model", f"kld-passt-sao={served / PASST10}",
        "--model", f"clap_score={served / CLAP_MUSIC}",
        "--model", f"clap_score_sao={served / FUSION}",
        "--openl3-weights", str(h5),
    )  # fmt: skip
    for board in (again, named):
        for metric in expect:
            got = board["rows"][0]["metrics"][metric]["value"]
            assert got == pytest.approx(fetched["rows"][0]["metrics"][metric]["value"], rel=1e-6)
    assert fetched["rows"][0]["metrics"]["kld_passt"]["value"] != pytest.approx(
        fetched["rows"][0]["metrics"]["kld_passt_sao"]["value"], rel=1e-3
    )


def test_offline_names_every_missing_file_before_embedding(
    store, bench_inputs, tmp_path, monkeypatch
):
    common, _ = bench_inputs
    monkeypatch.setenv("MCK_OFFLINE", "1")
    cache = tmp_path / "cache"
    result = CliRunner().invoke(
        main,
        [
            *common,
            "--metrics",
            "musicgen,sao",
            "--cache-dir",
            str(cache),
            "--out",
            str(tmp_path / "o"),
        ],  # fmt: skip
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    for release in releases.FILES:
        assert release.file in result.output and model_store.url_of(release) in result.output
    assert "344," not in result.output  # the mirror's small sizes stand in for the table's
    assert "mck models fetch musicgen,sao --to DIR" in result.output
    assert "MCK_MODELS=DIR" in result.output and "--metrics offline" in result.output
    assert not cache.exists() or not any(cache.rglob("*.npy"))


def test_model_option_errors(store, bench_inputs, tmp_path):
    common, _ = bench_inputs
    runner = CliRunner()
    base = [*common, "--metrics", "kld_passt", "--out", str(tmp_path / "o")]
    unknown = runner.invoke(main, [*base, "--model", "kld_nothing=/x"])
    assert unknown.exit_code == 1 and "unknown metric 'kld_nothing'" in unknown.output
    missing = runner.invoke(main, [*base, "--model", "kld_passt=/no/such.pt"])
    assert missing.exit_code == 1 and "/no/such.pt does not exist" in missing.output
    none = runner.invoke(main, [*base, "--model", "fad_musicnn=/tmp"])
    assert none.exit_code == 1 and "fad_musicnn takes no model weights" in none.output


def test_missing_models_message_lists_sizes(monkeypatch):
    monkeypatch.setenv("MCK_OFFLINE", "1")
    message = str(MissingModels([releases.PASST_20S, releases.CLAP_FUSION_630K], "musicgen,sao"))
    assert "344,975,942 bytes" in message and releases.PASST_20S.url in message
    assert "downloads are off" in message
