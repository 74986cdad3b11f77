"""The steps of ``mck prepare`` as plain functions; ``pipelines/prepare.py`` wires them in Beam.

Per clip: fetch (source) -> decode, segment, resample (audio) -> tokenize -> record bytes,
with the per-clip cache in front so that a rerun fetches nothing twice. Per split: plan
shards over the ids in sorted order, write each shard atomically, and describe the result
in ``dataset_info.json`` and ``failures.csv``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from musiccaps_kit import __version__
from musiccaps_kit.atomic import TMP_SUFFIX, atomic_path, write_text
from musiccaps_kit.audio import DEFAULT_RATES, AudioError, Segment, SegmentRecipe, load_segment
from musiccaps_kit.data import schema
from musiccaps_kit.data.catalog import Catalog, Clip
from musiccaps_kit.data.clip_cache import ClipCache
from musiccaps_kit.data.records import DATASET_INFO
from musiccaps_kit.data.sources import TRANSIENT, Category, FetchError, Source, make_source
from musiccaps_kit.data.tfrecord import frame
from musiccaps_kit.data.tokenizers import make_tokenizer
from musiccaps_kit.resources import DEMO_AUDIO_DIR

FAILURES_CSV = "failures.csv"
FAILURE_COLUMNS = ("id", "category", "message")
RECORDS_PER_SHARD = 100  # about 160 MB of waveforms at 16 + 24 kHz for 10 s clips
STATUS_FETCHED = "fetched"
STATUS_CACHED = "cached"


@dataclass(frozen=True)
class PrepareConfig:
    """Everything that shapes a prepared record set (picklable: it travels to Beam workers)."""

    name: str
    out_dir: str
    cache_dir: str
    source: str = "local"
    source_options: dict[str, Any] = field(default_factory=dict)
    segment: SegmentRecipe = field(default_factory=SegmentRecipe)
    tokenizer: str = "identity"
    tokenizer_options: dict[str, Any] = field(default_factory=dict)
    shards: int | None = None
    retry_failed: bool = False

    def make_source(self) -> Source:
        return make_source(self.source, self.cache_dir, **self.source_options)

    def cache(self) -> ClipCache:
        """The clip cache for this recipe (the tokenizer is not part of it: tokens are redone)."""
        recipe = {"segment": self.segment.as_dict(), "source": self.make_source().recipe()}
        return ClipCache(Path(self.cache_dir), recipe)

    def recipe(self) -> dict[str, Any]:
        return {
            "segment": self.segment.as_dict(),
            "source": self.make_source().recipe(),
            "tokenizer": make_tokenizer(self.tokenizer, **self.tokenizer_options).recipe(),
        }


def build_config(
    cat: Catalog,
    dataset: str,
    out: str | Path,
    *,
    source: str | None = None,
    audio_dir: str | Path | None = None,
    segment: str = "auto",
    cache_dir: str | Path | None = None,
    name: str | None = None,
    shards: int | None = None,
    rates: tuple[int, ...] = DEFAULT_RATES,
    max_pad_s: float = 1.0,
    tokenizer: str = "identity",
    tokenizer_options: dict[str, Any] | None = None,
    url_template: str | None = None,
    retries: int = 3,
    sleep_s: float = 0.0,
    cookies: str | None = None,
    only_failed: bool = False,
    archive: str | None = None,
) -> PrepareConfig:
    """The ``PrepareConfig`` of ``mck prepare``'s options, checked before any work starts.

    The source defaults to the bundled clips for the demo catalog and to YouTube otherwise;
    a local source needs ``audio_dir`` or a catalog with paths; ``only_failed`` needs a
    ``failures.csv`` in ``out``; the tokenizer is built once to check its options. A bad
    combination is a ``ValueError`` that says what to change.
    """
    out = Path(out)
    if not len(cat):
        raise ValueError(f"{dataset}: the selection has no clips: nothing to prepare")
    if source is None:
        source = {"demo": "local", "song-describer": "song-describer"}.get(dataset, "youtube")
    if source == "song-describer":
        if (audio_dir is None) == (archive is None):
            raise ValueError(
                "--dataset song-describer needs its audio: --audio-dir (the release unpacked) "
                "or --archive (the release zip, a file or a URL)"
            )
        options = {"audio_dir": str(audio_dir) if audio_dir else None, "archive": archive}
    elif source == "local":
        if audio_dir is None and dataset == "demo":
            audio_dir = DEMO_AUDIO_DIR
        if audio_dir is None and not all(c.path for c in cat):
            raise ValueError("--source local needs --audio-dir or a path column")
        options: dict[str, Any] = {
            "audio_dir": str(audio_dir) if audio_dir else None,
            "segment": segment,
        }
    else:
        options = {"retries": retries, "sleep_s": sleep_s, "cookies": cookies}
        if url_template:
            options["url_template"] = url_template
    if only_failed and not read_failures(out):
        raise ValueError(f"--only-failed: no failures recorded in {out}")
    config = PrepareConfig(
        name=name or cat.name,
        out_dir=str(out),
        cache_dir=str(cache_dir or out / "cache"),
        source=source,
        source_options=options,
        segment=SegmentRecipe(rates=tuple(sorted(set(rates))), max_pad_s=max_pad_s),
        tokenizer=tokenizer,
        tokenizer_options=dict(tokenizer_options or {}),
        shards=shards,
        retry_failed=only_failed,
    )
    try:
        make_tokenizer(config.tokenizer, **config.tokenizer_options)
    except (ValueError, TypeError, FileNotFoundError) as e:
        raise ValueError(f"tokenizer: {e}") from None
    return config


@dataclass
class ClipOutcome:
    """What became of one clip: a segment and how it was had, or a failure."""

    clip: Clip
    segment: Segment | None = None
    status: str = ""
    failure: FetchError | None = None


def process_clip(
    clip: Clip, source: Source, cache: ClipCache, recipe: SegmentRecipe, retry_failed: bool
) -> ClipOutcome:
    """Return the clip's segment from the cache, or fetch, decode and cache it.

    A failure is recorded in the cache too; a rerun does not ask the source again for a
    permanent failure (a private or removed video) unless ``retry_failed`` is set, while
    transient ones (network, rate limits) are always retried.
    """
    segment = cache.load(clip)
    if segment is not None:
        return ClipOutcome(clip, segment, STATUS_CACHED)
    known = cache.failure(clip)
    if known is not None:
        if not retry_failed and known.category not in TRANSIENT:
            return ClipOutcome(clip, failure=known, status=STATUS_CACHED)
        source.forget(clip)  # a bad download is fetched again, not decoded again
    try:
        fetched = source.fetch(clip)
        duration = fetched.duration_s or clip.duration_s
        segment = load_segment(fetched.path, fetched.offset_s, duration, recipe, fetched.precut)
    except AudioError as e:
        error = FetchError(Category.BAD_MEDIA, f"{clip.ytid}: {e}")
    except FetchError as e:
        error = e
    else:
        cache.save(clip, segment)
        return ClipOutcome(clip, segment, STATUS_FETCHED)
    cache.record_failure(clip, error)
    return ClipOutcome(clip, failure=error, status=STATUS_FETCHED)


def to_record(clip: Clip, segment: Segment, tokens: dict) -> schema.Record:
    return schema.Record(
        id=clip.ytid,
        split=clip.split,
        caption=clip.caption,
        aspects=list(clip.aspects),
        labels=list(clip.labels),
        author_id=clip.author_id,
        start_s=clip.start_s,
        # what the record holds (a whole file may be shorter or longer than the catalog says)
        end_s=clip.start_s + segment.duration_s,
        is_balanced_subset=clip.is_balanced_subset,
        is_audioset_eval=clip.is_audioset_eval,
        audio=segment.audio,
        source_rate=segment.source_rate,
        source_channels=segment.source_channels,
        file_seconds=segment.file_seconds,
        pad_s=segment.pad_s,
        trim_s=segment.trim_s,
        tokens=tokens,
    )


def failure_row(clip_id: str, category: str, message: str) -> dict[str, str]:
    return {"id": clip_id, "category": str(category), "message": message}


def shard_name(name: str, split: str, index: int, count: int) -> str:
    """TFDS-style shard file name: ``{name}-{split}.tfrecord-NNNNN-of-MMMMM``."""
    return f"{name}-{split}.tfrecord-{index:05d}-of-{count:05d}"


def plan_shards(ids: list[str], requested: int | None) -> dict[str, tuple[int, int]]:
    """Map each id to ``(shard index, shard count)``: sorted ids in contiguous, even chunks.

    The plan depends only on the set of ids, so a rerun writes byte-identical shards.
    """
    ordered = sorted(set(ids))
    n = len(ordered)
    count = min(requested or math.ceil(n / RECORDS_PER_SHARD), n)
    return {ytid: (i * count // n, count) for i, ytid in enumerate(ordered)}


def write_shard(out_dir: str | Path, file_name: str, records: Iterable[tuple[str, bytes]]) -> dict:
    """Write ``(id, record bytes)`` pairs, in ascending id order, to one shard atomically."""
    digest = hashlib.sha256()
    count, size, first_id, last_id = 0, 0, None, None
    with atomic_path(Path(out_dir) / file_name) as tmp, open(tmp, "wb") as f:
        for ytid, blob in records:
            if last_id is not None and ytid <= last_id:
                raise ValueError(f"{file_name}: records out of order ({ytid} after {last_id})")
            for part in frame(blob):
                f.write(part)
                digest.update(part)
                size += len(part)
            count += 1
            first_id, last_id = first_id or ytid, ytid
    return {
        "file": file_name,
        "records": count,
        "sha256": digest.hexdigest(),
        "bytes": size,
        "first_id": first_id,
        "last_id": last_id,
    }


def finalize(
    config: PrepareConfig,
    catalog_info: dict[str, Any],
    shards: list[dict],
    failures: list[dict[str, str]],
    statuses: dict[str, int],
    started: float,
) -> dict[str, Any]:
    """Write ``failures.csv`` and ``dataset_info.json`` and remove shards of earlier runs."""
    out = Path(config.out_dir)
    splits: dict[str, dict[str, Any]] = {}
    for shard in sorted(shards, key=lambda s: s["file"]):
        split = shard["split"]
        entry = splits.setdefault(split, {"records": 0, "shards": []})
        entry["records"] += shard["records"]
        entry["shards"].append({k: v for k, v in shard.items() if k != "split"})
    failures = sorted(failures, key=lambda r: r["id"])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FAILURE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(failures)
    write_text(out / FAILURES_CSV, buffer.getvalue())
    keep = {s["file"] for s in shards}
    shard_pattern = re.compile(rf"^{re.escape(config.name)}-[^.]+\.tfrecord-\d{{5}}-of-\d{{5}}$")
    for path in out.iterdir():
        stale_shard = shard_pattern.match(path.name) and path.name not in keep
        leftover_tmp = path.name.startswith(".") and path.name.endswith(TMP_SUFFIX)
        if stale_shard or leftover_tmp:
            path.unlink(missing_ok=True)
    absent = [s["file"] for s in shards if not (out / s["file"]).is_file()]
    if absent:  # never describe a shard that is not there
        raise RuntimeError(f"{out}: shards vanished before the run could finish: {absent}")
    info = {
        "name": config.name,
        "schema_version": schema.SCHEMA_VERSION,
        "created_by": f"musiccaps-kit {__version__}",
        "catalog": catalog_info,
        "recipe": {**config.recipe(), "durations_s": catalog_info["durations_s"]},
        "splits": dict(sorted(splits.items())),
        "records": sum(s["records"] for s in splits.values()),
        "failures": {
            "total": len(failures),
            "by_category": dict(sorted(Counter(r["category"] for r in failures).items())),
            "file": FAILURES_CSV,
        },
        "last_run": {
            "fetched": statuses.get(STATUS_FETCHED, 0),
            "cached": statuses.get(STATUS_CACHED, 0),
            "seconds": round(time.time() - started, 2),
        },
    }
    write_text(out / DATASET_INFO, json.dumps(info, indent=2) + "\n")
    return info


def read_failures(out_dir: str | Path) -> list[dict[str, str]]:
    """The rows of ``failures.csv`` in a prepared folder (empty when there is none)."""
    path = Path(out_dir) / FAILURES_CSV
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def summary_rows(info: dict[str, Any]) -> list[tuple[str, str]]:
    """The end-of-run summary table: done, cached, failed by category, shards, time."""
    run = info["last_run"]
    rows = [
        ("records", str(info["records"])),
        ("done this run (fetched or decoded)", str(run["fetched"])),
        ("from cache", str(run["cached"])),
        ("failed", str(info["failures"]["total"])),
    ]
    rows += [(f"  {cat}", str(n)) for cat, n in info["failures"]["by_category"].items()]
    for split, entry in info["splits"].items():
        rows.append(
            (f"split {split}", f"{entry['records']} records in {len(entry['shards'])} shards")
        )
    rows.append(("time", f"{run['seconds']:.1f} s"))
    return rows
