"""``clap_score``: AudioCraft's ``CLAPTextConsistencyMetric`` (MusicGen Table 1 "CLAP"):
per clip, the cosine of the caption's and the clip's CLAP embeddings; the mean over clips.
Each clip is scored alone at its own length (AudioCraft's batches also score their
padding)."""

from __future__ import annotations

from functools import lru_cache

from musiccaps_kit.bench.columns.job import Job, MetricResult, mean_with_interval
from musiccaps_kit.bench.embedders.clap import ClapClips
from musiccaps_kit.bench.embedding_cache import cached_text_embeddings


@lru_cache(maxsize=4)
def clap_clips(options: tuple) -> ClapClips:
    return ClapClips(**dict(options))


def compute(name: str, job: Job) -> MetricResult:
    settings = job.settings
    audio = clap_clips(tuple(sorted(job.options(name).items())))
    ids = job.captioned_ids("clap_score")
    frames = job.embed_set(audio, job.system, ids, job.label)
    with job.timings.phase("embed"):
        text_recipe = {**audio.tower.recipe(), "weights_sha256": audio.tower.checksum}
        captions = [job.captions[i] for i in ids]
        text = cached_text_embeddings(job.cache_dir, text_recipe, captions, audio.tower.text)
    per_id = {i: float(frames[i][0] @ t) for i, t in zip(ids, text, strict=True)}
    value, ci = mean_with_interval(per_id, job)
    recipe = {
        **audio.recipe(),
        "input_audio": job.audio_recipe(audio, (), ids),
        "text": "the caption, RoBERTa tokenizer, padding='max_length', truncation, 77 tokens",
        "clap_score": "cos(text embedding, audio embedding) per clip, mean over clips",
        "captions": settings.captions,
        **job.interval_recipe("ids"),
    }
    return MetricResult(value, ci, len(per_id), recipe, per_id)
