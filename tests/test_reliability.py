"""Reliability: one run per output folder, malformed catalogs and bench inputs with clear
errors or recorded warnings, caches that recover, and nothing already done lost."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
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
