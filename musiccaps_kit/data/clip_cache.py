"""The per-clip cache that makes ``mck prepare`` resumable: a rerun fetches nothing twice.

Each clip's finished waveforms are one ``.seg`` file and each failure one ``.json`` file,
both named by clip id and a hash of everything that shaped them (source, segment recipe,
start and end), and both written to a temporary name and renamed: a run killed at any
point leaves either a complete entry or none.

A ``.seg`` file is a magic line, a little-endian 32-bit header length, a JSON header (the
segment's metadata, each array's rate and length, and a CRC32C of each array), then the
float32 arrays themselves. Writing and reading it is a few memory copies: the zip
container of an ``.npz`` cost about as much again as the copies, under the GIL, on every
clip of a prepare run, and its CRC32 is slower than a hardware CRC32C.
"""

from __future__ import annotations

import hashlib
import json
import struct
import warnings
from pathlib import Path
from typing import Any

import google_crc32c
import numpy as np

from musiccaps_kit.atomic import atomic_path, write_bytes
from musiccaps_kit.audio import Segment
from musiccaps_kit.data.catalog import Clip
from musiccaps_kit.data.sources.failures import Category, FetchError

MAGIC = b"mck-segment-1\n"
_LENGTH = struct.Struct("<I")


class UnreadableEntry(ValueError):
    """A cache file that is not a whole ``.seg`` entry (truncated, damaged, foreign)."""


def encode_segment(segment: Segment) -> list[bytes]:
    """The parts of a ``.seg`` file, in order (written one after another, never joined)."""
    rates = sorted(segment.audio)
    arrays = [np.asarray(segment.audio[r], dtype="<f4").tobytes() for r in rates]
    header = {
        "source_rate": segment.source_rate,
        "source_channels": segment.source_channels,
        "file_seconds": segment.file_seconds,
        "pad_s": segment.pad_s,
        "trim_s": segment.trim_s,
        "arrays": [
            [rate, len(a) // 4, google_crc32c.value(a)]
            for rate, a in zip(rates, arrays, strict=True)
        ],
    }
    blob = json.dumps(header, separators=(",", ":")).encode()
    return [MAGIC, _LENGTH.pack(len(blob)), blob, *arrays]


def decode_segment(data: bytearray) -> Segment:
    """A ``Segment`` from the bytes of a ``.seg`` file; ``UnreadableEntry`` if they are not
    a whole, undamaged entry. The arrays are writable views into ``data``."""
    start = len(MAGIC) + _LENGTH.size
    if len(data) < start or data[: len(MAGIC)] != MAGIC:
        raise UnreadableEntry("not a segment file")
    (size,) = _LENGTH.unpack_from(data, len(MAGIC))
    try:
        header = json.loads(bytes(data[start : start + size]))
        arrays = [(int(rate), int(count), int(crc)) for rate, count, crc in header["arrays"]]
        facts = [header[k] for k in ("source_rate", "source_channels", "file_seconds")]
        facts += [header["pad_s"], header["trim_s"]]
    except (ValueError, KeyError, TypeError) as e:
        raise UnreadableEntry(f"bad header ({e!r})") from None
    offset, audio = start + size, {}
    for rate, count, crc in arrays:
        end = offset + 4 * count
        if count < 0 or end > len(data):
            raise UnreadableEntry(f"truncated at the {rate} Hz audio")
        if google_crc32c.value(bytes(memoryview(data)[offset:end])) != crc:
            raise UnreadableEntry(f"the {rate} Hz audio fails its checksum")
        audio[rate] = np.frombuffer(data, dtype="<f4", count=count, offset=offset)
        offset = end
    if offset != len(data):
        raise UnreadableEntry(f"{len(data) - offset} bytes after the audio")
    return Segment(audio, *facts)


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
        return self.root / "clips" / f"{self._entry(clip)}.seg"

    def failure_path(self, clip: Clip) -> Path:
        return self.root / "failures" / f"{self._entry(clip)}.json"

    def load(self, clip: Clip) -> Segment | None:
        """The cached segment, or None; an unreadable entry (a truncated file, say) is
        removed with a warning, so the clip is made again."""
        path = self.segment_path(clip)
        try:
            with open(path, "rb") as f:
                data = bytearray(f.read())
        except FileNotFoundError:
            return None
        try:
            return decode_segment(data)
        except UnreadableEntry as e:
            warnings.warn(
                f"{path}: unreadable cache entry ({e}); making the clip again", stacklevel=2
            )
            path.unlink(missing_ok=True)
            return None

    def save(self, clip: Clip, segment: Segment) -> None:
        with atomic_path(self.segment_path(clip)) as tmp, open(tmp, "wb") as f:
            for part in encode_segment(segment):
                f.write(part)
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
