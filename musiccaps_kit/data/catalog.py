"""MusicCaps metadata: one ``Clip`` per row, loaded from a CSV or the Hugging Face hub.

The CSV format is MusicCaps' own (``musiccaps-public.csv``): ytid, start_s, end_s,
audioset_positive_labels, aspect_list, caption, author_id, is_balanced_subset,
is_audioset_eval. A custom caption set in the same format works everywhere MusicCaps does;
an optional ``path`` column points at a clip's audio file for the local source.
"""

from __future__ import annotations

import ast
import csv
import io
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from musiccaps_kit.data.audioset import load_class_map
from musiccaps_kit.resources import DEMO_CSV, MUSICCAPS_CSV
from musiccaps_kit.textfiles import read_utf8

HUB_DATASET = "google/MusicCaps"
REQUIRED_COLUMNS = ("ytid", "start_s", "end_s", "caption")
# The longest field a catalog CSV may hold (a caption, an aspect list): 1 MiB of text.
FIELD_LIMIT = 1 << 20
# The shortest clip a catalog may name: the models' windows are a second or more.
MIN_CLIP_S = 1.0
OPTIONAL_COLUMNS = (
    "audioset_positive_labels",
    "aspect_list",
    "author_id",
    "is_balanced_subset",
    "is_audioset_eval",
    "path",
)
# Clip ids become file names and record keys: keep them to a safe alphabet.
CLIP_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_LABEL_PATTERN = re.compile(r"^/[a-z]/[0-9a-z_]+$")
SUBSETS = ("all", "eval", "train", "balanced")


class CatalogError(ValueError):
    """A catalog that cannot be read; the message names the source, row and column."""


@dataclass(frozen=True)
class Clip:
    """One caption-audio pair: the segment [start_s, end_s] of a source recording."""

    ytid: str
    start_s: float
    end_s: float
    caption: str
    aspects: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    author_id: str = ""
    is_balanced_subset: bool = False
    is_audioset_eval: bool = False
    path: str = ""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def split(self) -> str:
        """``eval`` for clips from AudioSet's eval set, else ``train`` (MusicCaps has one split)."""
        return "eval" if self.is_audioset_eval else "train"


@dataclass(frozen=True)
class Catalog:
    """An ordered set of clips with unique ids, and where it came from."""

    name: str
    clips: tuple[Clip, ...]
    source: str = ""
    _by_id: dict[str, Clip] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {c.ytid: c for c in self.clips})

    def __len__(self) -> int:
        return len(self.clips)

    def __iter__(self) -> Iterator[Clip]:
        return iter(self.clips)

    def __contains__(self, ytid: object) -> bool:
        return ytid in self._by_id

    def __getitem__(self, ytid: str) -> Clip:
        return self._by_id[ytid]

    def ids(self) -> list[str]:
        return [c.ytid for c in self.clips]

    def subset(self, spec: str) -> Catalog:
        """Select clips: ``all``, ``eval``, ``train``, ``balanced`` or ``label:NAME_OR_MID``.

        ``eval``/``train`` follow ``is_audioset_eval``; ``balanced`` is the genre-balanced
        1k subset; ``label:`` keeps clips whose AudioSet labels include the class.
        """
        if spec == "all":
            keep = self.clips
        elif spec == "eval":
            keep = tuple(c for c in self.clips if c.is_audioset_eval)
        elif spec == "train":
            keep = tuple(c for c in self.clips if not c.is_audioset_eval)
        elif spec == "balanced":
            keep = tuple(c for c in self.clips if c.is_balanced_subset)
        elif spec.startswith("label:"):
            mid = load_class_map().resolve(spec.removeprefix("label:"))
            keep = tuple(c for c in self.clips if mid in c.labels)
        else:
            raise CatalogError(f"unknown subset {spec!r}: use one of {SUBSETS} or label:NAME")
        return Catalog(self.name, keep, self.source)

    def only(self, ids: Iterable[str]) -> Catalog:
        """The clips whose ids are in ``ids``, in catalog order."""
        wanted = set(ids)
        return Catalog(self.name, tuple(c for c in self.clips if c.ytid in wanted), self.source)


def parse_row(row: Mapping[str, Any], where: str) -> Clip:
    """Turn one CSV or hub row into a ``Clip``; ``where`` names the row in error messages."""

    def fail(column: str, problem: str) -> CatalogError:
        return CatalogError(f"{where}, column '{column}': {problem}")

    for column in REQUIRED_COLUMNS:
        if row.get(column) is None or not str(row[column]).strip():
            raise fail(column, "missing value")
    ytid = str(row["ytid"]).strip()
    if not CLIP_ID_PATTERN.match(ytid):
        raise fail("ytid", f"{ytid!r} is not a valid id (letters, digits, '_' and '-', 1-64)")
    start_s = _parse_seconds(row["start_s"], lambda p: fail("start_s", p))
    end_s = _parse_seconds(row["end_s"], lambda p: fail("end_s", p))
    if end_s <= start_s:
        raise fail("end_s", f"end_s {end_s} is not after start_s {start_s}")
    if end_s - start_s < MIN_CLIP_S:
        raise fail(
            "end_s", f"the clip lasts {end_s - start_s:g} s, under the {MIN_CLIP_S:g} s minimum"
        )
    return Clip(
        ytid=ytid,
        start_s=start_s,
        end_s=end_s,
        caption=str(row["caption"]).strip(),
        aspects=_parse_aspects(row.get("aspect_list"), lambda p: fail("aspect_list", p)),
        labels=_parse_labels(row.get("audioset_positive_labels"), lambda p: fail("labels", p)),
        author_id=_text(row.get("author_id")),
        is_balanced_subset=_parse_flag(
            row.get("is_balanced_subset"), lambda p: fail("is_balanced_subset", p)
        ),
        is_audioset_eval=_parse_flag(
            row.get("is_audioset_eval"), lambda p: fail("is_audioset_eval", p)
        ),
        path=_text(row.get("path")),
    )


def _parse_seconds(value: Any, fail) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise fail(f"{value!r} is not a number") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise fail(f"{value!r} is not a finite, non-negative number of seconds")
    return seconds


def _parse_aspects(value: Any, fail) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, list | tuple):
        items = value
    else:
        try:
            # MusicCaps writes the list as Python source: literal_eval, never eval.
            items = ast.literal_eval(str(value))
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise fail(f"{_short(value)} is not a Python list literal") from None
    if not isinstance(items, list | tuple) or not all(isinstance(a, str) for a in items):
        raise fail(f"{_short(value)} is not a list of strings")
    return tuple(a.strip() for a in items if a.strip())


def _parse_labels(value: Any, fail) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    labels = tuple(x.strip() for x in str(value).split(",") if x.strip())
    bad = [x for x in labels if not _LABEL_PATTERN.match(x)]
    if bad:
        raise fail(f"{bad[0]!r} is not an AudioSet id like /m/04rlf")
    return labels


def _parse_flag(value: Any, fail) -> bool:
    if value in (None, ""):
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise fail(f"{_short(value)} is not True or False")


def _text(value: Any) -> str:
    """An optional text cell; the hub gives numbers (author_id 0) where the CSV has text."""
    return "" if value is None else str(value).strip()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _build(name: str, rows: Iterable[tuple[str, Mapping[str, Any]]], source: str) -> Catalog:
    clips: list[Clip] = []
    first_seen: dict[str, str] = {}
    for where, row in rows:
        clip = parse_row(row, where)
        if clip.ytid in first_seen:
            raise CatalogError(
                f"{where}, column 'ytid': duplicate id {clip.ytid!r} "
                f"(first at {first_seen[clip.ytid]})"
            )
        first_seen[clip.ytid] = where
        clips.append(clip)
    return Catalog(name, tuple(clips), source)


def _csv_reader(path: Path, what: str) -> csv.DictReader:
    """A reader over a UTF-8 CSV (a BOM allowed; fields up to ``FIELD_LIMIT``
    characters); a file that cannot be read or is not UTF-8 is a ``CatalogError``."""
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    try:
        text = read_utf8(path)
    except OSError as e:
        raise CatalogError(f"{path}: cannot open {what}: {e.strerror}") from None
    except ValueError as e:
        raise CatalogError(str(e)) from None
    return csv.DictReader(io.StringIO(text, newline=""))


def load_csv(path: str | Path, name: str | None = None) -> Catalog:
    """Load any CSV in MusicCaps format (UTF-8, a BOM allowed; fields up to
    ``FIELD_LIMIT`` characters); relative ``path`` values resolve against its folder."""
    path = Path(path)
    reader = _csv_reader(path, "catalog")
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CatalogError(f"{path}: header lacks column(s) {', '.join(missing)}")

    def rows() -> Iterator[tuple[str, Mapping[str, Any]]]:
        i = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                raise CatalogError(
                    f"{path}: row {i + 1} (line {reader.line_num}): {e} (a field may hold "
                    f"at most {FIELD_LIMIT:,} characters)"
                ) from None
            i += 1
            if None in row:
                raise CatalogError(
                    f"{path}: row {i} (line {reader.line_num}): more fields than the header"
                )
            if row.get("path"):
                row["path"] = str((path.parent / row["path"]).resolve())
            yield f"{path}: row {i} (line {reader.line_num})", row

    catalog = _build(name or path.stem, rows(), str(path))
    if not len(catalog):
        raise CatalogError(f"{path}: a header but no rows")
    return catalog


def load_hub(dataset: str = HUB_DATASET, split: str = "train") -> Catalog:
    """Load MusicCaps from the Hugging Face hub with ``datasets`` (needs network).

    ``dataset`` may also be a local folder holding the CSV, which is how tests run offline.
    """
    import datasets

    table = datasets.load_dataset(dataset, split=split)
    rows = ((f"{dataset}[{split}]: row {i}", row) for i, row in enumerate(table, start=1))
    return _build("musiccaps", rows, f"hf:{dataset}")


def load(dataset: str) -> Catalog:
    """Resolve ``--dataset``: ``musiccaps`` (bundled CSV), ``demo``, ``hub`` or a CSV path."""
    if dataset == "musiccaps":
        return load_csv(MUSICCAPS_CSV, name="musiccaps")
    if dataset == "demo":
        return load_csv(DEMO_CSV, name="demo")
    if dataset == "hub":
        return load_hub()
    return load_csv(dataset)


def captions(spec: str) -> dict[str, str]:
    """Captions by id from a catalog name (``musiccaps``, ``demo``, ``hub``), a catalog CSV,
    or any CSV with ``caption`` and an id column, ``ytid`` or ``caption_id`` (the Song
    Describer Dataset's, whose generated clips are named by caption) (what a bench needs to
    score text consistency); a duplicate id or an empty caption is an error naming its
    row."""
    path = Path(spec)
    if not path.is_file():
        return {clip.ytid: clip.caption for clip in load(spec)}
    reader = _csv_reader(path, "captions")
    header = reader.fieldnames or []
    if all(c in header for c in REQUIRED_COLUMNS):
        return {clip.ytid: clip.caption for clip in load_csv(path)}
    key = "ytid" if "ytid" in header else "caption_id"
    if key not in header or "caption" not in header:
        raise CatalogError(
            f"{path}: captions need the columns ytid and caption (or caption_id and caption)"
        )
    out: dict[str, str] = {}
    try:
        for i, row in enumerate(reader, start=1):
            ytid, caption = (row.get(key) or "").strip(), (row.get("caption") or "").strip()
            where = f"{path}: row {i} (line {reader.line_num})"
            if not CLIP_ID_PATTERN.match(ytid):
                raise CatalogError(f"{where}, column {key!r}: {ytid!r} is not a valid id")
            if not caption:
                raise CatalogError(f"{where}, column 'caption': empty caption for {ytid}")
            if ytid in out:
                raise CatalogError(f"{where}, column {key!r}: duplicate id {ytid!r}")
            out[ytid] = caption
    except csv.Error as e:
        raise CatalogError(f"{path}: line {reader.line_num}: {e}") from None
    return out
