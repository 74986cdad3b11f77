"""What ``mck bench`` compares: sets of clips keyed by id, paired by id, never by order.

A set is a folder of audio files named ``{id}.{ext}`` (any format libsndfile or FFmpeg
decodes, any rate, mono or not) or a folder of prepared TFRecords (``dataset_info.json``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musiccaps_kit.audio import decode, resample, to_mono
from musiccaps_kit.catalog import CLIP_ID_PATTERN
from musiccaps_kit.preparation import DATASET_INFO
from musiccaps_kit.sources.local import AUDIO_EXTENSIONS


class ClipSet:
    """Clips of one system (or the reference), by id, decoded on demand to mono at a rate."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"{self.path} is not a folder of clips or records")
        self.is_records = (self.path / DATASET_INFO).is_file()
        if self.is_records:
            from musiccaps_kit.preparation import read_info

            splits = read_info(self.path)["splits"]
            self._records = {r.id: r for split in splits for r in _iter_split(self.path, split)}
            self._files: dict[str, Path] = {}
        else:
            self._files = {}
            for p in sorted(self.path.iterdir()):
                if p.suffix.lower() in AUDIO_EXTENSIONS and CLIP_ID_PATTERN.match(p.stem):
                    if p.stem in self._files:
                        raise ValueError(f"{self.path}: two files for id {p.stem!r}")
                    self._files[p.stem] = p
            self._records = {}

    def ids(self) -> set[str]:
        return set(self._records) | set(self._files)

    def audio(self, clip_id: str, rate: int) -> np.ndarray:
        """Mono float32 at ``rate``."""
        if self.is_records:
            record = self._records[clip_id]
            if rate in record.audio:
                return record.audio[rate]
            source_rate = max(record.audio)
            return resample(record.audio[source_rate], source_rate, rate)
        wave, source_rate = decode(self._files[clip_id])
        return resample(to_mono(wave), source_rate, rate)


def _iter_split(path: Path, split: str) -> Iterator:
    from musiccaps_kit.readers import iter_records

    return iter_records(path, split)


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
