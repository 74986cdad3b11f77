"""``fad_<embedder>``: the Fréchet distance of the system's frames from the reference's (or
from reference statistics in fadtk's format), with a paired bootstrap over clips, per-clip
FAD and fadtk's FAD-inf."""

from __future__ import annotations

import numpy as np

from musiccaps_kit.bench import fadtk
from musiccaps_kit.bench.columns.job import (
    FRAMES_NOTE,
    INF_RECIPE,
    Job,
    MetricResult,
    embedder,
    reference_clips,
    system_clips,
)
from musiccaps_kit.bench.embedders import Embedder
from musiccaps_kit.bench.metrics.frechet import (
    GaussianStats,
    bootstrap_fad,
    bootstrap_fad_frames,
    fad,
    fad_inf,
    per_clip_fad,
    sum_stats,
)


def _reference(name: str, model: Embedder, job: Job, sys_ids: tuple[str, ...]):
    """The reference side of FAD: (per-clip frames resampled with the system's ids or on
    their own, frames every round shares, statistics from a file, the ids used, source)."""
    spec = job.settings.reference_stats
    if spec and fadtk.parse_spec(spec)[1] == name:
        return [], [], fadtk.read(spec, model.recipe()), (), spec
    reference, others, all_ids = reference_clips(model, job, sys_ids)
    return reference, others, None, all_ids, "every clip"


def compute(name: str, job: Job) -> MetricResult:
    settings = job.settings
    model = embedder(name, job.options(name))
    sys_ids, system = system_clips(model, job)
    reference, others, from_file, ref_ids, source = _reference(name, model, job, sys_ids)
    paired = job.paired and from_file is None
    with job.timings.phase("statistics"):
        clips = {i: GaussianStats.of(f) for i, f in zip(sys_ids, system, strict=True)}
        parts = [GaussianStats.of(f) for f in reference + others]
        ref_total = sum_stats(parts + ([from_file] if from_file is not None else []))
        value = fad(ref_total, sum_stats(list(clips.values())))
        per_clip = per_clip_fad(ref_total, dict(zip(sys_ids, system, strict=True)))
        inf = (
            fad_inf(ref_total, np.concatenate(system), seed=settings.seed) if settings.inf else None
        )
    rounds, confidence, seed = settings.bootstrap_rounds, settings.confidence, settings.seed
    with job.timings.phase("bootstrap"):
        if from_file is not None:
            sys_stats = list(clips.values())
            ci = bootstrap_fad([], sys_stats, False, rounds, confidence, seed, from_file, value)
        else:
            ci = bootstrap_fad_frames(
                reference, system, paired, rounds, confidence, seed, others, value
            )
    recipe = {
        **model.recipe(),
        "input_audio": job.audio_recipe(model, ref_ids, sys_ids),
        "reference": source,
        "frames_reference": ref_total.count,
        "frames_system": sum(c.count for c in clips.values()),
        "covariance": "float64, n - 1",
        "frames": FRAMES_NOTE,
        "inf": INF_RECIPE,
        **job.interval_recipe("clips", paired),
    }
    return MetricResult(value, ci, len(clips), recipe, per_clip, inf and inf.as_dict())
