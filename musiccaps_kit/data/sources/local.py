"""Audio the user already has: a folder of files named by clip id, or a ``path`` column."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile as sf

from musiccaps_kit.data.catalog import Clip
from musiccaps_kit.data.sources.base import Fetched
from musiccaps_kit.data.sources.failures import Category, FetchError

AUDIO_EXTENSIONS = (".flac", ".wav", ".mp3", ".ogg", ".opus", ".m4a", ".webm", ".aac", ".aiff")
SEGMENT_MODES = ("auto", "precut", "full")


def audio_seconds(path: Path) -> float:
    """Length of an audio file from its header (libsndfile, else FFmpeg's demuxer)."""
    try:
        info = sf.info(str(path))
        return info.frames / info.samplerate
    except sf.LibsndfileError:
        import av

        try:
            with av.open(str(path)) as container:
                if container.duration is None:
                    raise FetchError(Category.BAD_MEDIA, f"{path.name}: unknown duration")
                return container.duration / av.time_base
        except av.FFmpegError as e:
            raise FetchError(Category.BAD_MEDIA, f"{path.name}: {e}") from None


@dataclass
class LocalSource:
    """Files named ``{ytid}.{ext}`` in ``audio_dir``, or the catalog's ``path`` column.

    ``segment`` says how a file relates to its clip: ``precut`` (the file is the clip, as
    in most MusicCaps downloads), ``full`` (the whole recording: cut [start_s, end_s]) or
    ``auto`` (full when the file reaches ``end_s``, else pre-cut).
    """

    audio_dir: str | Path | None = None
    segment: str = "auto"
    name: str = field(default="local", init=False)

    def __post_init__(self) -> None:
        if self.segment not in SEGMENT_MODES:
            raise ValueError(f"segment must be one of {SEGMENT_MODES}, not {self.segment!r}")

    def find(self, clip: Clip) -> Path:
        """The file for ``clip``, or ``FetchError(missing_file)``."""
        if clip.path:
            path = Path(clip.path)
            if path.is_file():
                return path
            raise FetchError(Category.MISSING_FILE, f"{clip.ytid}: no file at {path}")
        if self.audio_dir is None:
            raise FetchError(
                Category.MISSING_FILE, f"{clip.ytid}: no path column and no --audio-dir given"
            )
        folder = Path(self.audio_dir)
        for ext in AUDIO_EXTENSIONS:
            path = folder / f"{clip.ytid}{ext}"
            if path.is_file():
                return path
        raise FetchError(Category.MISSING_FILE, f"{clip.ytid}: no audio file in {folder}")

    def fetch(self, clip: Clip) -> Fetched:
        path = self.find(clip)
        precut = self.segment == "precut" or (
            self.segment == "auto" and audio_seconds(path) < clip.end_s
        )
        return Fetched(path, 0.0 if precut else clip.start_s, precut, downloaded=False)

    def forget(self, clip: Clip) -> None:
        pass  # the user's files are never deleted

    def recipe(self) -> dict[str, Any]:
        return {"source": self.name, "segment": self.segment}
