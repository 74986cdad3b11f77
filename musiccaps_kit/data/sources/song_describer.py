"""The Song Describer Dataset's audio release as a source: its tracks, whole.

The release (Zenodo) is a zip of ``audio/<dir>/<track>.2min.mp3`` files; the dataset's CSV
names each track ``<dir>/<track>.mp3``. ``audio_dir`` is the release unpacked (the files
are looked up under both names, with or without the ``audio/`` folder); ``archive`` is the
zip itself, a local file or a URL. A URL is downloaded once into the cache with resume
(HTTP ``Range``), under a lock that every worker of the pipeline waits on; each track is
then extracted from the zip into the cache when first asked for. A track the release lacks
is a ``missing_file`` failure, a damaged one (CRC error, undecodable) ``bad_media``, a
failed download ``network`` (retried by the next run), each counted as ``mck prepare``
counts them.
"""

from __future__ import annotations

import fcntl
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from musiccaps_kit.atomic import atomic_path
from musiccaps_kit.data.catalog import Clip
from musiccaps_kit.data.sources.base import Fetched
from musiccaps_kit.data.sources.failures import Category, FetchError
from musiccaps_kit.data.sources.local import audio_seconds

CHUNK = 1 << 20


def names(clip: Clip) -> list[str]:
    """The release's names for a track, most likely first."""
    stem = clip.path.rsplit(".", 1)[0] if clip.path else clip.ytid
    bases = [f"{stem}.2min.mp3", clip.path] if clip.path else [f"{clip.ytid}.2min.mp3"]
    return [f"audio/{b}" for b in bases] + bases


@contextmanager
def _locked(path: Path):
    """A blocking advisory lock on ``path`` (one download at a time across processes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def download(url: str, dest: Path, timeout_s: float = 60.0) -> Path:
    """``url`` at ``dest``, resuming a partial ``dest.part`` with an HTTP ``Range`` request;
    the finished file is renamed into place, so ``dest`` is whole or absent."""
    import requests

    part = dest.with_name(dest.name + ".part")
    with _locked(dest.with_name(dest.name + ".lock")):
        if dest.is_file():
            return dest
        have = part.stat().st_size if part.is_file() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with requests.get(url, headers=headers, stream=True, timeout=timeout_s) as response:
                if response.status_code == 416:  # nothing left to send: the part is whole
                    part.rename(dest)
                    return dest
                response.raise_for_status()
                mode = "ab" if have and response.status_code == 206 else "wb"
                with open(part, mode) as f:
                    for chunk in response.iter_content(CHUNK):
                        f.write(chunk)
        except requests.RequestException as e:
            raise FetchError(Category.NETWORK, f"{url}: {e} (resumed on the next run)") from None
        part.rename(dest)
    return dest


@dataclass
class SongDescriberSource:
    audio_dir: str | Path | None = None
    archive: str | None = None
    raw_dir: str | Path = ""
    name: str = field(default="song-describer", init=False)

    def __post_init__(self) -> None:
        if (self.audio_dir is None) == (self.archive is None):
            raise ValueError("the Song Describer source needs --audio-dir or --archive (one)")

    def _zip_path(self) -> Path:
        spec = str(self.archive)
        if self._downloaded():
            return download(spec, Path(self.raw_dir) / Path(spec.split("?")[0]).name)
        return Path(spec)

    def _from_folder(self, clip: Clip) -> Path:
        folder = Path(self.audio_dir)
        for name in names(clip):
            if (folder / name).is_file():
                return folder / name
        raise FetchError(Category.MISSING_FILE, f"{clip.ytid}: no {names(clip)[2]} in {folder}")

    def _from_archive(self, clip: Clip) -> Path:
        out = Path(self.raw_dir) / "tracks" / f"{clip.ytid}.mp3"
        if out.is_file():
            return out
        archive = self._zip_path()
        try:
            zf = zipfile.ZipFile(archive)
        except (zipfile.BadZipFile, OSError) as e:
            if self._downloaded():  # not a zip (or removed by another worker for that)
                archive.unlink(missing_ok=True)
                raise FetchError(
                    Category.NETWORK,
                    f"{clip.ytid}: the download {archive.name} is not a zip ({e}): removed, "
                    "downloaded again on the next run",
                ) from None
            if isinstance(e, FileNotFoundError):
                raise FetchError(
                    Category.MISSING_FILE, f"{clip.ytid}: no archive at {archive}"
                ) from None
            raise FetchError(Category.BAD_MEDIA, f"{clip.ytid}: {archive}: {e}") from None
        try:
            with zf:
                members = set(zf.namelist())
                found = next((n for n in names(clip) if n in members), None)
                if found is None:
                    raise FetchError(
                        Category.MISSING_FILE,
                        f"{clip.ytid}: {archive.name} has no {names(clip)[2]}",
                    )
                with atomic_path(out) as tmp, zf.open(found) as src, open(tmp, "wb") as dst:
                    while block := src.read(CHUNK):
                        dst.write(block)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as e:
            raise FetchError(Category.BAD_MEDIA, f"{clip.ytid}: {archive.name}: {e}") from None
        return out

    def _downloaded(self) -> bool:
        return str(self.archive).startswith(("http://", "https://"))

    def fetch(self, clip: Clip) -> Fetched:
        path = self._from_folder(clip) if self.audio_dir else self._from_archive(clip)
        return Fetched(path, 0.0, True, downloaded=False, duration_s=audio_seconds(path))

    def forget(self, clip: Clip) -> None:
        if self.archive:
            (Path(self.raw_dir) / "tracks" / f"{clip.ytid}.mp3").unlink(missing_ok=True)

    def recipe(self) -> dict[str, Any]:
        return {"source": self.name, "segment": "whole track"}
