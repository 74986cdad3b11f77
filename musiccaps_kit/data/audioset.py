"""The AudioSet class map and its music-genre classes.

The bundled map (../shared/data's) is YAMNet's 521-class subset of AudioSet's 527 classes:
it lacks male/female speech, male/female singing, battle cry and funny music, so a few
MusicCaps labels (e.g. /t/dd00003) are shown by their mid.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from musiccaps_kit.resources import AUDIOSET_CLASS_MAP

# The AudioSet ontology lists the children of "Music genre" contiguously in the class map,
# from "Pop music" to "Independent music" (AudioSet class_labels_indices.csv).
_FIRST_GENRE = "Pop music"
_LAST_GENRE = "Independent music"


@dataclass(frozen=True)
class ClassMap:
    """AudioSet machine ids (``/m/...``) and their display names, in class-index order."""

    mids: tuple[str, ...]
    names: tuple[str, ...]

    def name(self, mid: str) -> str:
        """Display name of ``mid``; the mid itself when the map does not know it."""
        return self._name_by_mid.get(mid, mid)

    def resolve(self, label: str) -> str:
        """Accept a mid or a display name (case-insensitive) and return the mid."""
        if label in self._name_by_mid:
            return label
        mid = self._mid_by_lower_name.get(label.lower())
        if mid is None:
            raise KeyError(f"unknown AudioSet label {label!r}: give a mid like /m/03_d0 or a name")
        return mid

    @property
    def genre_mids(self) -> tuple[str, ...]:
        """The music-genre classes ("Pop music" ... "Independent music")."""
        first = self.names.index(_FIRST_GENRE)
        last = self.names.index(_LAST_GENRE)
        return self.mids[first : last + 1]

    @cached_property
    def _name_by_mid(self) -> dict[str, str]:
        return dict(zip(self.mids, self.names, strict=True))

    @cached_property
    def _mid_by_lower_name(self) -> dict[str, str]:
        return {n.lower(): m for m, n in zip(self.mids, self.names, strict=True)}


@lru_cache(maxsize=4)
def load_class_map(path: Path = AUDIOSET_CLASS_MAP) -> ClassMap:
    """Read ``index,mid,display_name`` rows (the AudioSet ``class_labels_indices.csv`` format)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["index"]))
    return ClassMap(tuple(r["mid"] for r in rows), tuple(r["display_name"] for r in rows))
