"""``kld_passt``: AudioCraft's ``PasstKLDivergenceMetric`` (MusicGen Table 1 "KL"): per
piece, KL(reference || system) of the softmaxed PaSST logits with 1e-6 on the system side;
the mean over every piece of every clip (AudioCraft's weighting), per clip the mean of its
pieces; the reverse (``kld_qp``) and the sum (``kld_both``) beside it. Both sides resampled
with julius to 32 kHz; the system's clip loudness-normalised first, at its own rate, as
MusicGen's evaluation does (``--no-loudness`` skips it); the model from
``--passt-checkpoint`` (MusicGen's evaluation uses the 20 s release)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from musiccaps_kit.bench import releases
from musiccaps_kit.bench.audio_paths import AUDIOCRAFT, AUDIOCRAFT_GENERATED
from musiccaps_kit.bench.columns.job import Job, MetricResult
from musiccaps_kit.bench.embedders.passt import PasstPieces
from musiccaps_kit.bench.metrics.kld import audiocraft_kl, softmax


@lru_cache(maxsize=2)
def passt_pieces(options: tuple) -> PasstPieces:
    return PasstPieces(**dict(options))


def compute(name: str, job: Job) -> MetricResult:
    settings = job.settings
    ids = job.require_pairs()
    model = passt_pieces(tuple(sorted(job.options("passt-kl").items())))
    reference = job.reference_audio()
    ref = job.embed_set(model, reference, ids, "reference", AUDIOCRAFT)
    path = AUDIOCRAFT_GENERATED if settings.loudness else AUDIOCRAFT
    # the system's clip cut or zero-padded to the reference clip's length
    lengths = {i: round(reference.shape(i, AUDIOCRAFT)["seconds"] * model.rate) for i in ids}
    sys_logits = job.embed_set(model, job.system, ids, job.label, path, fit=lengths)
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
    release = releases.PASST_20S if model.seconds == 20 else releases.PASST_10S
    unmet = None if settings.loudness else "without MusicGen's loudness step (--no-loudness)"
    if model.seconds != 20:
        unmet = "the 10 s PaSST (MusicGen's evaluation uses the 20 s model)"
    summary = job.path_summary(AUDIOCRAFT, path)
    claim = releases.claim(
        "as MusicGen Table 1", ("MusicGen",), "AudioCraft", release, model.weights_name(),
        model.weights_checksum(), summary, unmet,
    )  # fmt: skip
    recipe = {
        **job.model_recipe(model, AUDIOCRAFT, path),
        "claim": claim,
        "input_audio": job.audio_recipe(model, ids, ids, AUDIOCRAFT, path),
        "length": "the system clip cut or zero-padded to the reference clip's length",
        "kl": "AudioCraft kl_divergence: sum p_ref (log p_ref - log(p_sys + 1e-6)) per piece, "
        "softmax of the logits; mean over all pieces of all clips; negative values kept",
        "pieces": int(count.sum()),
        **job.interval_recipe("clips"),
    }
    extra = {"kld_qp": reverse, "kld_both": value + reverse}
    return MetricResult(value, ci, len(ids), recipe, per_clip, None, extra)
