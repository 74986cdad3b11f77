"""Where a clip's audio comes from: YouTube through yt-dlp, or local files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from musiccaps_kit.data.sources.base import Fetched, Source
from musiccaps_kit.data.sources.failures import TRANSIENT, Category, FetchError, classify

__all__ = ["TRANSIENT", "Category", "FetchError", "Fetched", "Source", "classify", "make_source"]


def make_source(kind: str, cache_dir: str | Path, **settings: Any) -> Source:
    """Build the source named ``kind`` (``youtube``, ``local`` or ``song-describer``) with
    its settings."""
    if kind == "youtube":
        from musiccaps_kit.data.sources.youtube import YoutubeSource

        return YoutubeSource(raw_dir=Path(cache_dir) / "raw", **settings)
    if kind == "local":
        from musiccaps_kit.data.sources.local import LocalSource

        return LocalSource(**settings)
    if kind == "song-describer":
        from musiccaps_kit.data.sources.song_describer import SongDescriberSource

        return SongDescriberSource(raw_dir=Path(cache_dir) / "raw", **settings)
    raise ValueError(f"unknown source {kind!r}: use youtube, local or song-describer")
