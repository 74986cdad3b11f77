"""The source interface and the factory that builds a source from picklable settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from musiccaps_kit.data.catalog import Clip


@dataclass(frozen=True)
class Fetched:
    """An audio file on local disk that holds a clip, and where in it the clip starts.

    ``precut`` files are the clip itself (offset 0); others are longer recordings.
    ``downloaded`` is False when the file was already there (no network was used).
    ``duration_s``, when given, is the length to keep in place of the clip's (a source whose
    records hold whole files: the Song Describer Dataset's tracks).
    """

    path: Path
    offset_s: float
    precut: bool
    downloaded: bool
    duration_s: float | None = None


class Source(Protocol):
    """Turns a catalog clip into a local audio file, or raises ``FetchError``."""

    name: str

    def fetch(self, clip: Clip) -> Fetched: ...

    def forget(self, clip: Clip) -> None:
        """Drop any downloaded copy of ``clip`` so that the next fetch asks again."""

    def recipe(self) -> dict[str, Any]: ...
