"""Files that appear whole or not at all: write to a temporary name, then rename."""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TMP_SUFFIX = ".tmp"
_UMASK = os.umask(0)
os.umask(_UMASK)
# the writing process, in every temporary's name: ".{name}.{pid}@{host}.{random}.tmp"
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
_WRITER = re.compile(r"\.(\d+)@([A-Za-z0-9-]+)\.[A-Za-z0-9_]+" + re.escape(TMP_SUFFIX) + "$")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    A crash or an exception leaves ``path`` untouched (old content or absent) and removes
    the temporary file; a process killed outright leaves only a ``.*.tmp`` file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.{os.getpid()}@{_HOST}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); give it the permissions a plain open() would.
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


# A temporary file untouched this long belongs to a run that died (live writes are seconds).
STALE_TMP_S = 3600.0


def _writer_is_dead(name: str) -> bool:
    """Whether the temporary's name says it was written by a process of this host that no
    longer runs (a pid reused since counts as alive: such files wait for the age rule)."""
    match = _WRITER.search(name)
    if not match or match.group(2) != _HOST:
        return False
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def remove_stale_temporaries(folder: str | Path, older_than_s: float = STALE_TMP_S) -> int:
    """Delete ``atomic_path`` temporaries (``.*.tmp``) below ``folder`` that killed runs
    left: at once when their writer was a process of this host that has died, else when
    no write has touched them for ``older_than_s`` (another host's, or an older name).
    Returns how many went."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    removed = 0
    for path in folder.rglob(f".*{TMP_SUFFIX}"):
        try:
            if path.is_file() and (_writer_is_dead(path.name) or path.stat().st_mtime < cutoff):
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another run renamed or removed it meanwhile
            pass
    return removed
