"""``kad_<embedder>``: kadtk 1.1.0's kernel audio distance of the system's frames (y, eval)
from the reference's (x, baseline), per-clip KAD, kadtk's KAD-inf and a bootstrap over
clips with the bandwidth held at the whole system's value."""

from __future__ import annotations

import numpy as np

from musiccaps_kit.bench.columns.job import (
    FRAMES_NOTE,
    INF_RECIPE,
    Job,
    MetricResult,
    embedder,
    reference_clips,
    system_clips,
)
from musiccaps_kit.bench.metrics.kad import (
    bootstrap_kad,
    kad,
    kad_inf,
    median_pairwise_distance,
    per_clip_kad,
)


def compute(name: str, job: Job) -> MetricResult:
    """KAD as kadtk 1.1.0: reference frames as x (baseline), the system's as y (eval)."""
    settings = job.settings
    model = embedder(name, job.options(name))
    sys_ids, system = system_clips(model, job)
    reference, others, ref_ids = reference_clips(model, job, sys_ids)
    x, y = np.concatenate(reference + others), np.concatenate(system)
    with job.timings.phase("statistics"):
        bandwidth = median_pairwise_distance(y)
        value = kad(x, y, bandwidth)
        per_clip = per_clip_kad(x, dict(zip(sys_ids, system, strict=True)))
        inf = kad_inf(x, y, seed=settings.seed) if settings.inf else None
    rounds, confidence, seed = settings.bootstrap_rounds, settings.confidence, settings.seed
    with job.timings.phase("bootstrap"):
        ci = bootstrap_kad(
            reference, system, job.paired, rounds, confidence, seed, others, value, bandwidth
        )
    recipe = {
        **model.recipe(),
        "input_audio": job.audio_recipe(model, ref_ids, sys_ids),
        "kad": "kadtk 1.1.0 calc_kernel_audio_distance: 100 x unbiased MMD^2, reference = x "
        "(baseline), system = y (eval), frames of all clips pooled",
        "kernel": "gaussian exp(-d2 / (2 bandwidth^2 + 1e-8)), d2 from Gram matrices",
        "bandwidth": bandwidth,
        "bandwidth_rule": "median pairwise distance of the system's frames (lower median)",
        "precision": "float32",
        "frames": FRAMES_NOTE,
        "frames_reference": len(x),
        "frames_system": len(y),
        "per_clip": "kadtk score_individual: each clip (own bandwidth) against the whole "
        "reference; clips of one frame have none",
        "inf": INF_RECIPE,
        **job.interval_recipe("clips"),
        "bootstrap_bandwidth": "held at the whole system's value in every round",
    }
    return MetricResult(value, ci, len(system), recipe, per_clip, inf and inf.as_dict())
