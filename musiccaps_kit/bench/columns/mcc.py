"""``mcc_<joint model>``: MuLan cycle consistency, per id the cosine of the caption's text
embedding and the generated clip's audio embedding, the mean over ids with its interval."""

from __future__ import annotations

from musiccaps_kit.bench.columns.job import Job, MetricResult, cached_model, mean_with_interval
from musiccaps_kit.bench.joint import JointModel
from musiccaps_kit.bench.metrics.mcc import clip_embedding, mcc


def compute(name: str, job: Job) -> MetricResult:
    settings = job.settings
    options = settings.joint_options.get(name, {})
    model: JointModel = cached_model("joint", name, tuple(sorted(options.items())))
    ids = job.captioned_ids("MCC")
    frames = job.embed_set(model.audio, job.system, ids, job.label)
    audio = {i: clip_embedding(f) for i, f in frames.items()}
    text = dict(zip(ids, model.text([job.captions[i] for i in ids]), strict=True))
    per_id = mcc(text, audio)
    value, ci = mean_with_interval(per_id, job)
    recipe = {
        **model.recipe(),
        "audio_path": model.audio.audio_path.summary(),
        "resampler": model.audio.audio_path.resampler,
        "input_audio": job.audio_recipe(model.audio, (), ids),
        "mcc": "cos(text(caption), mean of the clip's audio window embeddings), mean over ids",
        "captions": settings.captions,
        **job.interval_recipe("ids"),
    }
    return MetricResult(value, ci, len(per_id), recipe, per_id)
