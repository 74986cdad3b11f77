"""``aes_ce``, ``aes_cu``, ``aes_pc``, ``aes_pq``: Audiobox Aesthetics' four axes (Content
Enjoyment, Content Usefulness, Production Complexity, Production Quality) per clip, as its
``AesPredictor`` scores them, and the system's mean with its interval. Every clip of the
system is scored (no reference is needed); higher is better on all four."""

from __future__ import annotations

from functools import lru_cache

from musiccaps_kit.bench import releases
from musiccaps_kit.bench.columns.job import Job, MetricResult, mean_with_interval
from musiccaps_kit.bench.embedders.aesthetics import Aesthetics
from musiccaps_kit.bench.embedders.aesthetics_network import AXES

NAMES = {
    "CE": "Content Enjoyment",
    "CU": "Content Usefulness",
    "PC": "Production Complexity",
    "PQ": "Production Quality",
}


@lru_cache(maxsize=2)
def scorer(options: tuple) -> Aesthetics:
    return Aesthetics(**dict(options))


def compute(name: str, job: Job) -> MetricResult:
    axis = job.metric.rpartition("_")[2].upper()
    model = scorer(tuple(sorted(job.options(name).items())))
    ids = tuple(sorted(job.system.ids()))
    frames = job.embed_set(model, job.system, ids, job.label)
    per_id = {i: float(frames[i][0][AXES.index(axis)]) for i in ids}
    value, ci = mean_with_interval(per_id, job)
    claim = releases.claim(
        f"as audiobox-aesthetics {axis} ({NAMES[axis]})", (), "audiobox-aesthetics",
        releases.AUDIOBOX_AESTHETICS, model.weights_name(), model.weights_checksum(),
        model.audio_path.summary(),
    )  # fmt: skip
    recipe = {
        **job.model_recipe(model),
        "claim": claim,
        "input_audio": job.audio_recipe(model, (), ids),
        "axis": f"{axis}: {NAMES[axis]}",
        "score": "AesPredictor per clip (windows weighted by length / 10 s), mean over the "
        "system's clips; higher is better",
        **job.interval_recipe("clips", paired=False),
    }
    return MetricResult(value, ci, len(per_id), recipe, per_id)
