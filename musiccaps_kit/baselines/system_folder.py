"""A baseline's output folder: one audio file per id written atomically, a per-id state
file that lets a rerun or a killed run resume without generating (or paying for) a clip
twice, failures by category, and ``system.json``.

Failures use the prepare pipeline's categories (``musiccaps_kit.data.sources.Category``)
and are retried by the next run; a clip once written is never made again.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import soundfile as sf

from musiccaps_kit import __version__
from musiccaps_kit.atomic import atomic_path, write_text
from musiccaps_kit.bench.clips import SYSTEM_JSON
from musiccaps_kit.data.sources.failures import Category

FAILURES_CSV = "failures.csv"
STATE_DIR = ".state"
T = TypeVar("T")


class BaselineError(Exception):
    """A clip that could not be made, with its category; ``transient`` ones are retried."""

    def __init__(self, category: Category, message: str, transient: bool = False):
        super().__init__(f"[{category}] {message}")
        self.category, self.message, self.transient = Category(category), message, transient


@dataclass
class Retry:
    """Bounded retries with exponential backoff (``base_s`` doubling, at most ``max_s``)."""

    attempts: int = 5
    base_s: float = 1.0
    max_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep

    def run(self, call: Callable[[], T]) -> T:
        for attempt in range(self.attempts):
            try:
                return call()
            except BaselineError as e:
                if not e.transient or attempt + 1 == self.attempts:
                    raise
                wait = getattr(e, "retry_after", None)
                self.sleep(min(wait if wait is not None else self.base_s * 2**attempt, self.max_s))
        raise AssertionError("unreachable")


class SystemFolder:
    def __init__(self, out: str | Path, extension: str = "wav"):
        self.out = Path(out)
        self.extension = extension
        self.out.mkdir(parents=True, exist_ok=True)
        self.failures: dict[str, tuple[str, str]] = {
            row["id"]: (row["category"], row["message"]) for row in self._read_failures()
        }

    def path(self, clip_id: str) -> Path:
        return self.out / f"{clip_id}.{self.extension}"

    def done(self, clip_id: str) -> bool:
        return self.path(clip_id).is_file()

    def write_audio(self, clip_id: str, audio: np.ndarray, rate: int) -> Path:
        with atomic_path(self.path(clip_id)) as tmp:
            sf.write(tmp, audio, rate, format="WAV")
        self.failures.pop(clip_id, None)
        return self.path(clip_id)

    def write_bytes(self, clip_id: str, data: bytes) -> Path:
        """Audio as delivered (checked to decode first: a broken file is ``bad_media``)."""
        try:
            sf.info(io.BytesIO(data))
        except Exception as e:  # soundfile raises several types for foreign bytes
            raise BaselineError(Category.BAD_MEDIA, f"the audio does not decode: {e}") from None
        with atomic_path(self.path(clip_id)) as tmp:
            tmp.write_bytes(data)
        self.failures.pop(clip_id, None)
        return self.path(clip_id)

    def state(self, clip_id: str) -> dict[str, Any]:
        """What an earlier run learnt about ``clip_id`` (e.g. the API's track id)."""
        path = self.out / STATE_DIR / f"{clip_id}.json"
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except ValueError as e:
            # not silently dropped: it may hold a request already paid for
            raise ValueError(f"{path}: unreadable state ({e}); check it or delete it") from None

    def forget_state(self, clip_id: str) -> None:
        """Drop what an earlier run learnt (its request failed for good: ask anew)."""
        (self.out / STATE_DIR / f"{clip_id}.json").unlink(missing_ok=True)

    def save_state(self, clip_id: str, state: dict[str, Any]) -> None:
        write_text(self.out / STATE_DIR / f"{clip_id}.json", json.dumps(state))

    def fail(self, clip_id: str, error: BaselineError) -> None:
        self.failures[clip_id] = (str(error.category), error.message)
        self._write_failures()

    def _read_failures(self) -> list[dict[str, str]]:
        path = self.out / FAILURES_CSV
        if not path.is_file():
            return []
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def _write_failures(self) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["id", "category", "message"])
        for clip_id in sorted(self.failures):
            writer.writerow([clip_id, *self.failures[clip_id]])
        write_text(self.out / FAILURES_CSV, buffer.getvalue())

    def finish(self, info: dict[str, Any], ids: list[str]) -> dict[str, Any]:
        """Write ``failures.csv`` and ``system.json``; returns the latter's content."""
        self._write_failures()
        by_category: dict[str, int] = {}
        for category, _ in self.failures.values():
            by_category[category] = by_category.get(category, 0) + 1
        system = {
            **info,
            "musiccaps_kit": __version__,
            "clips": {
                "requested": len(ids),
                "written": sum(self.done(i) for i in ids),
                "failed": len(self.failures),
                "failed_by_category": by_category,
            },
        }
        write_text(self.out / SYSTEM_JSON, json.dumps(system, indent=2) + "\n")
        return system
