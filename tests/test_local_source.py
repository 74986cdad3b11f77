"""The local source: a folder keyed by id, or a path column, pre-cut or whole recordings."""

import csv

import numpy as np
import pytest
import soundfile as sf

from musiccaps_kit.data.catalog import Clip, load_csv
from musiccaps_kit.data.sources import Category, FetchError
from musiccaps_kit.data.sources.local import LocalSource
from musiccaps_kit.resources import DEMO_AUDIO_DIR


def test_path_column_resolves_against_the_csv_folder(tmp_path):
    (tmp_path / "audio").mkdir()
    target = tmp_path / "audio" / "anything.flac"
    target.write_bytes((DEMO_AUDIO_DIR / "wesnoth-00-0.flac").read_bytes())
    with open(tmp_path / "set.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ytid", "start_s", "end_s", "caption", "path"])
        writer.writerow(["clip1", 0, 10, "a clip", "audio/anything.flac"])
        writer.writerow(["clip2", 0, 10, "gone", "audio/missing.flac"])
    cat = load_csv(tmp_path / "set.csv")
    source = LocalSource()
    assert source.fetch(cat["clip1"]).path == target.resolve()
    with pytest.raises(FetchError) as err:
        source.fetch(cat["clip2"])
    assert err.value.category == Category.MISSING_FILE


def test_whole_recordings_are_cut_and_precut_files_are_not(tmp_path):
    wave, rate = sf.read(DEMO_AUDIO_DIR / "wesnoth-00-0.flac", dtype="float32")
    sf.write(tmp_path / "longrecord1.flac", np.concatenate([wave, wave, wave]), rate)
    sf.write(tmp_path / "precutclip1.flac", wave, rate)
    source = LocalSource(audio_dir=tmp_path)
    whole = source.fetch(Clip("longrecord1", 12.0, 22.0, "x"))
    assert (whole.offset_s, whole.precut) == (12.0, False)
    cut = source.fetch(Clip("precutclip1", 30.0, 40.0, "x"))
    assert (cut.offset_s, cut.precut) == (0.0, True)
    forced = LocalSource(audio_dir=tmp_path, segment="precut").fetch(
        Clip("longrecord1", 12, 22, "x")
    )
    assert forced.precut and forced.offset_s == 0
    with pytest.raises(FetchError, match="no audio file"):
        source.fetch(Clip("nosuchclip1", 0, 10, "x"))


def test_local_prepare_without_audio_is_refused_before_any_work(tmp_path):
    from click.testing import CliRunner

    from musiccaps_kit.cli import main

    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["prepare", "--dataset", "musiccaps", "--source", "local", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "--source local needs --audio-dir or a path column" in result.output
    assert not out.exists()
