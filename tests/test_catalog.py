import csv
import json

import pytest
from click.testing import CliRunner

from musiccaps_kit.cli import main
from musiccaps_kit.data import catalog
from musiccaps_kit.data.catalog import CatalogError, load_csv
from musiccaps_kit.data.catalog_stats import counts, genre_counts
from musiccaps_kit.resources import MUSICCAPS_CSV, PAPER_TABLE1


def test_bundled_musiccaps_counts_match_the_paper():
    cat = catalog.load("musiccaps")
    expected = json.loads(PAPER_TABLE1.read_text())["musiccaps_counts"]
    got = counts(cat)
    for key in ("all", "audioset_eval", "audioset_train", "genre_balanced", "annotators"):
        assert got[key] == expected[key], key
    assert all(c.duration_s == 10 for c in cat)
    assert len(cat.subset("balanced")) == 1000
    assert all(c.is_audioset_eval for c in cat.subset("balanced"))


def test_rows_are_parsed_into_lists_and_flags():
    cat = catalog.load("musiccaps")
    clip = cat["-0Gj8-vB1q4"]
    assert clip.aspects[:2] == ("low quality", "sustained strings melody")
    assert clip.labels == ("/m/0140xf", "/m/02cjck", "/m/04rlf")
    assert clip.start_s == 30 and clip.end_s == 40
    assert clip.is_audioset_eval and not clip.is_balanced_subset
    assert clip.split == "eval"


def test_label_subset_by_name_and_mid():
    cat = catalog.load("musiccaps")
    jazz = cat.subset("label:Jazz")
    assert len(jazz) > 0
    assert len(jazz) == len(cat.subset("label:/m/03_d0"))
    assert all("/m/03_d0" in c.labels for c in jazz)
    with pytest.raises(KeyError, match="unknown AudioSet label"):
        cat.subset("label:Not a genre")


def _write(tmp_path, rows, header=None):
    path = tmp_path / "custom.csv"
    with open(MUSICCAPS_CSV, newline="") as f:
        reader = csv.reader(f)
        real_header = next(reader)
        real_rows = [next(reader) for _ in range(3)]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header or real_header)
        writer.writerows(real_rows)
        writer.writerows(rows)
    return path, real_header, real_rows


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("aspect_list", "['unclosed', ", "column 'aspect_list'"),
        ("aspect_list", "__import__('os').system('echo pwned')", "column 'aspect_list'"),
        ("aspect_list", "[1, 2]", "not a list of strings"),
        ("is_audioset_eval", "maybe", "column 'is_audioset_eval'"),
        ("start_s", "thirty", "column 'start_s'"),
        ("end_s", "5", "not after start_s"),
        ("ytid", "../../etc/passwd", "column 'ytid'"),
        ("audioset_positive_labels", "music,rock", "column 'labels'"),
        ("caption", "", "missing value"),
    ],
)
def test_malformed_row_names_row_and_column(tmp_path, column, value, message):
    _, header, rows = _write(tmp_path, [])
    bad = list(rows[0])
    bad[0] = "zzzzzzzzzzz"
    bad[header.index(column)] = value
    path, _, _ = _write(tmp_path, [bad])
    with pytest.raises(CatalogError) as err:
        load_csv(path)
    assert "row 4" in str(err.value)
    assert message in str(err.value)


def test_duplicate_ids_and_missing_columns_are_errors(tmp_path):
    _, _, rows = _write(tmp_path, [])
    path, _, _ = _write(tmp_path, [rows[0]])
    with pytest.raises(CatalogError, match=r"duplicate id .*\(first at .*row 1 "):
        load_csv(path)
    path, _, _ = _write(tmp_path, [], header=["ytid", "start_s", "end_s", "aspect_list"])
    with pytest.raises(CatalogError, match="header lacks column"):
        load_csv(path)


def test_hub_loader_converts_a_datasets_table(tmp_path):
    folder = tmp_path / "hub"
    folder.mkdir()
    (folder / "musiccaps-public.csv").write_bytes(MUSICCAPS_CSV.read_bytes())
    hub = catalog.load_hub(str(folder))
    local = catalog.load("musiccaps")
    assert hub.clips == local.clips


def test_demo_set_is_bundled_and_real(demo_catalog):
    assert len(demo_catalog) == 24
    assert {c.split for c in demo_catalog} == {"eval", "train"}
    assert all(c.caption and c.aspects and c.labels for c in demo_catalog)
    assert genre_counts(demo_catalog)["Electronic music"] == 15  # nexuiz, warzone, singularity


def test_catalog_stats_command_prints_counts_and_draws_png(tmp_path):
    plot = tmp_path / "genres.png"
    result = CliRunner().invoke(main, ["catalog", "stats", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    for figure in ("5,521", "2,858", "2,663", "1,000"):
        assert figure in result.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_captions_come_from_a_catalog_or_any_ytid_caption_csv(tmp_path):
    from musiccaps_kit.data.catalog import CatalogError, captions

    demo = captions("demo")
    assert len(demo) == 24 and all(demo.values())
    path = tmp_path / "captions.csv"
    path.write_text('ytid,caption,extra\nabc,a calm piano,x\ndef,"loud, fast rock",y\n')
    assert captions(str(path)) == {"abc": "a calm piano", "def": "loud, fast rock"}
    for body, message in (
        ("ytid,caption\nabc,one\nabc,two\n", "row 2 .*duplicate id 'abc'"),
        ("ytid,caption\nabc,\n", "row 1 .*empty caption for abc"),
        ("id,text\nabc,one\n", "need the columns ytid and caption"),
        ("ytid,caption\nbad id!,one\n", "row 1 .*not a valid id"),
    ):
        path.write_text(body)
        with pytest.raises(CatalogError, match=message):
            captions(str(path))
