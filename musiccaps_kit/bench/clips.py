"""What ``mck bench`` compares: sets of clips keyed by id, paired by id, never by order.

A set is a folder of audio files named ``{id}.{ext}`` (any format libsndfile or FFmpeg
decodes, any rate, mono or not) or a folder of prepared TFRecords (``dataset_info.json``).
A folder a baseline adapter made also holds ``system.json``: how its clips were made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musiccaps_kit.audio import decode, resample, to_mono
from musiccaps_kit.data import schema
from musiccaps_kit.data.catalog import CLIP_ID_PATTERN
from musiccaps_kit.data.records import DATASET_INFO, read_info, shard_paths
from musiccaps_kit.data.sources.local import AUDIO_EXTENSIONS
from musiccaps_kit.data.tfrecord import read_record_at, read_records_with_offsets

SYSTEM_JSON = "system.json"


class ClipSet:
    """Clips of one system (or the reference), by id, decoded on demand to mono at a rate."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"{self.path} is not a folder of clips or records")
        self.is_records = (self.path / DATASET_INFO).is_file()
        self._files: dict[str, Path] = {}
        # Records are indexed by byte offset, not held: a MusicCaps set is gigabytes.
        self._records: dict[str, tuple[Path, int]] = {}
        if self.is_records:
            for split in read_info(self.path)["splits"]:
                for shard in shard_paths(self.path, split):
                    for offset, blob in read_records_with_offsets(shard):
                        self._records[schema.decode(blob).id] = (shard, offset)
        else:
            for p in sorted(self.path.iterdir()):
                if p.suffix.lower() in AUDIO_EXTENSIONS and CLIP_ID_PATTERN.match(p.stem):
                    if p.stem in self._files:
                        raise ValueError(f"{self.path}: two files for id {p.stem!r}")
                    self._files[p.stem] = p

    def ids(self) -> set[str]:
        return set(self._records) | set(self._files)

    def audio(self, clip_id: str, rate: int) -> np.ndarray:
        """Mono float32 at ``rate``."""
        if self.is_records:
            record = schema.decode(read_record_at(*self._records[clip_id]))
            if rate in record.audio:
                return record.audio[rate]
            source_rate = max(record.audio)
            return resample(record.audio[source_rate], source_rate, rate)
        wave, source_rate = decode(self._files[clip_id])
        return resample(to_mono(wave), source_rate, rate)


@dataclass(frozen=True)
class Pairing:
    """Ids a system shares with the reference, and those it lacks or adds."""

    common: tuple[str, ...]
    missing: tuple[str, ...]
    extra: tuple[str, ...]


def pair(reference: ClipSet, system: ClipSet) -> Pairing:
    ref, sys_ids = reference.ids(), system.ids()
    return Pairing(
        tuple(sorted(ref & sys_ids)), tuple(sorted(ref - sys_ids)), tuple(sorted(sys_ids - ref))
    )


def read_system(folder: str | Path) -> dict | None:
    """The ``system.json`` a baseline adapter wrote beside its clips (how they were made),
    or None for a folder without one."""
    path = Path(folder) / SYSTEM_JSON
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
