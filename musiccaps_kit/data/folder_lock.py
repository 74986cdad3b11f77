"""One run at a time per output folder: an advisory lock (``fcntl.flock``) on
``OUT/.mck.lock``, which records the owner's pid, host, start time and command.

The kernel drops a ``flock`` when its process dies, however it dies, so the lock of a
killed run is taken over by the next one without any stale-lock guessing. A second run
while the first is alive stops at once with an error naming the first. (``flock`` is
per host: on a network filesystem shared by several machines, give each run its own
``--out``.)
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

LOCK_FILE = ".mck.lock"


class FolderBusyError(RuntimeError):
    """Another live run holds the folder."""


class FolderLock:
    def __init__(self, folder: str | Path, job: str):
        self.folder, self.job = Path(folder), job
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None

    def owner(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def __enter__(self) -> FolderLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            o = self.owner()
            raise FolderBusyError(
                f"{self.folder} is in use by another {o.get('job', 'mck')} run (pid "
                f"{o.get('pid', '?')} on {o.get('host', '?')}, started {o.get('started', '?')}: "
                f"{o.get('command', '')}); wait for it, or give this run another --out"
            ) from None
        me = {
            "job": self.job,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(sys.argv)[:500],
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
