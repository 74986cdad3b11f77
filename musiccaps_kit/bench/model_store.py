"""The released model files a bench uses by default, found by name or fetched once.

A release (``bench.releases.FILES``) not named by an option is looked up under its
released name in ``$MCK_MODELS`` (default: ``models/`` in mck's cache folder), else
downloaded there: from ``$MCK_MODELS_MIRROR/<file name>`` when that is set (an internal
mirror), else from the Hugging Face hub through ``huggingface_hub`` for the files it hosts
(kept in its cache; ``HF_ENDPOINT`` works as usual), else from the release URL.

A download is written to ``<name>.part`` under a lock (one process fetches a file; the
others wait and use it), resumed with a Range request after a cut connection or an
interrupted run, retried with backoff on 5xx answers, and renamed to the released name
only when its byte count equals the Content-Length and the release's size and its first
bytes are the format the file must be (a ``.pt`` is a zip archive, ``.gz`` gzip, ``.h5``
HDF5): an HTML error page or a truncated file never sits under a released name.

With ``MCK_OFFLINE=1`` or ``HF_HUB_OFFLINE=1`` nothing is downloaded: what is missing is
named, with the command that fetches it elsewhere (``MissingModels``).
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import shutil
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from musiccaps_kit.atomic import atomic_path
from musiccaps_kit.bench import releases
from musiccaps_kit.bench.releases import Release
from musiccaps_kit.checksums import cache_root

# the first bytes of each format a release comes in
MAGIC = {".pt": b"PK\x03\x04", ".gz": b"\x1f\x8b", ".h5": b"\x89HDF\r\n\x1a\n"}
FORMAT = {".pt": "a zip archive (torch.save)", ".gz": "gzip", ".h5": "HDF5"}
ATTEMPTS = 5  # tries of one download (cut connections resume where they stopped)
BACKOFF_S = 0.5  # doubled after each failed try
CHUNK = 1 << 16  # a cut connection loses at most one chunk
TIMEOUT_S = (15, 60)  # connect, read


class DownloadError(ValueError):
    """A release that could not be fetched: the message names the file and the URL."""


class MissingModels(ValueError):
    """Releases a bench needs that are not here and cannot be downloaded."""

    def __init__(self, missing: list[Release], asked: str, reasons: dict[str, str] | None = None):
        self.missing, self.asked, self.reasons = missing, asked, reasons or {}
        super().__init__(self.message())

    def message(self) -> str:
        why = (
            "downloads are off (MCK_OFFLINE or HF_HUB_OFFLINE)"
            if offline()
            else "their download failed"
        )
        lines = [f"{len(self.missing)} model file(s) this bench needs are not here and {why}:"]
        for r in self.missing:
            size = f"{r.size:,} bytes" if r.size else "size given by the server"
            lines.append(f"  {r.file}  ({size}; for {', '.join(r.columns)})  {url_of(r)}")
            if r.file in self.reasons:
                lines.append(f"    {self.reasons[r.file]}")
        lines += [
            f"Where there is network: mck models fetch {self.asked} --to DIR",
            "Then here: MCK_MODELS=DIR mck bench ... (or name each file: --model METRIC=FILE);",
            "mck bench --metrics offline needs no download.",
        ]
        return "\n".join(lines)


def models_dir() -> Path:
    """``$MCK_MODELS``, else ``models/`` in mck's cache folder."""
    return Path(os.environ.get("MCK_MODELS") or cache_root() / "models").expanduser()


def offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in ("MCK_OFFLINE", "HF_HUB_OFFLINE")
    )


def mirror() -> str | None:
    value = os.environ.get("MCK_MODELS_MIRROR", "").strip()
    return value.rstrip("/") or None


def url_of(release: Release) -> str:
    """Where the release comes from now: the mirror's copy, or its own URL."""
    return f"{mirror()}/{release.file}" if mirror() else release.url


def by_name(name: str) -> Release:
    """The release of a released file name (``.gz`` or not)."""
    for release in releases.FILES:
        if name in (release.file, release.local_name):
            return release
    raise ValueError(f"{name}: not a released model file (known: {', '.join(names())})")


def names() -> list[str]:
    return [r.file for r in releases.FILES]


def _use_hub(release: Release) -> bool:
    return release.hub is not None and mirror() is None


def locate(release: Release, folder: Path | None = None) -> Path | None:
    """The release's file if it is already here: under its name in ``folder`` (default
    ``models_dir()``), or for a hub file in the Hugging Face cache."""
    folder = folder or models_dir()
    local = folder / release.local_name
    if local.is_file():
        return local
    if release.packed and (folder / release.file).is_file():
        return _unpack(folder / release.file, local)
    if release.hub is not None:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(*release.hub)
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def fetch(release: Release, folder: Path | None = None) -> Path:
    """The release's local file, downloaded once if it is not here (``DownloadError``
    naming the file and URL when that fails; ``MissingModels`` when offline)."""
    target = folder or models_dir()
    found = locate(release, target)
    if found is not None:
        return found
    if offline():
        raise MissingModels([release], release.columns[0])
    if _use_hub(release):
        return _from_hub(release, folder)
    _writable(target, release)
    if release.packed:
        from filelock import FileLock

        local = target / release.local_name
        with FileLock(str(local.with_name(local.name + ".lock"))):
            if local.is_file():  # another process fetched and unpacked it meanwhile
                return local
            packed = download(url_of(release), target / release.file, release.size)
            return _unpack_held(packed, local)
    return download(url_of(release), target / release.file, release.size)


def fetch_all(wanted: Iterable[Release], asked: str, folder: Path | None = None) -> list[Path]:
    """Every release's file, in order; what cannot be had is named all at once."""
    wanted = list(dict.fromkeys(wanted))
    if offline():
        missing = [r for r in wanted if locate(r, folder) is None]
        if missing:
            raise MissingModels(missing, asked)
    paths, missing, reasons = [], [], {}
    for release in wanted:
        try:
            paths.append(fetch(release, folder))
        except DownloadError as e:
            missing.append(release)
            reasons[release.file] = str(e)
    if missing:
        raise MissingModels(missing, asked, reasons)
    return paths


def _from_hub(release: Release, folder: Path | None) -> Path:
    """A hub-hosted release through huggingface_hub: into its cache, or into ``folder``."""
    from huggingface_hub import hf_hub_download

    repo, name = release.hub
    try:
        path = Path(hf_hub_download(repo, name, local_dir=folder))
    except Exception as e:  # offline, no such repo or file, a cut transfer: the hub's words
        first = str(e).splitlines()[0] if str(e) else ""
        raise DownloadError(
            f"{name}: the Hugging Face hub ({repo}) did not give it ({type(e).__name__}: {first})"
        ) from None
    _check_format(path, name, release.url)
    return path


def _writable(folder: Path, release: Release) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"{release.file}: cannot create {folder} ({e.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DownloadError(
            f"{release.file}: {folder} is not writable; set MCK_MODELS to a folder you can "
            "write, or pass the file with --model"
        )


def _session():
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    # 5xx answers retried here; a connection that never opens twice more (no network fails
    # in seconds); one cut mid-transfer is resumed by ``_transfer``'s own loop
    retry = Retry(
        total=None,
        connect=2,
        read=0,
        status=ATTEMPTS,
        backoff_factor=BACKOFF_S,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=("GET",),
        raise_on_status=False,
    )
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    session.headers["User-Agent"] = "musiccaps-kit model fetch"
    return session


def download(url: str, dest: Path, size: int | None = None) -> Path:
    """``url`` into ``dest`` as described in the module's docstring; the lock makes two
    processes asking for one file download it once."""
    from filelock import FileLock

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dest.with_name(dest.name + ".lock"))):
        if dest.is_file():  # another process finished it while this one waited
            return dest
        part = dest.with_name(dest.name + ".part")
        try:
            total = _transfer(url, part, dest.name)
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                part.unlink(missing_ok=True)
                raise DownloadError(
                    f"{dest.name}: the disk is full at {dest.parent} ({url}); free space or "
                    "set MCK_MODELS to another folder"
                ) from None
            raise
        except KeyboardInterrupt:
            got = part.stat().st_size if part.exists() else 0
            sys.stderr.write(
                f"\ninterrupted: {dest.name} has {got:,} bytes in {part}; the next run resumes\n"
            )
            raise
        received = part.stat().st_size
        if size is not None and received != size:
            part.unlink()
            raise DownloadError(
                f"{dest.name}: {url} gave {received:,} bytes, the release has {size:,}: "
                "not the released file"
            )
        try:
            _check_format(part, dest.name, url, total)
        except DownloadError:
            part.unlink()
            raise
        os.replace(part, dest)
    return dest


def _transfer(url: str, part: Path, name: str) -> int:
    """Bytes of ``url`` into ``part`` (resumed from its size), retried when a connection is
    cut; returns the whole file's size the server announced."""
    import requests
    from requests.exceptions import ChunkedEncodingError
    from tqdm import tqdm

    session = _session()
    for attempt in range(ATTEMPTS):
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with session.get(url, stream=True, headers=headers, timeout=TIMEOUT_S) as answer:
                if answer.status_code == 416 and have:  # the part is not a prefix: start anew
                    part.unlink()
                    continue
                if answer.status_code >= 400:
                    raise DownloadError(f"{name}: {url} answered HTTP {answer.status_code}")
                kind = answer.headers.get("Content-Type", "")
                if "text/html" in kind:
                    head = answer.raw.read(200, decode_content=True)
                    raise DownloadError(
                        f"{name}: {url} gave an HTML page ({kind}: {head[:80]!r}...), not the file"
                    )
                resumed = answer.status_code == 206
                length = answer.headers.get("Content-Length")
                total = (have if resumed else 0) + int(length) if length else None
                mode = "ab" if resumed else "wb"
                with (
                    open(part, mode) as out,
                    tqdm(
                        total=total,
                        initial=have if resumed else 0,
                        unit="B",
                        unit_scale=True,
                        unit_divisor=1024,
                        desc=name,
                        mininterval=1.0,
                        leave=False,
                    ) as bar,
                ):
                    for chunk in answer.iter_content(CHUNK):
                        out.write(chunk)
                        bar.update(len(chunk))
        except (requests.ConnectionError, requests.Timeout, ChunkedEncodingError) as e:
            moved = part.exists() and part.stat().st_size > have
            if attempt == ATTEMPTS - 1 or not moved:  # no byte came: no network, or refused
                why = f"{name}: {url}: {type(e).__name__}" + (
                    f" after {attempt + 1} tries" if attempt else ""
                )
                raise DownloadError(why) from None
            time.sleep(BACKOFF_S * 2**attempt)
            continue
        got = part.stat().st_size
        if total is None or got == total:
            return got if total is None else total
        if got > total:
            part.unlink()
            raise DownloadError(f"{name}: {url} sent {got:,} bytes for a {total:,}-byte file")
        time.sleep(BACKOFF_S * 2**attempt)  # cut short: resume
    raise DownloadError(f"{name}: {url}: the transfer was cut {ATTEMPTS} times")


def _check_format(path: Path, name: str, url: str, total: int | None = None) -> None:
    """The file's first bytes are its format's (by the released name's suffix)."""
    suffix = Path(name).suffix
    magic = MAGIC.get(suffix)
    if magic is None:
        return
    with open(path, "rb") as f:
        head = f.read(len(magic))
    if head != magic:
        raise DownloadError(
            f"{name}: what {url} gave ({path.stat().st_size:,} bytes, starting {head!r}) is not "
            f"{FORMAT[suffix]}"
        )


def _unpack(packed: Path, dest: Path) -> Path:
    """A ``.gz`` release unpacked once beside it (then removed), checked as its format;
    under the unpacked file's lock, which ``fetch`` also holds over the download, so that
    processes that waited for one download neither fetch nor unpack it again."""
    from filelock import FileLock

    with FileLock(str(dest.with_name(dest.name + ".lock"))):
        return _unpack_held(packed, dest)


def _unpack_held(packed: Path, dest: Path) -> Path:
    if dest.is_file():  # another process unpacked it while this one waited
        return dest
    try:
        with gzip.open(packed, "rb") as source, atomic_path(dest) as tmp:
            with open(tmp, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
            _check_format(tmp, dest.name, str(packed))
    except (OSError, EOFError) as e:
        raise DownloadError(f"{packed.name}: cannot unpack it ({e})") from None
    packed.unlink(missing_ok=True)
    return dest


@dataclass(frozen=True)
class Entry:
    """One release as ``mck models list`` shows it."""

    release: Release
    path: Path | None

    @property
    def size(self) -> int | None:
        return self.path.stat().st_size if self.path else self.release.size


def listing(folder: Path | None = None) -> list[Entry]:
    return [Entry(r, locate(r, folder)) for r in releases.FILES]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(folder: Path | None = None) -> list[tuple[Release, Path, str, str | None]]:
    """Each cached release re-hashed: (release, path, sha256, problem or None); a file
    whose size is not the release's, or whose first bytes are not its format, is named."""
    out = []
    for entry in listing(folder):
        if entry.path is None:
            continue
        problem = None
        size = entry.path.stat().st_size
        if entry.release.size is not None and size != entry.release.size:
            problem = f"{size:,} bytes, the release has {entry.release.size:,}"
        else:
            try:
                _check_format(entry.path, entry.release.local_name, str(entry.path))
            except DownloadError as e:
                problem = str(e)
        out.append((entry.release, entry.path, sha256(entry.path), problem))
    return out
