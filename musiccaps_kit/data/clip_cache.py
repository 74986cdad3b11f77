"""The per-clip cache that makes ``mck prepare`` resumable: a rerun fetches nothing twice.

Each clip's finished waveforms are one ``.npz`` file and each failure one ``.json`` file,
both named by clip id and a hash of everything that shaped them (source, segment recipe,
start and end), and both written to a temporary name and renamed: a run killed at any
point leaves either a complete entry or none.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.atomic import atomic_path, write_bytes
from musiccaps_kit.audio import Segment
from musiccaps_kit.data.catalog import Clip
from musiccaps_kit.data.sources.failures import Category, FetchError


def recipe_key(recipe: dict[str, Any]) -> str:
    """A short, stable hash of a JSON-serialisable recipe."""
    blob = json.dumps(recipe, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class ClipCache:
    """Finished segments and recorded failures under ``root``, for one recipe."""

    def __init__(self, root: str | Path, recipe: dict[str, Any]):
        self.root = Path(root)
        self.recipe = recipe
        self.key = recipe_key(recipe)

    def _entry(self, clip: Clip) -> str:
        return f"{clip.ytid}-{recipe_key({'r': self.key, 's': clip.start_s, 'e': clip.end_s})}"

    def segment_path(self, clip: Clip) -> Path:
        return self.root / "clips" / f"{self._entry(clip)}.npz"

    def failure_path(self, clip: Clip) -> Path:
        return self.root / "failures" / f"{self._entry(clip)}.json"

    def load(self, clip: Clip) -> Segment | None:
        """The cached segment, or None; an unreadable entry (a truncated file, say) is
        removed with a warning, so the clip is made again."""
        path = self.segment_path(clip)
        if not path.is_file():
            return None
        try:
            with np.load(path) as z:
                meta = json.loads(str(z["meta"]))
                audio = {int(r): z[f"audio_{r}"] for r in meta["rates"]}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            warnings.warn(
                f"{path}: unreadable cache entry ({e}); making the clip again", stacklevel=2
            )
            path.unlink(missing_ok=True)
            return None
        return Segment(
            audio,
            meta["source_rate"],
            meta["source_channels"],
            meta["file_seconds"],
            meta["pad_s"],
            meta["trim_s"],
        )

    def save(self, clip: Clip, segment: Segment) -> None:
        meta = {
            "rates": sorted(segment.audio),
            "source_rate": segment.source_rate,
            "source_channels": segment.source_channels,
            "file_seconds": segment.file_seconds,
            "pad_s": segment.pad_s,
            "trim_s": segment.trim_s,
        }
        arrays = {f"audio_{r}": a for r, a in segment.audio.items()}
        with atomic_path(self.segment_path(clip)) as tmp, open(tmp, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
        self.failure_path(clip).unlink(missing_ok=True)

    def failure(self, clip: Clip) -> FetchError | None:
        path = self.failure_path(clip)
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return FetchError(Category(data["category"]), data["message"])

    def record_failure(self, clip: Clip, error: FetchError) -> None:
        body = {"id": clip.ytid, "category": str(error.category), "message": error.message}
        write_bytes(self.failure_path(clip), json.dumps(body).encode())

    def done_count(self, clips: list[Clip]) -> int:
        """How many of ``clips`` have a finished segment or a recorded failure."""
        return sum(self.segment_path(c).is_file() or self.failure_path(c).is_file() for c in clips)
