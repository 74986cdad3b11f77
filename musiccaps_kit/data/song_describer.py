"""The Song Describer Dataset (SDD; Manco et al., 2023): 1,106 captions of 706 recordings
(about 2 min each in its audio release), the second benchmark set of text-to-music papers
(Stable Audio, Stable Audio Open; stable-audio-metrics' ``load/song_describer*.csv``).

Its CSV: ``caption_id, track_id, caption, is_valid_subset, familiarity, artist_id,
album_id, path, duration`` (``path`` is the track's file in the release, ``34/1004034.mp3``,
shipped as ``34/1004034.2min.mp3``; ``duration`` the original track's length). A record
holds one *track*, whole; the captions go beside the records as ``captions.csv``
(``caption_id -> track_id``), so a bench pairs a system's clips, named by caption, with
the recording of their caption, and counts a recording captioned twice once where a metric
pools recordings (FD). Subsets: ``all``, ``valid`` (``is_valid_subset``: captions the
dataset's validation kept) and ``nosinging`` (stable-audio-metrics' no-singing caption ids).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from musiccaps_kit.atomic import write_text
from musiccaps_kit.data.catalog import CLIP_ID_PATTERN, Catalog, CatalogError, Clip
from musiccaps_kit.resources import SDD_CSV, SDD_NOSINGING_CSV
from musiccaps_kit.textfiles import read_utf8

COLUMNS = (
    "caption_id",
    "track_id",
    "caption",
    "is_valid_subset",
    "familiarity",
    "artist_id",
    "album_id",
    "path",
    "duration",
)
SUBSETS = ("all", "valid", "nosinging")
CAPTIONS_FILE = "captions.csv"
CAPTION_COLUMNS = ("caption_id", "track_id", "caption", "is_valid_subset", "no_singing")
DATASET = "song-describer"


@dataclass(frozen=True)
class Caption:
    caption_id: str
    track_id: str
    caption: str
    is_valid_subset: bool
    path: str
    duration_s: float


def read_csv(path: str | Path = SDD_CSV) -> list[Caption]:
    """The captions of an SDD CSV; another version's columns, a bad id, an empty caption or
    a duplicate caption id is a ``CatalogError`` naming the file, row and column."""
    path = Path(path)
    rows = list(csv.DictReader(io.StringIO(read_utf8(path), newline="")))
    header = set(rows[0]) if rows else set()
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise CatalogError(
            f"{path}: not the Song Describer Dataset CSV stable-audio-metrics uses "
            f"(missing columns {', '.join(missing)}; expected {', '.join(COLUMNS)})"
        )
    out, seen = [], set()
    for i, row in enumerate(rows, start=1):
        where = f"{path}: row {i}"
        for column in ("caption_id", "track_id"):
            if not CLIP_ID_PATTERN.match(row[column] or ""):
                raise CatalogError(f"{where}, column {column!r}: {row[column]!r} is not an id")
        if row["caption_id"] in seen:
            raise CatalogError(f"{where}, column 'caption_id': duplicate id {row['caption_id']}")
        seen.add(row["caption_id"])
        if not (row["caption"] or "").strip():
            raise CatalogError(f"{where}, column 'caption': empty caption")
        try:
            duration = float(row["duration"])
        except ValueError:
            raise CatalogError(f"{where}, column 'duration': {row['duration']!r}") from None
        out.append(
            Caption(
                row["caption_id"],
                row["track_id"],
                row["caption"].strip(),
                row["is_valid_subset"] == "True",
                row["path"],
                duration,
            )
        )
    return out


def csv_of(dataset: str) -> Path | None:
    """The SDD CSV a ``--dataset`` names: the bundled one for ``song-describer``, a CSV
    whose header has SDD's ``caption_id`` and ``track_id`` columns, or None."""
    if dataset == DATASET:
        return SDD_CSV
    path = Path(dataset)
    if path.suffix != ".csv" or not path.is_file():
        return None
    header = next(csv.reader(io.StringIO(read_utf8(path), newline="")), [])
    return path if {"caption_id", "track_id"} <= set(header) else None


def no_singing_ids() -> set[str]:
    """stable-audio-metrics' no-singing caption ids (``song_describer-nosinging.csv``)."""
    return {c.caption_id for c in read_csv(SDD_NOSINGING_CSV)}


def select(captions: list[Caption], subset: str) -> list[Caption]:
    if subset == "all":
        return captions
    if subset == "valid":
        return [c for c in captions if c.is_valid_subset]
    if subset == "nosinging":
        keep = no_singing_ids()
        return [c for c in captions if c.caption_id in keep]
    raise CatalogError(f"unknown Song Describer subset {subset!r}: use one of {SUBSETS}")


def catalog(subset: str = "all", csv_path: str | Path = SDD_CSV) -> tuple[Catalog, list[Caption]]:
    """A catalog of the subset's *tracks* (one clip each, the whole file: ``start_s`` 0,
    ``end_s`` the original track's length) and the subset's captions."""
    captions = select(read_csv(csv_path), subset)
    tracks: dict[str, Clip] = {}
    for c in sorted(captions, key=lambda c: int(c.caption_id) if c.caption_id.isdigit() else 0):
        if c.track_id not in tracks:
            tracks[c.track_id] = Clip(
                ytid=c.track_id,
                start_s=0.0,
                end_s=c.duration_s,
                caption=c.caption,
                is_audioset_eval=True,  # an evaluation set: one split, "eval"
                path=c.path,
            )
    clips = tuple(tracks[t] for t in sorted(tracks))
    return Catalog(
        f"{DATASET}-{subset}" if subset != "all" else DATASET, clips, str(csv_path)
    ), captions


def write_captions(out: str | Path, captions: list[Caption], tracks: set[str]) -> Path:
    """``captions.csv`` beside the records: the captions whose track has a record."""
    nosinging = no_singing_ids()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CAPTION_COLUMNS)
    for c in captions:
        if c.track_id in tracks:
            writer.writerow(
                [c.caption_id, c.track_id, c.caption, c.is_valid_subset, c.caption_id in nosinging]
            )
    path = Path(out) / CAPTIONS_FILE
    write_text(path, buffer.getvalue())
    return path


def _caption_rows(folder: str | Path) -> list[dict[str, str]]:
    path = Path(folder) / CAPTIONS_FILE
    if not path.is_file():
        return []
    return list(csv.DictReader(io.StringIO(read_utf8(path), newline="")))


def read_caption_table(folder: str | Path) -> dict[str, str]:
    """caption_id -> track_id of a record folder's ``captions.csv`` ({} without one)."""
    return {r["caption_id"]: r["track_id"] for r in _caption_rows(folder)}


def caption_texts(folder: str | Path) -> dict[str, str]:
    """caption_id -> caption of a record folder's ``captions.csv``."""
    return {r["caption_id"]: r["caption"] for r in _caption_rows(folder)}
