"""``mck bench``: the paper's metrics for systems against a reference, as a leaderboard.

Metrics (each with its recipe): ``fad_<embedder>`` for any registered embedder (the
paper's ``fad_vggish`` and ``fad_trill`` through TF Hub, ``fad_musicnn`` offline,
``fad_leaf``), ``kld_<classifier>`` (``musicnn``'s MTT tagger, or a ``leaf`` AudioSet
classifier; a convention from ``metrics.kld``) and ``mcc_<joint model>`` (captions from a
catalog). FAD comes with a seeded bootstrap interval over clips and per-clip scores; KLD
and MCC with a bootstrap interval of their per-id mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.bench import leaderboard
from musiccaps_kit.bench.clips import ClipSet, Pairing, pair, read_system
from musiccaps_kit.bench.embedders import Embedder, known_embedders, make_embedder
from musiccaps_kit.bench.embedding_cache import EmbeddingCache, embed_clips
from musiccaps_kit.bench.joint import JointModel, known_joint_models, make_joint_model
from musiccaps_kit.bench.metrics.frechet import (
    GaussianStats,
    bootstrap_fad,
    fad,
    per_clip_fad,
    sum_stats,
)
from musiccaps_kit.bench.metrics.kld import clip_logits, kld
from musiccaps_kit.bench.metrics.mcc import clip_embedding, mcc
from musiccaps_kit.bootstrap import percentile_interval
from musiccaps_kit.data import catalog

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
    captions: str = "musiccaps"


@dataclass
class MetricResult:
    value: float
    ci: tuple[float, float]
    n: int
    recipe: dict[str, Any]
    per_clip: dict[str, float]


@lru_cache(maxsize=16)
def _model(kind: str, name: str, options: tuple):
    """One model instance per name and settings for the whole bench."""
    factory = make_embedder if kind == "embedder" else make_joint_model
    return factory(name, **dict(options))


def _embedder(name: str, options: dict[str, Any]) -> Embedder:
    return _model("embedder", name, tuple(sorted(options.items())))


@dataclass(frozen=True)
class _Job:
    """One system against the reference under the bench settings."""

    reference: ClipSet
    system: ClipSet
    pairing: Pairing
    settings: BenchSettings
    cache_dir: Path
    label: str
    captions: Mapping[str, str]

    def embed(self, embedder: Embedder, all_reference: bool):
        """(Cached) frames for reference and system clips, by id.

        FAD's reference statistics use every reference clip; paired metrics (KLD) only
        the ids both sides have.
        """
        ref_ids = tuple(sorted(self.reference.ids())) if all_reference else self.pairing.common
        return self.embed_set(embedder, self.reference, ref_ids, "reference"), self.embed_system(
            embedder
        )

    def embed_system(self, embedder: Embedder) -> dict[str, np.ndarray]:
        return self.embed_set(embedder, self.system, self.pairing.common, self.label)

    def embed_set(self, embedder: Embedder, clips: ClipSet, ids, label: str):
        cache = EmbeddingCache(self.cache_dir, embedder)
        rate, batch = self.settings.rate, self.settings.batch_size
        return embed_clips(cache, clips, ids, rate, label, batch)


def _mean_with_interval(per_id: dict[str, float], settings: BenchSettings):
    """The mean over ids and its seeded percentile bootstrap interval."""
    values = np.array(list(per_id.values()))
    low, high = percentile_interval(
        lambda draw: values[draw].mean(),
        len(values),
        settings.bootstrap_rounds,
        settings.confidence,
        settings.seed,
    )
    return float(values.mean()), (float(low), float(high))


def _fad_metric(name: str, job: _Job) -> MetricResult:
    settings = job.settings
    embedder = _embedder(name, settings.embedder_options.get(name, {}))
    ref, gen = job.embed(embedder, True)
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
    model = _embedder(classifier, options)
    ref, gen = job.embed(model, False)
    per_id = kld(
        {i: clip_logits(v) for i, v in ref.items()},
        {i: clip_logits(v) for i, v in gen.items()},
        settings.kl_convention,
    )
    value, ci = _mean_with_interval(per_id, settings)
    recipe = {
        **model.recipe(),
        "kl": "KL(p_ref || p_gen) per id, mean over ids",
        "kl_convention": settings.kl_convention,
        "clip_logits": "mean of window logits",
        "eps": 1e-6,
        "bootstrap": f"{settings.bootstrap_rounds} rounds over ids, seed {settings.seed}",
    }
    return MetricResult(value, ci, len(per_id), recipe, per_id)


def _mcc_metric(name: str, job: _Job) -> MetricResult:
    settings = job.settings
    options = settings.embedder_options.get(name, {})
    model: JointModel = _model("joint", name, tuple(sorted(options.items())))
    ids = job.pairing.common
    lacking = [i for i in ids if not job.captions.get(i)]
    if lacking:
        raise ValueError(
            f"MCC: {len(lacking)} ids of {job.label!r} have no caption in "
            f"{settings.captions!r} (first: {', '.join(lacking[:5])})"
        )
    audio = {i: clip_embedding(f) for i, f in job.embed_system(model.audio).items()}
    text = dict(zip(ids, model.text([job.captions[i] for i in ids]), strict=True))
    per_id = mcc(text, audio)
    value, ci = _mean_with_interval(per_id, settings)
    recipe = {
        **model.recipe(),
        "mcc": "cos(text(caption), mean of the clip's audio window embeddings), mean over ids",
        "captions": settings.captions,
        "bootstrap": f"{settings.bootstrap_rounds} rounds over ids, seed {settings.seed}",
    }
    return MetricResult(value, ci, len(per_id), recipe, per_id)


def known_metrics() -> list[str]:
    """Every metric name ``--metrics`` takes, from the embedder and joint-model registries."""
    return (
        [f"fad_{e}" for e in known_embedders()]
        + [f"kld_{c}" for c in KLD_CLASSIFIERS]
        + [f"mcc_{j}" for j in known_joint_models()]
    )


def _metric_function(metric: str):
    """The function and model behind a metric name, checked before any work starts."""
    kind, _, model = metric.partition("_")
    if kind == "fad" and model in known_embedders():
        return _fad_metric, model
    if kind == "kld" and model in KLD_CLASSIFIERS:
        return _kld_metric, model
    if kind == "mcc" and model in known_joint_models():
        return _mcc_metric, model
    raise ValueError(f"unknown metric {metric!r}: known are {', '.join(known_metrics())}")


def model_options(
    vggish: str | None = None,
    vggish_frontend: str = "google2019",
    trill: str | None = None,
    trill_output: str = "embedding",
    leaf_checkpoint: str | None = None,
    mcc_checkpoint: str | None = None,
    clap_amodel: str = "HTSAT-tiny",
) -> dict[str, dict[str, Any]]:
    """Per-model settings (``BenchSettings.embedder_options``) from the bench's options: TF
    Hub handles, the LEAF checkpoint, and the joint model's checkpoint for every MCC model."""
    options: dict[str, dict[str, Any]] = {
        "vggish": {"frontend": vggish_frontend},
        "trill": {"output": trill_output},
    }
    if vggish:
        options["vggish"]["handle"] = vggish
    if trill:
        options["trill"]["handle"] = trill
    if leaf_checkpoint:
        options["leaf"] = {"checkpoint": leaf_checkpoint}
    if mcc_checkpoint:
        for joint in known_joint_models():
            options[joint] = {"checkpoint": mcc_checkpoint}
        options["clap"]["amodel"] = clap_amodel
    return options


def parse_systems(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``NAME=FOLDER`` items as a name -> folder mapping; a bad item is a ValueError."""
    named = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not Path(path).is_dir():
            raise ValueError(f"{item!r}: expected NAME=FOLDER")
        named[name] = path
    return named


def run_bench(
    reference: str | Path,
    systems: dict[str, str | Path],
    settings: BenchSettings,
    cache_dir: str | Path,
) -> dict[str, Any]:
    """Compute every metric for every system; missing and extra ids are reported, not hidden."""
    plan = {metric: _metric_function(metric) for metric in settings.metrics}
    captions = {}
    if any(m.startswith("mcc_") for m in settings.metrics):
        captions = {clip.ytid: clip.caption for clip in catalog.load(settings.captions)}
    ref_set = ClipSet(reference)
    if not ref_set.ids():
        raise ValueError(f"{reference}: no clips found")
    rows = []
    for name, path in systems.items():
        system = ClipSet(path)
        pairing = pair(ref_set, system)
        if not pairing.common:
            raise ValueError(f"system {name!r} ({path}) shares no id with the reference")
        job = _Job(ref_set, system, pairing, settings, Path(cache_dir), name, captions)
        results = {metric: compute(model, job) for metric, (compute, model) in plan.items()}
        rows.append(
            {
                "system": name,
                "path": str(path),
                "pairing": pairing,
                "results": results,
                "made_by": read_system(path),
            }
        )
    return {"reference": str(reference), "reference_clips": len(ref_set.ids()), "rows": rows}


def bench_to_folder(
    reference: str | Path,
    systems: dict[str, str | Path],
    settings: BenchSettings,
    out: str | Path,
    cache_dir: str | Path | None = None,
) -> tuple[dict[str, Any], Path]:
    """``run_bench`` and its leaderboard (JSON, Markdown, HTML report, per-clip CSV) in
    ``out``; the embedding cache defaults to ``out/embeddings``. Returns the result and the
    report's path."""
    out = Path(out)
    result = run_bench(reference, systems, settings, cache_dir or out / "embeddings")
    return result, leaderboard.write(result, asdict(settings), out)
