"""``mcc_muq``: MuLan cycle consistency on MuQ-MuLan, the open MuLan (the MusicLM paper's
MCC used Google's MuLan, never released): per clip, ``MuQMuLan.calc_similarity`` of the
clip's audio embedding (the mean of its 10 s pieces' unit vectors, not re-normalised) and
its caption's text embedding (each caption alone), i.e. their dot product; the mean over
clips with its interval. A clip without a caption is listed in the recipe, not scored.
Papers since 2025 print it as "Mulan-T" or "MuQ-T"."""

from __future__ import annotations

from functools import lru_cache

from musiccaps_kit.bench import releases
from musiccaps_kit.bench.columns.job import Job, MetricResult, Skipped, mean_with_interval
from musiccaps_kit.bench.embedders.muq import MuqAudio
from musiccaps_kit.bench.embedding_cache import cached_text_embeddings

HEADER = "MCC on MuQ-MuLan (open weights; MusicLM used Google's MuLan)"


@lru_cache(maxsize=2)
def muq_audio(options: tuple) -> MuqAudio:
    return MuqAudio(**dict(options))


def compute(name: str, job: Job) -> MetricResult:
    settings = job.settings
    model = muq_audio(tuple(sorted(job.options(name).items())))
    everyone = job.system_ids
    ids = tuple(i for i in everyone if job.captions.get(i))
    unscored = sorted(set(everyone) - set(ids))
    if not ids:
        raise Skipped(f"no clip of {job.label!r} has a caption in {settings.captions!r}")
    frames = job.embed_set(model, job.system, ids, job.label)
    with job.timings.phase("embed"):
        text = cached_text_embeddings(
            job.cache_dir, model.model.text_recipe(), [job.captions[i] for i in ids],
            model.model.text,
        )  # fmt: skip
    per_id = {i: float(frames[i].mean(axis=0) @ t) for i, t in zip(ids, text, strict=True)}
    value, ci = mean_with_interval(per_id, job)
    claim = releases.claim(
        HEADER, (), "MuQ-MuLan", releases.MUQ_MULAN, model.weights_name(),
        model.weights_checksum(), model.audio_path.summary(),
    )  # fmt: skip
    recipe = {
        **job.model_recipe(model),
        "claim": claim,
        "input_audio": job.audio_recipe(model, (), ids),
        "mcc": "calc_similarity: dot(mean of the clip's 10 s pieces' unit vectors, the "
        "caption's unit vector), mean over clips",
        "text": model.model.text_recipe()["tokenisation"],
        "captions": settings.captions,
        "no_caption": unscored,
        **job.interval_recipe("ids"),
    }
    return MetricResult(value, ci, len(per_id), recipe, per_id)
