"""``kld_<classifier>``: per id, KL(p_ref || p_gen) of a classifier's class distributions
(musicnn's MTT tagger, or a LEAF AudioSet classifier) under a named convention
(``metrics.kld``), the mean over ids with its interval."""

from __future__ import annotations

from musiccaps_kit.bench.columns.job import Job, MetricResult, embedder, mean_with_interval
from musiccaps_kit.bench.metrics.kld import kld

# What each KLD classifier is asked for, over any options the user gave its embedder.
CLASSIFIERS = {
    "musicnn": {"model": "MTT_musicnn", "output": "logits"},
    "leaf": {"output": "logits"},
}


def compute(classifier: str, job: Job) -> MetricResult:
    settings = job.settings
    ids = job.require_pairs()
    model = embedder(classifier, {**job.options(classifier), **CLASSIFIERS[classifier]})
    ref = job.embed_set(model, job.reference_audio(), ids, "reference")
    gen = job.embed_set(model, job.system, ids, job.label)
    with job.timings.phase("statistics"):
        per_id = kld(ref, gen, settings.kl_convention)
    value, ci = mean_with_interval(per_id, job)
    recipe = {
        **job.model_recipe(model),
        "input_audio": job.audio_recipe(model, ids, ids),
        "kl": "KL(p_ref || p_gen) per id, mean over ids",
        "kl_convention": settings.kl_convention,
        "eps": 1e-6,
        **job.interval_recipe("ids"),
    }
    return MetricResult(value, ci, len(per_id), recipe, per_id)
