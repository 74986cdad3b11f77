"""What ``mck bench`` compares: sets of clips keyed by id, paired by id, never by order.

A set is a folder of audio files named ``{id}.{ext}`` (any format libsndfile or FFmpeg
decodes, any rate, mono or not) or a folder of prepared TFRecords (``dataset_info.json``).
A folder a baseline adapter made also holds ``system.json``: how its clips were made.
Records with a caption table (``captions.csv``: the Song Describer Dataset, one record per
recording, several captions each) are addressed by caption id, as the systems' clips are
named; ``distinct_ids`` gives each recording once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musiccaps_kit.audio import decode
from musiccaps_kit.bench.audio_paths import SOXR, AudioPath
from musiccaps_kit.data import schema
from musiccaps_kit.data.catalog import CLIP_ID_PATTERN
from musiccaps_kit.data.records import DATASET_INFO, read_info, shard_paths
from musiccaps_kit.data.song_describer import caption_texts, read_caption_table
from musiccaps_kit.data.sources.local import AUDIO_EXTENSIONS
from musiccaps_kit.data.tfrecord import read_record_at, read_records_with_offsets

SYSTEM_JSON = "system.json"
# files a system folder may hold beside its clips
SIDECARS = frozenset({SYSTEM_JSON, "failures.csv", "images", "dataset_info.json"})
SILENT_DBFS = -60.0
# decoded audio kept per set, by (recording, rate, path), most recent first: metrics on one
# model rate decode a batch once, and memory stays flat however many clips a set holds
CACHED_BYTES = 64 << 20


class ClipSet:
    """Clips of one system (or the reference), by id, decoded on demand to mono at a rate."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"{self.path} is not a folder of clips or records")
        self.is_records = (self.path / DATASET_INFO).is_file()
        self._files: dict[str, Path] = {}
        # entries that are not a clip named by an id (listed in the leaderboard)
        self.ignored: list[str] = []
        # ids taken out by a named exclusion
        self.excluded: list[str] = []
        # (id, audio path) -> (seconds, RMS dBFS) of the decoded clip, and what a level step
        # left as it was
        self._shape: dict[tuple[str, str], tuple[float, float]] = {}
        self._notes: dict[tuple[str, str], list[str]] = {}
        self._cache: dict[tuple[str, int, str], tuple[np.ndarray, int, list[str]]] = {}
        self._source_rates: dict[str, int] = {}
        # Records are indexed by byte offset, not held: a MusicCaps set is gigabytes.
        self._records: dict[str, tuple[Path, int]] = {}
        # caption id -> record id (records with a caption table), else empty
        self._aliases: dict[str, str] = {}
        if self.is_records:
            for split in read_info(self.path)["splits"]:
                for shard in shard_paths(self.path, split):
                    for offset, blob in read_records_with_offsets(shard):
                        self._records[schema.decode(blob).id] = (shard, offset)
            table = read_caption_table(self.path)
            self._aliases = {c: t for c, t in table.items() if t in self._records}
        else:
            for p in sorted(self.path.iterdir()):
                if p.suffix.lower() in AUDIO_EXTENSIONS and CLIP_ID_PATTERN.match(p.stem):
                    if p.stem in self._files:
                        raise ValueError(f"{self.path}: two files for id {p.stem!r}")
                    self._files[p.stem] = p
                elif not p.name.startswith(".") and p.name not in SIDECARS:
                    self.ignored.append(p.name)

    def ids(self) -> set[str]:
        if self._aliases:
            return set(self._aliases)
        return set(self._records) | set(self._files)

    def captions(self) -> dict[str, str]:
        """The captions of a record folder's caption table, by caption id ({} without)."""
        return caption_texts(self.path) if self._aliases else {}

    def distinct_ids(self) -> set[str]:
        """One id per recording: the record ids themselves when captions alias them."""
        if self._aliases:
            return set(self._aliases.values())
        return self.ids()

    def _source(self, clip_id: str) -> str:
        """The record an id names (a caption id resolves to its recording's record)."""
        return self._aliases.get(clip_id, clip_id)

    def exclude(self, ids) -> list[str]:
        """Take ``ids`` out of the set (a named exclusion); returns those it held."""
        held = sorted(set(ids) & (self.ids() | self.distinct_ids()))
        for clip_id in held:
            self._records.pop(clip_id, None)
            self._files.pop(clip_id, None)
            self._aliases.pop(clip_id, None)
        self._aliases = {c: t for c, t in self._aliases.items() if t in self._records}
        self.excluded = held
        return held

    def audio(self, clip_id: str, rate: int, path: AudioPath = SOXR) -> np.ndarray:
        """Mono float32 at ``rate`` (``[channels, samples]`` for a path that keeps them):
        decoded from the source and brought to ``rate`` once, by ``path`` (a tool's level
        step, channel mix, resampler and 16-bit step; records start from the stored rate
        itself when they have it, else from their highest). The most recent results, up to
        ``CACHED_BYTES``, are kept by recording, rate and path."""
        key = (self._source(clip_id), rate, path.name)
        if key in self._cache:
            self._cache[key] = self._cache.pop(key)  # most recently used last
        else:
            if self.is_records:
                record = schema.decode(read_record_at(*self._records[self._source(clip_id)]))
                source_rate = rate if rate in record.audio else max(record.audio)
                samples = record.audio[source_rate][None]
            else:
                samples, source_rate = decode(self._files[clip_id])
            wave, notes = path.apply(samples, source_rate, rate)
            self._cache[key] = (wave, source_rate, notes)
            while len(self._cache) > 1 and self._cached_bytes() > CACHED_BYTES:
                self._cache.pop(next(iter(self._cache)))
        wave, source_rate, notes = self._cache[key]
        self._notes[(clip_id, path.name)] = notes
        self._source_rates[clip_id] = source_rate
        rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
        seconds = wave.shape[-1] / rate
        self._shape[(clip_id, path.name)] = (seconds, 20 * np.log10(max(rms, 1e-10)))
        return wave

    def _cached_bytes(self) -> int:
        return sum(wave.nbytes for wave, _, _ in self._cache.values())

    def fingerprint(self, clip_id: str) -> str:
        """Identifies the clip's source bytes without reading them: path (or shard and
        offset), size and modification time. A cache may key decoded results by it."""
        if clip_id in self._files:
            path, where = self._files[clip_id], ""
        else:
            path, offset = self._records[self._source(clip_id)]
            where = f"@{offset}"
        st = path.stat()
        text = f"{path.resolve()}{where}|{st.st_size}|{st.st_mtime_ns}"
        return hashlib.sha256(text.encode()).hexdigest()

    def shape(self, clip_id: str, path: AudioPath = SOXR) -> dict:
        """What decoding learnt of a clip: source rate, seconds, RMS level, and what the
        path's level step left as it was."""
        seconds, level = self._shape[(clip_id, path.name)]
        return {
            "source_rate": self._source_rates[clip_id],
            "seconds": seconds,
            "level": level,
            "notes": self._notes.get((clip_id, path.name), []),
        }

    def remember(self, clip_id: str, shape: dict, path: AudioPath = SOXR) -> None:
        """Take ``shape`` from a cache instead of decoding the clip."""
        self._source_rates[clip_id] = int(shape["source_rate"])
        self._shape[(clip_id, path.name)] = (shape["seconds"], shape["level"])
        self._notes[(clip_id, path.name)] = list(shape.get("notes", []))

    def describe(self, clip_id: str) -> str:
        """Where a clip comes from, for messages: its file, or its shard and offset."""
        if clip_id in self._files:
            return str(self._files[clip_id])
        shard, offset = self._records[self._source(clip_id)]
        return f"{shard} at byte {offset}"

    def warnings(self) -> list[dict[str, str]]:
        """Clips worth a look among those decoded: silent ones (RMS under -60 dBFS), length
        outliers (under half or over twice the set's median duration) and clips a tool's
        level step left as they were."""
        if not self._shape:
            return []
        first: dict[str, tuple[float, float]] = {}  # per clip, as the first path decoded it
        for (clip_id, _), shape in self._shape.items():
            first.setdefault(clip_id, shape)
        median = float(np.median([s for s, _ in first.values()]))
        out = []
        for clip_id, (seconds, level) in sorted(first.items()):
            if level < SILENT_DBFS:
                out.append({"id": clip_id, "kind": "silent", "detail": f"RMS {level:.0f} dBFS"})
            if not 0.5 * median <= seconds <= 2 * median:
                detail = f"{seconds:.1f} s against a median of {median:.1f} s"
                out.append({"id": clip_id, "kind": "length", "detail": detail})
        for (clip_id, path), notes in sorted(self._notes.items()):
            out += [{"id": clip_id, "kind": f"level ({path})", "detail": n} for n in notes]
        return out

    def file(self, clip_id: str) -> Path | None:
        """The audio file of ``clip_id`` (None for records)."""
        return self._files.get(clip_id)

    def export_wav(self, clip_id: str, path: Path) -> Path:
        """A clip of a record set as a 16-bit WAV file at ``path``, at the highest rate the
        records hold (whole or not at all; written anew each time, so never stale)."""
        import soundfile as sf

        from musiccaps_kit.atomic import atomic_path

        audio = schema.decode(read_record_at(*self._records[self._source(clip_id)])).audio
        rate = max(audio)
        with atomic_path(path) as tmp:
            sf.write(str(tmp), np.clip(audio[rate], -1, 1), rate, subtype="PCM_16", format="WAV")
        return path

    def source_rates(self, ids) -> list[int]:
        """The distinct source rates of ``ids`` seen so far (decoded clips)."""
        return sorted({self._source_rates[i] for i in ids if i in self._source_rates})


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


def exclusion_ids(spec: str) -> set[str]:
    """The ids of a named exclusion (``sao-musiccaps``: stable-audio-metrics' MusicCaps ids
    it could not download) or of a file with one id per line (``#`` starts a comment)."""
    from musiccaps_kit.resources import REFERENCE_EXCLUSIONS

    named = json.loads(REFERENCE_EXCLUSIONS.read_text())
    if spec in named:
        return set(named[spec]["ids"])
    path = Path(spec)
    if not path.is_file():
        raise ValueError(
            f"--exclude-reference {spec}: neither a named list ({', '.join(named)}) nor a file"
        )
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {line for line in lines if line}


def open_reference(path: str | Path, exclude: str | None = None):
    """The reference of a bench: a folder of clips or records (``ClipSet``), or
    stable-audio-metrics' pickled probabilities (``.pkl``); ``exclude`` takes ids out."""
    from musiccaps_kit.bench.sao_reference import ReferenceProbabilities

    path = Path(path)
    reference = ReferenceProbabilities(path) if path.suffix == ".pkl" else ClipSet(path)
    if exclude:
        reference.exclude(exclusion_ids(exclude))
    return reference
