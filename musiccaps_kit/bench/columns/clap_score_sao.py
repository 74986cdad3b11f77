"""``clap_score_sao``: stable-audio-metrics' CLAP score (``clap_score.py``), Stable Audio's
"CLAP": per id, the cosine of the LAION-CLAP text embedding of the prompt and the audio
embedding of the generated clip (``ClapSao``: 48 kHz mono, peak -1 dBFS, int16 round trip,
the whole clip, fusion for the default ``630k-audioset-fusion-best.pt``); the mean over the
system's ids (every generated file with a caption, as the tool scores every prompt)."""

from __future__ import annotations

from functools import lru_cache

from musiccaps_kit.bench import releases
from musiccaps_kit.bench.columns.clap_score import caption_cosines
from musiccaps_kit.bench.columns.job import Job, MetricResult, mean_with_interval
from musiccaps_kit.bench.embedders.clap import ClapSao


@lru_cache(maxsize=4)
def clap_sao(options: tuple) -> ClapSao:
    return ClapSao(**dict(options))


def compute(name: str, job: Job) -> MetricResult:
    settings = job.settings
    audio = clap_sao(tuple(sorted({**job.options("clap-sao"), "seed": settings.seed}.items())))
    ids = job.captioned_ids("clap_score_sao", paired=False)
    frames = job.embed_set(audio, job.system, ids, job.label)
    per_id = caption_cosines(job, audio.tower, ids, frames)
    value, ci = mean_with_interval(per_id, job)
    claim = releases.claim(
        "as stable-audio-metrics (Stable Audio Open's CLAP score)", ("StableAudio",),
        "stable-audio-metrics", releases.CLAP_FUSION_630K, audio.weights_name(),
        audio.weights_checksum(), audio.audio_path.summary(),
    )  # fmt: skip
    recipe = {
        **job.model_recipe(audio),
        "claim": claim,
        "input_audio": job.audio_recipe(audio, (), ids),
        "text": "the prompt, RoBERTa tokenizer, padding='max_length', truncation, 77 tokens",
        "clap_score": "cosine(audio embedding, text embedding) per id, mean over ids",
        "captions": settings.captions,
        **job.interval_recipe("ids"),
    }
    return MetricResult(value, ci, len(per_id), recipe, per_id)
