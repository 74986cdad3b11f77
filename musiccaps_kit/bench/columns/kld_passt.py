"""``kld_passt``: AudioCraft's ``PasstKLDivergenceMetric`` (MusicGen Table 1 "KL"): per
piece, KL(reference || system) of the softmaxed PaSST logits with 1e-6 on the system side;
the mean over every piece of every clip (AudioCraft's weighting), per clip the mean of its
pieces; the reverse (``kld_qp``) and the sum (``kld_both``) beside it."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from musiccaps_kit.audio import fit_length
from musiccaps_kit.bench.clips import ClipSet
from musiccaps_kit.bench.columns.job import Job, MetricResult
from musiccaps_kit.bench.embedders.passt import PasstPieces
from musiccaps_kit.bench.embedding_cache import EmbeddingCache
from musiccaps_kit.bench.metrics.kld import audiocraft_kl, softmax


@lru_cache(maxsize=2)
def passt_pieces(options: tuple) -> PasstPieces:
    return PasstPieces(**dict(options))


def _samples(clips: ClipSet, clip_id: str, rate: int) -> int:
    """A decoded clip's length in samples at ``rate`` (from what decoding or the cache
    recorded of it)."""
    return int(round(clips.shape(clip_id)["seconds"] * rate))


def compute(name: str, job: Job) -> MetricResult:
    settings = job.settings
    ids = job.require_pairs()
    model = passt_pieces(tuple(sorted(job.options("passt-kl").items())))
    ref = job.embed_set(model, job.reference, ids, "reference")
    cache = EmbeddingCache(job.cache_dir, model)
    sys_logits: dict[str, np.ndarray] = {}
    for start in range(0, len(ids), settings.batch_size):
        chunk = ids[start : start + settings.batch_size]
        with job.timings.phase("decode"):
            # the system's clip cut or zero-padded to the reference clip's length
            waves = [
                fit_length(job.system.audio(i, model.rate), _samples(job.reference, i, model.rate))
                for i in chunk
            ]
        with job.timings.phase("embed"):
            sys_logits.update(zip(chunk, cache.many(waves, model.rate), strict=True))
    with job.timings.phase("statistics"):
        pq, qp, pieces = {}, {}, {}
        for i in ids:
            p_ref, p_sys = softmax(ref[i]), softmax(sys_logits[i])
            pq[i] = audiocraft_kl(p_ref, p_sys)  # KL(reference || system + eps)
            qp[i] = audiocraft_kl(p_sys, p_ref)
            pieces[i] = len(pq[i])
        count = np.array([pieces[i] for i in ids], dtype=np.float64)
        sums = np.array([pq[i].sum() for i in ids])
        value = float(sums.sum() / count.sum())
        reverse = float(sum(qp[i].sum() for i in ids) / count.sum())
        per_clip = {i: float(pq[i].mean()) for i in ids}

    def statistic(draw: np.ndarray) -> float:
        times = np.bincount(draw, minlength=len(ids))
        return float(times @ sums / (times @ count))

    ci = job.interval(value, statistic, len(ids))
    recipe = {
        **model.recipe(),
        "input_audio": job.audio_recipe(model, ids, ids),
        "resampler_note": "AudioCraft resamples with julius; here the project's resampler",
        "length": "the system clip cut or zero-padded to the reference clip's length",
        "kl": "AudioCraft kl_divergence: sum p_ref (log p_ref - log(p_sys + 1e-6)) per piece, "
        "softmax of the logits; mean over all pieces of all clips; negative values kept",
        "pieces": int(count.sum()),
        **job.interval_recipe("clips"),
    }
    extra = {"kld_qp": reverse, "kld_both": value + reverse}
    return MetricResult(value, ci, len(ids), recipe, per_clip, None, extra)
