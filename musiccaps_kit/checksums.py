"""sha256 checksums of model files and folders, for the recipes that numbers carry."""

from __future__ import annotations

import hashlib
from pathlib import Path


def checksum_files(paths: list[Path]) -> str:
    """sha256 over files (names and contents), in name order."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def checksum_dir(folder: str | Path) -> str:
    """sha256 over every file below ``folder``."""
    folder = Path(folder)
    return checksum_files([p for p in folder.rglob("*") if p.is_file()])
