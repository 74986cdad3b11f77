"""Fetch a clip's [start_s, end_s] section with yt-dlp's Python API.

Only the section is downloaded (``download_ranges``) with keyframes forced at the cuts, so
the cut is exact rather than 10-30 ms off (yt-dlp's stream copy); ``FFmpegExtractAudio``
then keeps just the audio. Errors are raised, not ignored (``ignoreerrors=False``), so
that their cause can be categorised.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from musiccaps_kit.data.catalog import Clip
from musiccaps_kit.data.sources.base import Fetched
from musiccaps_kit.data.sources.failures import TRANSIENT, Category, FetchError, classify
from musiccaps_kit.ffmpeg import ffmpeg_dir

WATCH_URL = "https://www.youtube.com/watch?v={ytid}"
YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")


class _Collect:
    """A yt-dlp logger that keeps messages instead of printing them."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def debug(self, msg: str) -> None:
        pass

    info = debug

    def warning(self, msg: str) -> None:
        pass

    def error(self, msg: str) -> None:
        self.errors.append(msg)


@dataclass
class YoutubeSource:
    """yt-dlp with bounded retries, backoff, an optional sleep and an optional cookies file.

    ``url_template`` is formatted with ``ytid``: the YouTube watch URL by default; a mirror
    or a test server can stand in. Downloads land in ``raw_dir`` atomically; a file already
    there is reused without any request.
    """

    raw_dir: Path
    url_template: str = WATCH_URL
    retries: int = 3
    backoff_s: float = 2.0
    sleep_s: float = 0.0
    cookies: str | None = None
    audio_format: str = "best"
    socket_timeout_s: float = 30.0
    name: str = field(default="youtube", init=False)

    def cached_file(self, ytid: str) -> Path | None:
        hits = sorted(p for p in Path(self.raw_dir).glob(f"{ytid}.*") if p.is_file())
        return hits[0] if hits else None

    def forget(self, clip: Clip) -> None:
        cached = self.cached_file(clip.ytid)
        if cached is not None:
            cached.unlink(missing_ok=True)

    def fetch(self, clip: Clip) -> Fetched:
        if not YOUTUBE_ID.match(clip.ytid):
            raise FetchError(
                Category.INVALID_ID, f"{clip.ytid!r} is not an 11-character YouTube id"
            )
        cached = self.cached_file(clip.ytid)
        if cached is not None:
            return Fetched(cached, 0.0, precut=True, downloaded=False)
        attempt = 0
        while True:
            try:
                return Fetched(self._download(clip), 0.0, precut=True, downloaded=True)
            except FetchError as e:
                if e.category not in TRANSIENT or attempt >= self.retries:
                    raise
                time.sleep(self.backoff_s * 2**attempt)
                attempt += 1

    def _download(self, clip: Clip) -> Path:
        import yt_dlp

        if self.sleep_s:
            time.sleep(self.sleep_s)
        Path(self.raw_dir).mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{clip.ytid}-", dir=self.raw_dir))
        log = _Collect()
        options: dict[str, Any] = {
            "format": "bestaudio/best",
            "outtmpl": str(work / f"{clip.ytid}.%(ext)s"),
            "download_ranges": yt_dlp.utils.download_range_func(None, [(clip.start_s, clip.end_s)]),
            "force_keyframes_at_cuts": True,
            "postprocessors": [{"key": "FFmpegExtractAudio", "preferredcodec": self.audio_format}],
            "ffmpeg_location": ffmpeg_dir(),
            "noplaylist": True,
            "ignoreerrors": False,
            # Retries are ours (bounded, with backoff, only for transient causes).
            "retries": 0,
            "fragment_retries": 0,
            "extractor_retries": 0,
            "socket_timeout": self.socket_timeout_s,
            "quiet": True,
            "no_warnings": True,
            "noprogress": True,
            "logger": log,
        }
        if self.cookies:
            options["cookiefile"] = self.cookies
        try:
            with yt_dlp.YoutubeDL(options) as ydl:
                ydl.download([self.url_template.format(ytid=clip.ytid)])
            files = [p for p in work.iterdir() if p.is_file() and not p.name.endswith(".part")]
            if len(files) != 1:
                raise FetchError(
                    Category.BAD_MEDIA, f"{clip.ytid}: yt-dlp left {len(files)} files, expected 1"
                )
            final = Path(self.raw_dir) / files[0].name
            os.replace(files[0], final)
            return final
        except yt_dlp.utils.DownloadError as e:
            message = _describe(e, log)
            raise FetchError(classify(message), f"{clip.ytid}: {message}") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def recipe(self) -> dict[str, Any]:
        return {
            "source": self.name,
            "url_template": self.url_template,
            "audio_format": self.audio_format,
            "download_ranges": True,
            "force_keyframes_at_cuts": True,
        }


def _describe(error: Exception, log: _Collect) -> str:
    """The most specific message available: the cause's, an HTTP status, or the log's."""
    cause = error.exc_info[1] if getattr(error, "exc_info", None) else None
    parts = [str(error).removeprefix("ERROR: ")]
    status = getattr(cause, "status", None)
    if status is not None and f"HTTP Error {status}" not in parts[0]:
        parts.append(f"HTTP Error {status}")
    parts.extend(m.removeprefix("ERROR: ") for m in log.errors if m not in str(error))
    return "; ".join(dict.fromkeys(p.strip() for p in parts if p.strip()))
