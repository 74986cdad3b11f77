"""Embedding extraction and Fréchet statistics as a Beam pipeline (``mck stats``).

    ids -> Reshuffle -> batches -> EmbedClips (embedding cache) -> per-clip GaussianStats
        -> CombineGlobally(MergeStats) -> stats.npz + stats.json

The statistics are mergeable sums (count, sum, sum of outer products, float64), so
workers combine partial sums in any order, as in Google's FAD Beam pipeline; the numbers
equal the in-process path's up to float64 summation order. Embeddings land in the same
cache ``mck bench`` uses, keyed by audio, recipe and weights.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import apache_beam as beam

from musiccaps_kit.bench import fadtk
from musiccaps_kit.bench.clips import ClipSet
from musiccaps_kit.bench.embedders import make_embedder
from musiccaps_kit.bench.embedding_cache import EmbeddingCache
from musiccaps_kit.bench.metrics.frechet import GaussianStats
from musiccaps_kit.bench.stats_files import FADTK_FILE, STATS_FILE, write_recipe
from musiccaps_kit.pipelines.runner import pipeline_options


class EmbedClips(beam.DoFn):
    """Embed a batch of ids (decoded from the clip set, cached) into per-clip statistics."""

    def __init__(self, clips: str, embedder: str, options: dict[str, Any], cache_dir: str):
        self.clips, self.embedder, self.options, self.cache_dir = (
            clips,
            embedder,
            options,
            cache_dir,
        )

    def setup(self) -> None:
        self.clip_set = ClipSet(self.clips)
        self.cache = EmbeddingCache(self.cache_dir, make_embedder(self.embedder, **self.options))

    def process(self, ids: list[str]):
        # decoded straight to the embedder's own rate, as mck bench does
        rate = self.cache.embedder.rate
        waves = [self.clip_set.audio(i, rate, self.cache.embedder.audio_path) for i in ids]
        for frames in self.cache.many(waves, rate):
            yield GaussianStats.of(frames)


class MergeStats(beam.CombineFn):
    """Sum of ``GaussianStats``: associative and commutative, so any merge order works."""

    def create_accumulator(self) -> GaussianStats | None:
        return None

    def add_input(self, acc: GaussianStats | None, stats: GaussianStats) -> GaussianStats:
        return stats if acc is None else acc + stats

    def merge_accumulators(self, accs) -> GaussianStats | None:
        merged = None
        for acc in accs:
            if acc is not None:
                merged = acc if merged is None else merged + acc
        return merged

    def extract_output(self, acc: GaussianStats | None) -> GaussianStats | None:
        return acc


def run(
    clips: str | Path,
    embedder: str,
    out: str | Path,
    cache_dir: str | Path,
    options: dict[str, Any] | None = None,
    batch_size: int = 16,
    beam_args: Sequence[str] = (),
    fadtk_file: bool = False,
) -> GaussianStats:
    """Statistics of every clip in ``clips`` under ``embedder``; saved in ``out`` (and as
    ``out/fadtk.npz`` in fadtk's format when ``fadtk_file``)."""
    options = dict(options or {})
    clip_set = ClipSet(clips)
    ids = sorted(clip_set.ids())
    if not ids:
        raise ValueError(f"{clips}: no clips found")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    recipe = make_embedder(embedder, **options).recipe()
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    beam_options, runner = pipeline_options(beam_args)
    stats_path = str(out / STATS_FILE)
    with beam.Pipeline(runner=runner, options=beam_options) as pipeline:
        _ = (
            pipeline
            | "Ids" >> beam.Create(ids)
            | "Spread" >> beam.Reshuffle()
            | "Batch" >> beam.BatchElements(min_batch_size=batch_size, max_batch_size=batch_size)
            | "Embed" >> beam.ParDo(EmbedClips(str(clips), embedder, options, str(cache_dir)))
            | "Merge" >> beam.CombineGlobally(MergeStats())
            | "Save" >> beam.Map(_save, stats_path)
        )
    stats = GaussianStats.load(stats_path)
    write_recipe(out, clips, len(ids), stats, recipe)
    if fadtk_file:
        fadtk.write(out / FADTK_FILE, embedder, stats, recipe)
    return stats


def _save(stats: GaussianStats | None, path: str) -> None:
    if stats is None:
        raise ValueError("no clip produced an embedding")
    stats.save(path)
