"""``mck bench``: the paper's metrics for systems against a reference, as a leaderboard.

Metrics (each with its recipe): ``fad_<embedder>`` for any registered embedder (the
paper's ``fad_vggish`` and ``fad_trill`` through TF Hub, ``fad_musicnn`` offline) and
``kld_musicnn`` (musicnn's MTT tagger, a convention from ``metrics.kld``). FAD comes with a
seeded bootstrap interval over clips and per-clip scores; KLD with a bootstrap interval
of its per-id mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from musiccaps_kit.bench_inputs import ClipSet, Pairing, pair
from musiccaps_kit.embedders import known_embedders, make_embedder
from musiccaps_kit.embedding_cache import EmbeddingCache
from musiccaps_kit.metrics.frechet import (
    GaussianStats,
    bootstrap_fad,
    fad,
    per_clip_fad,
    sum_stats,
)
from musiccaps_kit.metrics.kld import clip_logits, kld

# What each KLD classifier is asked for, over any options the user gave its embedder.
KLD_CLASSIFIERS = {
    "musicnn": {"model": "MTT_musicnn", "output": "logits"},
    "leaf": {"output": "logits"},
}


@dataclass(frozen=True)
class BenchSettings:
    metrics: tuple[str, ...] = ("fad_musicnn", "kld_musicnn")
    embedder_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    kl_convention: str = "bernoulli"
    bootstrap_rounds: int = 200
    confidence: float = 0.95
    seed: int = 0
    rate: int = 16000
    batch_size: int = 16


@dataclass
class MetricResult:
    value: float
    ci: tuple[float, float]
    n: int
    recipe: dict[str, Any]
    per_clip: dict[str, float]


@lru_cache(maxsize=16)
def _cache_for(cache_dir: Path, name: str, options: tuple) -> EmbeddingCache:
    return EmbeddingCache(cache_dir, make_embedder(name, **dict(options)))


def _cache(cache_dir: Path, name: str, options: dict[str, Any]) -> EmbeddingCache:
    """One model instance per embedder and settings for the whole bench."""
    return _cache_for(cache_dir, name, tuple(sorted(options.items())))


@dataclass(frozen=True)
class _Job:
    """One system against the reference under the bench settings."""

    reference: ClipSet
    system: ClipSet
    pairing: Pairing
    settings: BenchSettings
    cache_dir: Path
    label: str

    def embed(self, name: str, options: dict[str, Any], all_reference: bool):
        """The embedder and its (cached) frames for reference and system clips, by id.

        FAD's reference statistics use every reference clip; paired metrics (KLD) only
        the ids both sides have.
        """
        cache = _cache(self.cache_dir, name, options)
        rate = self.settings.rate
        ref_ids = tuple(sorted(self.reference.ids())) if all_reference else self.pairing.common
        batch = self.settings.batch_size
        ref = _embed_all(cache, self.reference, ref_ids, rate, "reference", batch)
        gen = _embed_all(cache, self.system, self.pairing.common, rate, self.label, batch)
        return cache.embedder, ref, gen


def _embed_all(
    cache: EmbeddingCache, clips: ClipSet, ids: tuple[str, ...], rate: int, label: str, batch: int
) -> dict[str, np.ndarray]:
    """Frames per id, ``batch`` clips per model call, with a progress bar."""
    frames: dict[str, np.ndarray] = {}
    with tqdm(
        total=len(ids), desc=f"{label} ({cache.embedder.name})", unit="clip", leave=False
    ) as bar:
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            waves = [clips.audio(i, rate) for i in chunk]
            frames.update(zip(chunk, cache.many(waves, rate), strict=True))
            bar.update(len(chunk))
    return frames


def _fad_metric(name: str, job: _Job) -> MetricResult:
    settings = job.settings
    embedder, ref, gen = job.embed(name, settings.embedder_options.get(name, {}), True)
    ref_stats = sum_stats([GaussianStats.of(f) for f in ref.values()])
    clips = {i: GaussianStats.of(f) for i, f in gen.items()}
    value = fad(ref_stats, sum_stats(list(clips.values())))
    ci = bootstrap_fad(
        ref_stats,
        list(clips.values()),
        settings.bootstrap_rounds,
        settings.confidence,
        settings.seed,
    )
    recipe = {
        **embedder.recipe(),
        "frames_reference": ref_stats.count,
        "frames_system": sum(c.count for c in clips.values()),
        "covariance": "float64, n - 1",
        "bootstrap": f"{settings.bootstrap_rounds} rounds over clips, seed {settings.seed}",
    }
    return MetricResult(value, ci, len(clips), recipe, per_clip_fad(ref_stats, clips))


def _kld_metric(classifier: str, job: _Job) -> MetricResult:
    settings = job.settings
    options = {**settings.embedder_options.get(classifier, {}), **KLD_CLASSIFIERS[classifier]}
    model, ref, gen = job.embed(classifier, options, False)
    per_id = kld(
        {i: clip_logits(v) for i, v in ref.items()},
        {i: clip_logits(v) for i, v in gen.items()},
        settings.kl_convention,
    )
    values = np.array(list(per_id.values()))
    rng = np.random.default_rng(settings.seed)
    means = [
        values[rng.integers(0, len(values), len(values))].mean()
        for _ in range(settings.bootstrap_rounds)
    ]
    tail = (1 - settings.confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    recipe = {
        **model.recipe(),
        "kl": "KL(p_ref || p_gen) per id, mean over ids",
        "kl_convention": settings.kl_convention,
        "clip_logits": "mean of window logits",
        "eps": 1e-6,
        "bootstrap": f"{settings.bootstrap_rounds} rounds over ids, seed {settings.seed}",
    }
    return MetricResult(
        float(values.mean()), (float(low), float(high)), len(values), recipe, per_id
    )


def _metric_function(metric: str):
    """The function and model behind a metric name, checked before any work starts."""
    kind, _, model = metric.partition("_")
    if kind == "fad" and model in known_embedders():
        return _fad_metric, model
    if kind == "kld" and model in KLD_CLASSIFIERS:
        return _kld_metric, model
    known = [f"fad_{e}" for e in known_embedders()] + [f"kld_{c}" for c in KLD_CLASSIFIERS]
    raise ValueError(f"unknown metric {metric!r}: known are {', '.join(known)}")


def run_bench(
    reference: str | Path,
    systems: dict[str, str | Path],
    settings: BenchSettings,
    cache_dir: str | Path,
) -> dict[str, Any]:
    """Compute every metric for every system; missing and extra ids are reported, not hidden."""
    plan = {metric: _metric_function(metric) for metric in settings.metrics}
    ref_set = ClipSet(reference)
    if not ref_set.ids():
        raise ValueError(f"{reference}: no clips found")
    rows = []
    for name, path in systems.items():
        system = ClipSet(path)
        pairing = pair(ref_set, system)
        if not pairing.common:
            raise ValueError(f"system {name!r} ({path}) shares no id with the reference")
        job = _Job(ref_set, system, pairing, settings, Path(cache_dir), name)
        results = {metric: compute(model, job) for metric, (compute, model) in plan.items()}
        rows.append({"system": name, "path": str(path), "pairing": pairing, "results": results})
    return {"reference": str(reference), "reference_clips": len(ref_set.ids()), "rows": rows}
