"""The ratings schema: the five answers, their scores, and the exported CSV's columns.

A rating keeps the order shown (``source_a`` played as A, ``source_b`` as B) and the raw
answer; the score towards a source is derived from both, never stored instead of them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from musiccaps_kit.textfiles import read_utf8

# The paper's five points, as shown: strong or weak preference for A, none, for B.
ANSWERS = ("A_strong", "A_weak", "none", "B_weak", "B_strong")
ANSWER_LABELS = {
    "A_strong": "Strongly prefer A",
    "A_weak": "Slightly prefer A",
    "none": "No preference",
    "B_weak": "Slightly prefer B",
    "B_strong": "Strongly prefer B",
}
SCORE_TOWARDS_A = {"A_strong": 2, "A_weak": 1, "none": 0, "B_weak": -1, "B_strong": -2}
COLUMNS = (
    "study",
    "rater",
    "clip_id",
    "source_a",
    "source_b",
    "answer",
    "reason",
    "comments",
    "time_taken_s",
    "rated_at",
)
MAX_TEXT = 2000


def score_towards(row: dict[str, Any], source: str) -> int:
    """+2..-2 towards ``source`` (one of the row's two), the A/B order undone."""
    score = SCORE_TOWARDS_A[row["answer"]]
    if source == row["source_a"]:
        return score
    if source == row["source_b"]:
        return -score
    raise ValueError(f"{source!r} is not in this comparison")


def winner(row: dict[str, Any]) -> str | None:
    """The preferred source (strong or weak), or None for no preference."""
    score = SCORE_TOWARDS_A[row["answer"]]
    return row["source_a"] if score > 0 else row["source_b"] if score < 0 else None


# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, prefixed with ``'`` (OWASP's
    advice for CSV injection); numbers and other cells unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_text(rows: Iterable[dict[str, Any]]) -> str:
    """Ratings as CSV text, one row each, in ``COLUMNS`` order; text cells that start like a
    formula (=, +, -, @, tab, carriage return) get a leading ``'``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: neutralise(row.get(k, "")) for k in COLUMNS})
    return buffer.getvalue()


def write_csv(rows: Iterable[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(csv_text(rows), encoding="utf-8", newline="")
    return path


def read_csv(path: str | Path) -> list[dict[str, Any]]:
    """Ratings from an exported CSV; a row with an unknown answer or a missing column is
    an error naming its line."""
    with io.StringIO(read_utf8(path), newline="") as f:
        reader = csv.DictReader(f)
        needed = {"rater", "clip_id", "source_a", "source_b", "answer"}
        missing = needed - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}")
        rows = []
        for row in reader:
            if row["answer"] not in SCORE_TOWARDS_A:
                raise ValueError(
                    f"{path}, line {reader.line_num}: answer {row['answer']!r} is not one of "
                    f"{ANSWERS}"
                )
            if row["source_a"] == row["source_b"] or not row["source_a"] or not row["source_b"]:
                raise ValueError(f"{path}, line {reader.line_num}: a comparison needs two sources")
            rows.append(row)
    return rows


def load_ratings(source: str, study: str | None = None) -> list[dict[str, Any]]:
    """Ratings from an exported CSV file or a database URL (``sqlite:///...``, ...)."""
    if "://" in source:
        from musiccaps_kit.listening.db import export_rows, make_engine

        return export_rows(make_engine(source, must_exist=True), study)
    rows = read_csv(source)
    return [r for r in rows if study is None or r.get("study") == study]
