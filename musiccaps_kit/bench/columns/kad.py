"""``kad_<embedder>``: kadtk 1.1.0's kernel audio distance of the system's frames (y, eval)
from the reference's (x, baseline), per-clip KAD, kadtk's KAD-inf and a bootstrap over
clips with the bandwidth held at the whole system's value.

The frames are kadtk's for that embedder: its EnCodec loader (like its DAC, MERT,
wav2vec 2.0, HuBERT and WavLM ones) averages the encoder frames over 1 s
(``postprocess_resoultion``), where fadtk's does not; its CLAP and PaSST loaders are
reproduced as they are. Embedders kadtk has no loader for (musicnn, LEAF, TRILL, and
VGGish, which kadtk takes from torchvggish) give kadtk's formula on this toolkit's frames.
"""

from __future__ import annotations

import numpy as np

from musiccaps_kit.bench import releases
from musiccaps_kit.bench.columns.job import (
    FRAMES_NOTE,
    INF_RECIPE,
    Job,
    MetricResult,
    embedder,
    reference_clips,
    system_clips,
)
from musiccaps_kit.bench.embedders import Embedder, ssl
from musiccaps_kit.bench.metrics.kad import (
    bootstrap_kad,
    kad,
    kad_inf,
    median_pairwise_distance,
    per_clip_kad,
)

# kadtk's frames where its loader differs from fadtk's (the options that give them)
KADTK_FRAMES = {"encodec": {"pooling": "kadtk"}}


def kadtk_frames(name: str) -> dict:
    """The options that give kadtk's frames for an embedder: 1 s pooling for EnCodec and the
    transformers families but Whisper; MERT's config as it is."""
    if name in KADTK_FRAMES:
        return KADTK_FRAMES[name]
    parsed = ssl.parse(name)
    if parsed is None or not parsed[0].layers:
        return {}
    return {"pooling": "kadtk", "conv_pos_batch_norm": "config"}


def column_claim(name: str, model: Embedder, path: str) -> dict:
    weights, sha = model.weights_name(), model.weights_checksum()
    if ssl.parse(name) is not None:
        release = releases.hub_release(model.family.hub)
        return releases.claim(f"as kadtk {model.name}", (), "kadtk", release, weights, sha, path)
    if name == "clap":
        header, release = "as kadtk clap-laion-music", releases.CLAP_MUSIC
    elif name == "encodec":
        header, release = "as kadtk encodec-emb (1 s pooling)", releases.ENCODEC_24K
    elif name == "passt":
        header = f"as kadtk passt-base-{model.seconds}s"
        release = releases.PASST_20S if model.seconds == 20 else releases.PASST_10S
    elif name == "openl3":
        header = "kadtk's KAD on stable-audio-metrics' openl3 frames (kadtk's loader: mono, 48 kHz)"
        return releases.claim(header, (), "kadtk", None, weights, sha, path)
    else:
        header = f"kadtk's KAD on this toolkit's {name} frames (kadtk has no such loader)"
        return releases.claim(header, (), "kadtk", None, weights, sha, path)
    return releases.claim(header, (), "kadtk", release, weights, sha, path)


def _path_note(model: Embedder, job: Job) -> str:
    pooled = model.settings().get("pooling", "none") != "none"
    return job.path_summary(model.audio_path) + (" + frames pooled to 1 s" if pooled else "")


def compute(name: str, job: Job) -> MetricResult:
    """KAD as kadtk 1.1.0: reference frames as x (baseline), the system's as y (eval)."""
    settings = job.settings
    model = embedder(name, {**job.options(name), **kadtk_frames(name)})
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
        **job.model_recipe(model),
        "claim": column_claim(name, model, _path_note(model, job)),
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
