"""`mck prepare --dataset song-describer` on an SDD-shaped set built from real clips (SDD's
CSV columns, the release's file layout, MP3 tracks of several rates and channel counts,
one track missing and one damaged), from the unpacked release, its zip and its URL (a
download resumed with an HTTP Range request), and `mck bench` pairing a system's clips by
caption id while pooled metrics count each recording once."""

from __future__ import annotations

import csv
import functools
import http.server
import json
import threading
import zipfile

import numpy as np
import pytest
import soundfile as sf
import soxr
from click.testing import CliRunner

from musiccaps_kit.cli import main
from musiccaps_kit.data import song_describer
from musiccaps_kit.data.catalog import CatalogError

# track -> its captions; 1007274's file is missing from the release, 1009671's is damaged
TRACKS = {
    "1004034": ["859", "860"],
    "1005117": ["901", "902"],
    "1006200": ["910"],
    "1007274": ["990"],
    "1009671": ["233"],
}


@pytest.fixture(scope="module")
def sdd(realmusic, tmp_path_factory):
    root = tmp_path_factory.mktemp("sdd")
    rows = list(csv.DictReader(open(realmusic / "manifest.csv")))[::9]
    release = root / "release"
    lines, k = [], 0
    for n, (track, captions) in enumerate(TRACKS.items()):
        folder = f"{int(track) % 100:02d}"
        wave = np.concatenate(
            [sf.read(realmusic / "clips" / f"{rows[k + j]['clip_id']}.flac", dtype="float32")[0]
             for j in range(2)]
        )[: int((14 + 3 * n) * 24000)]  # fmt: skip
        k += 2
        path = release / "audio" / folder / f"{track}.2min.mp3"
        path.parent.mkdir(parents=True, exist_ok=True)
        if track == "1009671":
            path.write_bytes(b"ID3" + bytes(range(256)) * 40)  # not audio
        elif track != "1007274":
            rate = 44100 if n % 2 else 48000
            audio = soxr.resample(wave, 24000, rate)
            if n % 2:
                audio = np.stack([audio, 0.5 * audio], 1)  # stereo
            sf.write(path, audio, rate, format="MP3", subtype="MPEG_LAYER_III")
        for caption_id in captions:
            lines.append([caption_id, track, f"{rows[n]['genre_hint']} piece, take {caption_id}",
                          "True" if caption_id != "233" else "", "0", "7063", "118858",
                          f"{folder}/{track}.mp3", f"{200.5 + n}"])  # fmt: skip
    table = root / "sdd.csv"
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(song_describer.COLUMNS)
        writer.writerows(lines)
    archive = root / "song_describer_audio.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((release / "audio").rglob("*.mp3")):
            zf.write(path, path.relative_to(release).as_posix())
    return table, release, archive


def prepare(args, out):
    result = CliRunner().invoke(main, ["prepare", *args, "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    info = json.loads((out / "dataset_info.json").read_text())
    failures = {r["id"]: r["category"] for r in csv.DictReader(open(out / "failures.csv"))}
    return info, failures, list(csv.DictReader(open(out / song_describer.CAPTIONS_FILE)))


def test_one_record_per_track_from_the_unpacked_release(sdd, tmp_path):
    table, release, _ = sdd
    info, failures, captions = prepare(
        ["--dataset", str(table), "--audio-dir", str(release)], tmp_path / "out"
    )
    assert failures == {"1007274": "missing_file", "1009671": "bad_media"}
    assert info["splits"]["eval"]["records"] == 3  # one per recording, not per caption
    assert sorted(c["caption_id"] for c in captions) == ["859", "860", "901", "902", "910"]
    assert {c["caption_id"]: c["track_id"] for c in captions}["902"] == "1005117"
    from musiccaps_kit.bench.clips import ClipSet
    from musiccaps_kit.bench.run import bench_captions

    records = ClipSet(tmp_path / "out")
    assert records.ids() == {"859", "860", "901", "902", "910"}
    assert records.distinct_ids() == {"1004034", "1005117", "1006200"}
    # the whole track is kept: 14 s and 20 s files (the CSV's durations are the originals')
    assert len(records.audio("860", 24000)) == len(records.audio("1004034", 24000))
    assert abs(len(records.audio("1006200", 24000)) / 24000 - 20.0) < 0.1
    assert bench_captions("auto", records)["901"].endswith("take 901")


def test_from_the_release_zip_and_its_url(sdd, tmp_path):
    table, _, archive = sdd
    _, failures, captions = prepare(
        ["--dataset", str(table), "--archive", str(archive)], tmp_path / "zip"
    )
    assert failures == {"1007274": "missing_file", "1009671": "bad_media"}
    assert len(captions) == 5
    # over HTTP: a partial download is resumed with a Range request
    requests_seen, garbage = [], False

    class RangeHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802 - the base class's name
            requests_seen.append(self.headers.get("Range"))
            data = archive.read_bytes() if not garbage else b"<html>quota exceeded</html>"
            start = (
                int(self.headers["Range"].split("=")[1].split("-")[0])
                if self.headers.get("Range")
                else 0
            )
            self.send_response(206 if start else 200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(data) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            self.wfile.write(data[start:])

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(RangeHandler))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = tmp_path / "url"
        partial = out / "cache" / "raw" / f"{archive.name}.part"
        partial.parent.mkdir(parents=True)
        partial.write_bytes(archive.read_bytes()[:5000])  # a download that was cut
        url = f"http://127.0.0.1:{server.server_address[1]}/{archive.name}"
        _, failures, captions = prepare(["--dataset", str(table), "--archive", url], out)
        assert requests_seen == ["bytes=5000-"]  # one request, for the rest only
        assert (out / "cache" / "raw" / archive.name).read_bytes() == archive.read_bytes()
        assert failures == {"1007274": "missing_file", "1009671": "bad_media"}
        assert len(captions) == 5
        # a download that is not a zip (an error page) is removed and fetched again
        garbage, again = True, tmp_path / "again"
        _, failures, _ = prepare(["--dataset", str(table), "--archive", url], again)
        assert set(failures.values()) == {"network"} and len(failures) == 5
        assert not (again / "cache" / "raw" / archive.name).exists()
        garbage = False
        _, failures, _ = prepare(["--dataset", str(table), "--archive", url], again)
        assert failures == {"1007274": "missing_file", "1009671": "bad_media"}
    finally:
        server.shutdown()


def test_sdd_csv_of_another_version_and_bad_options(sdd, tmp_path):
    table, release, _ = sdd
    other = tmp_path / "other.csv"
    other.write_text("caption_id,track_id,caption\n1,2,a song\n")
    result = CliRunner().invoke(
        main,
        [
            "prepare",
            "--dataset",
            str(other),
            "--audio-dir",
            str(release),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2 and "missing columns is_valid_subset" in result.output
    result = CliRunner().invoke(
        main, ["prepare", "--dataset", str(table), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "--audio-dir" in result.output and "--archive" in result.output
    with pytest.raises(CatalogError, match="unknown Song Describer subset"):
        song_describer.catalog("vocals", table)
    full, captions = song_describer.catalog("all")  # the bundled CSV: 706 tracks, 1,106 captions
    assert len(full) == 706 and len(captions) == 1106
    assert len(song_describer.catalog("nosinging")[1]) == 586


def test_bench_pairs_by_caption_and_pools_each_recording_once(sdd, tmp_path):
    from musiccaps_kit.bench.clips import ClipSet
    from musiccaps_kit.bench.run import BenchSettings, run_bench
    from musiccaps_kit.bench.settings import model_options
    from tests.openl3_keras import save_keras_openl3

    table, release, _ = sdd
    prepare(["--dataset", str(table), "--audio-dir", str(release)], tmp_path / "records")
    records = ClipSet(tmp_path / "records")
    system = tmp_path / "generated"
    system.mkdir()
    rng = np.random.default_rng(0)
    for caption_id in sorted(records.ids()):  # a system's clips are named by caption
        wave = records.audio(caption_id, 24000)[: 10 * 24000]
        sf.write(system / f"{caption_id}.wav", wave + 0.02 * rng.standard_normal(len(wave)), 24000)
    save_keras_openl3(tmp_path / "openl3_audio_mel256_music.h5", (8, 8, 8, 8, 8, 8, 16, 16))
    options = model_options(openl3_weights=str(tmp_path / "openl3_audio_mel256_music.h5"))
    settings = BenchSettings(
        metrics=("kld_musicnn", "fd_openl3"), embedder_options=options, bootstrap_rounds=10
    )
    row = run_bench(tmp_path / "records", {"gen": system}, settings, tmp_path / "cache")["rows"][0]
    assert row["pairing"].common == ("859", "860", "901", "902", "910")
    assert set(row["results"]["kld_musicnn"].per_clip) == set(row["pairing"].common)
    fd = row["results"]["fd_openl3"].recipe
    from musiccaps_kit.bench.embedders.openl3_network import windows
    from musiccaps_kit.bench.resamplers import resampy_kaiser_best

    def count(clip_id):
        at44k = soxr.resample(records.audio(clip_id, 24000), 24000, 44100)
        return len(windows(resampy_kaiser_best(at44k, 44100, 48000), 0.5))

    # the 3 recordings (14, 17, 20 s) pooled once each, not once per caption
    assert fd["frames_reference"] == sum(count(t) for t in records.distinct_ids())
    assert fd["frames_reference"] < sum(count(c) for c in records.ids())
    assert fd["frames_system"] == 5 * 20  # five 10 s clips
