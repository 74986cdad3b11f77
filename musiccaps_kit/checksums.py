"""sha256 checksums of model files and folders, for the recipes that numbers carry.

A checksum is computed once per set of files: the result is remembered on disk (in
``$MCK_CACHE``, else ``$XDG_CACHE_HOME/musiccaps-kit``, else ``~/.cache/musiccaps-kit``)
under the files' paths, sizes and modification times, so a rerun keys its caches by a
600 MB checkpoint without reading it again, and a changed file is hashed anew.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

MEMO_NAME = "checksums.json"


def cache_root() -> Path:
    """mck's cache folder: ``$MCK_CACHE``, else ``$XDG_CACHE_HOME/musiccaps-kit``, else
    ``~/.cache/musiccaps-kit``."""
    root = os.environ.get("MCK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "musiccaps-kit"
    )
    return Path(root)


def memo_path() -> Path:
    return cache_root() / MEMO_NAME


def _read_memo(path: Path) -> dict[str, str]:
    try:
        memo = json.loads(path.read_text())
        return memo if isinstance(memo, dict) else {}
    except (OSError, ValueError):
        return {}


def _remember(key: str, digest: str) -> None:
    """Add one entry to the memo; a write that fails (read-only home) only costs a rehash."""
    path = memo_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        memo = _read_memo(path)
        memo[key] = digest
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            json.dump(memo, f)
        os.replace(tmp, path)
    except OSError:
        pass


def _stat_key(paths: list[Path]) -> str:
    parts = []
    for path in sorted(paths):
        st = path.stat()
        parts.append(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def checksum_files(paths: list[Path]) -> str:
    """sha256 over files (names and contents), in name order; remembered by stat."""
    paths = [Path(p) for p in paths]
    key = _stat_key(paths)
    known = _read_memo(memo_path()).get(key)
    if known:
        return known
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    _remember(key, digest.hexdigest())
    return digest.hexdigest()


def checksum_dir(folder: str | Path) -> str:
    """sha256 over every file below ``folder``."""
    folder = Path(folder)
    return checksum_files([p for p in folder.rglob("*") if p.is_file()])
