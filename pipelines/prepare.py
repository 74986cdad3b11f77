"""The ``mck prepare`` Beam pipeline: catalog rows -> TFRecord shards + dataset_info.json.

    clips -> Reshuffle -> ProcessClip (cache | fetch, decode, segment, resample)
          -> Tokenize -> Example bytes -> plan shards per split (sorted ids)
          -> GroupByKey(split, shard) -> WriteShard (atomic) -> Finalize
    failures (known, and any exception via the dead-letter output) -> failures.csv

Locally it runs on Beam's Python FnApiRunner with one worker thread per core (Beam 2.77's
DirectRunner would first try to download the Prism runner binary). Decoding, resampling
and downloads release the GIL, and threads start instantly; pass
``--direct_running_mode=multi_processing`` for worker processes, and a larger
``--direct_num_workers`` for YouTube downloads, which wait on the network. Any other runner is
chosen with ``--runner`` and its options pass through untouched.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import apache_beam as beam

from musiccaps_kit.atomic import remove_stale_temporaries
from musiccaps_kit.data import schema
from musiccaps_kit.data.catalog import Catalog, Clip
from musiccaps_kit.data.folder_lock import FolderLock
from musiccaps_kit.data.preparation import (
    ClipOutcome,
    PrepareConfig,
    failure_row,
    finalize,
    plan_shards,
    process_clip,
    read_failures,
    shard_name,
    to_record,
    write_shard,
)
from musiccaps_kit.data.records import read_info
from musiccaps_kit.data.song_describer import write_captions
from musiccaps_kit.data.sources import Category
from musiccaps_kit.data.tokenizers import make_tokenizer
from musiccaps_kit.pipelines.runner import pipeline_options


class ProcessClip(beam.DoFn):
    """Cache lookup, or fetch + decode + segment + resample, for one clip."""

    def __init__(self, config: PrepareConfig):
        self.config = config

    def setup(self) -> None:
        self.source = self.config.make_source()
        self.cache = self.config.cache()

    def process(self, clip: Clip):
        yield process_clip(
            clip, self.source, self.cache, self.config.segment, self.config.retry_failed
        )


class Tokenize(beam.DoFn):
    """The pluggable tokenize step; the model loads once per worker in ``setup()``.

    Emits ``(split, id, clip, tokens)``: waveforms stay in the clip cache, so that only
    ids, metadata and tokens travel through the shuffle that groups records into shards.
    """

    def __init__(self, config: PrepareConfig):
        self.config = config

    def setup(self) -> None:
        self.tokenizer = make_tokenizer(self.config.tokenizer, **self.config.tokenizer_options)
        self.tokenizer.setup()

    def process(self, outcome: ClipOutcome):
        clip = outcome.clip
        yield clip.split, clip.ytid, clip, self.tokenizer(outcome.segment.audio)


class WriteShard(beam.DoFn):
    """Build each record from the cached waveforms and write one shard, sorted by id."""

    def __init__(self, config: PrepareConfig):
        self.config = config

    def setup(self) -> None:
        self.cache = self.config.cache()

    def _records(self, items):
        for ytid, clip, tokens in sorted(items, key=lambda item: item[0]):
            segment = self.cache.load(clip)
            if segment is None:
                raise RuntimeError(f"{ytid}: cached segment vanished from {self.cache.root}")
            yield ytid, schema.encode(to_record(clip, segment, tokens))

    def process(self, keyed):
        (split, index, count), items = keyed
        name = shard_name(self.config.name, split, index, count)
        yield {"split": split, **write_shard(self.config.out_dir, name, self._records(items))}


def _assign_shard(item, plans: dict[str, dict[str, tuple[int, int]]]):
    split, ytid, clip, tokens = item
    index, count = plans[split][ytid]
    return (split, index, count), (ytid, clip, tokens)


def _dead_letter_row(bad) -> dict[str, str]:
    """A failure row for a clip whose processing raised (Beam's dead-letter output)."""
    clip, (exc_type, exc_repr, _traceback) = bad
    return failure_row(
        clip.ytid, Category.INTERNAL, f"{getattr(exc_type, '__name__', exc_type)}: {exc_repr}"
    )


def build(pipeline: beam.Pipeline, catalog: Catalog, config: PrepareConfig, started: float):
    """Add the prepare graph for ``catalog`` to ``pipeline``."""
    clips = (
        pipeline
        | "Clips" >> beam.Create(list(catalog))
        # Without a reshuffle the fan-out fuses with Create and runs on one worker.
        | "Spread" >> beam.Reshuffle()
    )
    outcomes, crashed = clips | "Process" >> beam.ParDo(
        ProcessClip(config)
    ).with_exception_handling(main_tag="outcomes", dead_letter_tag="crashed")
    good, failed = outcomes | "Split" >> beam.Partition(lambda o, _: int(o.failure is not None), 2)

    records = good | "Tokenize" >> beam.ParDo(Tokenize(config))
    plans = (
        records
        | "SplitAndId" >> beam.Map(lambda item: item[:2])
        | "IdsBySplit" >> beam.GroupByKey()
        | "Plan" >> beam.MapTuple(lambda split, ids: (split, plan_shards(list(ids), config.shards)))
    )
    shards = (
        records
        | "AssignShard" >> beam.Map(_assign_shard, plans=beam.pvalue.AsDict(plans))
        | "GroupShards" >> beam.GroupByKey()
        | "WriteShards" >> beam.ParDo(WriteShard(config))
    )
    failure_rows = (
        failed
        | "FailureRow"
        >> beam.Map(lambda o: failure_row(o.clip.ytid, o.failure.category, o.failure.message)),
        crashed | "CrashRow" >> beam.Map(_dead_letter_row),
    ) | "Failures" >> beam.Flatten()
    statuses = (
        good
        | "Status" >> beam.Map(lambda o: o.status)
        | "CountStatus" >> beam.combiners.Count.PerElement()
    )
    catalog_info = {
        "source": catalog.source,
        "clips": len(catalog),
        "durations_s": sorted({c.duration_s for c in catalog}),
    }
    return (
        pipeline
        | "Once" >> beam.Create([None])
        | "Finalize"
        >> beam.Map(
            lambda _, shards, failures, statuses: finalize(
                config, catalog_info, shards, failures, statuses, started
            ),
            shards=beam.pvalue.AsList(shards),
            failures=beam.pvalue.AsList(failure_rows),
            statuses=beam.pvalue.AsDict(statuses),
        )
    )


class _Progress(threading.Thread):
    """Counts finished clips in the local cache and draws a progress bar on stderr."""

    def __init__(self, catalog: Catalog, config: PrepareConfig):
        super().__init__(daemon=True)
        self.clips = list(catalog)
        self.cache = config.cache()
        self.stop = threading.Event()

    def run(self) -> None:
        from tqdm import tqdm

        with tqdm(total=len(self.clips), desc="prepare", unit="clip", leave=False) as bar:
            while not self.stop.wait(0.5):
                bar.update(self.cache.done_count(self.clips) - bar.n)
            bar.update(self.cache.done_count(self.clips) - bar.n)


def run(
    catalog: Catalog,
    config: PrepareConfig,
    beam_args: Sequence[str] = (),
    progress: bool = True,
    captions: list | None = None,
) -> dict[str, Any]:
    """Prepare ``catalog`` into ``config.out_dir`` and return its ``dataset_info``; a
    dataset with several captions per recording (the Song Describer Dataset: ``captions``)
    gets its caption table beside the records, for the tracks that have one."""
    if not len(catalog):
        raise ValueError("the catalog selection is empty: nothing to prepare")
    os.makedirs(config.out_dir, exist_ok=True)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    options, runner = pipeline_options(beam_args)
    started = time.time()
    watcher = _Progress(catalog, config) if progress and runner is not None else None
    with FolderLock(config.out_dir, "prepare"):
        remove_stale_temporaries(config.cache_dir)  # what killed runs left in the cache
        if watcher:
            watcher.start()
        try:
            with beam.Pipeline(runner=runner, options=options) as pipeline:
                build(pipeline, catalog, config, started)
        finally:
            if watcher:
                watcher.stop.set()
                watcher.join()
        if captions is not None:
            failed = {row["id"] for row in read_failures(config.out_dir)}
            write_captions(config.out_dir, captions, set(catalog.ids()) - failed)
        return read_info(config.out_dir)
