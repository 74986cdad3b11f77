"""``clap_score``: AudioCraft's ``CLAPTextConsistencyMetric`` (MusicGen Table 1 "CLAP"):
per clip, the cosine of the caption's and the clip's CLAP embeddings; the mean over clips.
Each clip is scored alone at its own length (AudioCraft's batches also score their
padding). The system's audio takes MusicGen's evaluation path: loudness-normalised to
-14 LUFS at its own rate (``--no-loudness`` skips it), resampled with julius to 48 kHz."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np

from musiccaps_kit.bench import releases
from musiccaps_kit.bench.audio_paths import AUDIOCRAFT, AUDIOCRAFT_GENERATED
from musiccaps_kit.bench.columns.job import Job, MetricResult, mean_with_interval
from musiccaps_kit.bench.embedders.clap import ClapClips, ClapTower
from musiccaps_kit.bench.embedding_cache import cached_text_embeddings


@lru_cache(maxsize=4)
def clap_clips(options: tuple) -> ClapClips:
    return ClapClips(**dict(options))


def caption_cosines(
    job: Job, tower: ClapTower, ids: Sequence[str], frames: Mapping[str, np.ndarray]
) -> dict[str, float]:
    """Per id, the cosine of its caption's CLAP text embedding (cached by the tower's
    recipe) and its clip's (already unit-norm) audio embedding."""
    with job.timings.phase("embed"):
        text_recipe = {**tower.recipe(), "weights_sha256": tower.checksum}
        captions = [job.captions[i] for i in ids]
        text = cached_text_embeddings(job.cache_dir, text_recipe, captions, tower.text)
    return {i: float(frames[i][0] @ t) for i, t in zip(ids, text, strict=True)}


def compute(name: str, job: Job) -> MetricResult:
    settings = job.settings
    audio = clap_clips(tuple(sorted({**job.options(name), "seed": settings.seed}.items())))
    ids = job.captioned_ids("clap_score")
    path = AUDIOCRAFT_GENERATED if settings.loudness else AUDIOCRAFT
    frames = job.embed_set(audio, job.system, ids, job.label, path)
    per_id = caption_cosines(job, audio.tower, ids, frames)
    value, ci = mean_with_interval(per_id, job)
    unmet = None if settings.loudness else "without MusicGen's loudness step (--no-loudness)"
    claim = releases.claim(
        "as MusicGen Table 1", ("MusicGen",), "AudioCraft", releases.CLAP_MUSIC,
        audio.weights_name(), audio.weights_checksum(), f"system: {path.summary()}", unmet,
    )  # fmt: skip
    recipe = {
        **job.model_recipe(audio, system=path),
        "claim": claim,
        "input_audio": job.audio_recipe(audio, (), ids, system_path=path),
        "text": "the caption, RoBERTa tokenizer, padding='max_length', truncation, 77 tokens",
        "clap_score": "cos(text embedding, audio embedding) per clip, mean over clips",
        "captions": settings.captions,
        **job.interval_recipe("ids"),
    }
    return MetricResult(value, ci, len(per_id), recipe, per_id)
