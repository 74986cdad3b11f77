"""``mck bench``: the papers' metrics for systems against a reference, as a leaderboard.

Metrics (each with its recipe): ``fad_<embedder>`` and ``kad_<embedder>`` for any
registered embedder (the paper's ``fad_vggish`` and ``fad_trill`` through TF Hub,
``fad_musicnn`` offline, ``fad_leaf``, fadtk's ``fad_clap`` and ``fad_encodec``, kadtk's
KAD and PaSST embedding), ``kld_<classifier>`` (``musicnn``'s MTT tagger, or a ``leaf``
AudioSet classifier; a convention from ``metrics.kld``), ``kld_passt`` (AudioCraft's
KL-PaSST), ``mcc_<joint model>`` and ``clap_score`` (AudioCraft's; captions from a
catalog or CSV). Names take dashes or underscores; ``offline``, ``paper``, ``musicgen``,
``fadtk`` and ``kad`` name sets.

Every model gets each clip decoded once from its source and resampled straight to the
model's own rate. A system that shares ids with the reference is *paired*: bootstrap
rounds draw ids once for both sides. One that shares none (a generic reference, as fadtk
uses) is *unpaired*: FAD runs on each whole set and draws each side on its own, KLD (which
compares clip with clip) is skipped with a note, MCC scores the system's own ids.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.audio import RESAMPLER, fit_length
from musiccaps_kit.bench import agreement, fadtk, report
from musiccaps_kit.bench.clips import ClipSet, Pairing, pair, read_system
from musiccaps_kit.bench.embedders import Embedder, known_embedders, make_embedder
from musiccaps_kit.bench.embedders.clap import ClapClips
from musiccaps_kit.bench.embedders.passt import PasstPieces
from musiccaps_kit.bench.embedding_cache import (
    EmbeddingCache,
    cached_text_embeddings,
    embed_clips,
)
from musiccaps_kit.bench.joint import JointModel, known_joint_models, make_joint_model
from musiccaps_kit.bench.leaderboard import lower_is_better
from musiccaps_kit.bench.metrics.frechet import (
    GaussianStats,
    bootstrap_fad,
    bootstrap_fad_frames,
    fad,
    fad_inf,
    per_clip_fad,
    sum_stats,
)
from musiccaps_kit.bench.metrics.kad import (
    bootstrap_kad,
    kad,
    kad_inf,
    median_pairwise_distance,
    per_clip_kad,
)
from musiccaps_kit.bench.metrics.kld import audiocraft_kl, kld, softmax
from musiccaps_kit.bench.metrics.mcc import clip_embedding, mcc
from musiccaps_kit.bootstrap import METHOD, bootstrap_interval
from musiccaps_kit.data import catalog
from musiccaps_kit.timing import Timings

# What each KLD classifier is asked for, over any options the user gave its embedder.
KLD_CLASSIFIERS = {
    "musicnn": {"model": "MTT_musicnn", "output": "logits"},
    "leaf": {"output": "logits"},
}


@dataclass(frozen=True)
class BenchSettings:
    metrics: tuple[str, ...] = ("fad_musicnn", "kld_musicnn")
    embedder_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    kl_convention: str = "bernoulli"
    bootstrap_rounds: int = 200
    confidence: float = 0.95
    seed: int = 0
    batch_size: int = 16
    captions: str = "musiccaps"
    # fadtk-format statistics (FILE.npz:MODEL) in place of the reference clips for fad_MODEL
    reference_stats: str | None = None
    # the joint model --mcc-checkpoint belongs to (for the metric sets)
    mcc_model: str | None = None
    # per joint model (mcc_*): its settings, apart from the embedders' (CLAP is both)
    joint_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    # a listening study (mck listen analyze's listening.json): which metric agrees with it
    listening: str | None = None
    # FAD-inf and KAD-inf (25 more FADs or KADs per metric: KAD's cost grows with frames^2)
    inf: bool = True


@dataclass
class MetricResult:
    value: float
    ci: tuple[float, float]
    n: int
    recipe: dict[str, Any]
    per_clip: dict[str, float]
    # FAD-inf / KAD-inf: {"value", "slope", "r2"} (fadtk's and kadtk's score_inf)
    inf: dict[str, float] | None = None
    # further numbers the original tool reports beside the value (KL-PaSST's kld_qp, ...)
    extra: dict[str, float] = field(default_factory=dict)


class Skipped(Exception):
    """A metric that does not apply to a system (the reason goes into the leaderboard)."""


@lru_cache(maxsize=16)
def _model(kind: str, name: str, options: tuple):
    """One model instance per name and settings for the whole bench."""
    factory = make_embedder if kind == "embedder" else make_joint_model
    return factory(name, **dict(options))


def _embedder(name: str, options: dict[str, Any]) -> Embedder:
    return _model("embedder", name, tuple(sorted(options.items())))


@dataclass(frozen=True)
class _Job:
    """One system against the reference under the bench settings."""

    reference: ClipSet
    system: ClipSet
    pairing: Pairing
    settings: BenchSettings
    cache_dir: Path
    label: str
    captions: Mapping[str, str]
    timings: Timings = field(default_factory=Timings)

    @property
    def paired(self) -> bool:
        return bool(self.pairing.common)

    @property
    def system_ids(self) -> tuple[str, ...]:
        """The system's ids a metric scores: those shared with the reference, or all."""
        return self.pairing.common if self.paired else tuple(sorted(self.system.ids()))

    def embed_set(self, embedder: Embedder, clips: ClipSet, ids, label: str):
        """(Cached) frames by id: each clip decoded from its source and resampled once,
        straight to the embedder's rate."""
        cache = EmbeddingCache(self.cache_dir, embedder)
        batch = self.settings.batch_size
        return embed_clips(cache, clips, ids, embedder.rate, label, batch, self.timings)

    def audio_recipe(self, embedder: Embedder, ids_reference, ids_system) -> dict[str, Any]:
        return {
            "model_rate": embedder.rate,
            "source_rates_reference": self.reference.source_rates(ids_reference),
            "source_rates_system": self.system.source_rates(ids_system),
            "resampler": RESAMPLER,
            "path": "decoded once from the source, resampled straight to the model rate",
        }

    def interval_recipe(self, over: str, paired: bool | None = None) -> dict[str, Any]:
        s = self.settings
        paired = self.paired if paired is None else paired
        how = "ids drawn once for both sides" if paired else "each side drawn on its own"
        return {
            "interval": f"{s.confidence:.0%} {METHOD}",
            "bootstrap": f"{s.bootstrap_rounds} rounds over {over}, {how}, seed {s.seed}",
            "pairing": "paired" if paired else "unpaired",
        }


def _mean_with_interval(per_id: dict[str, float], job: _Job):
    """The mean over ids and its bootstrap interval (ids resampled)."""
    settings = job.settings
    values = np.array(list(per_id.values()))
    estimate = float(values.mean())
    with job.timings.phase("bootstrap"):
        low, high = bootstrap_interval(
            estimate,
            lambda draw: values[draw].mean(),
            len(values),
            settings.bootstrap_rounds,
            settings.confidence,
            settings.seed,
        )
    return estimate, (float(low), float(high))


def _reference_clips(embedder: Embedder, job: _Job, sys_ids: tuple[str, ...]):
    """The reference's frames per clip: (those resampled with the system's ids, or all of
    them when unpaired; the reference's other clips, which every round shares; all ids)."""
    all_ids = tuple(sorted(job.reference.ids()))
    frames = job.embed_set(embedder, job.reference, all_ids, "reference")
    if not job.paired:
        return [frames[i] for i in all_ids], [], all_ids
    others = [frames[i] for i in sorted(set(all_ids) - set(sys_ids))]
    return [frames[i] for i in sys_ids], others, all_ids


def _system_clips(embedder: Embedder, job: _Job) -> tuple[tuple[str, ...], list[np.ndarray]]:
    """The system's frames per clip; fewer than two frames in all (one clip of a scene
    embedder) have no covariance and no kernel mean: the metric is skipped, saying so."""
    sys_ids = job.system_ids
    frames = job.embed_set(embedder, job.system, sys_ids, job.label)
    clips = [frames[i] for i in sys_ids]
    if sum(len(f) for f in clips) < 2:
        raise Skipped(f"{embedder.name} gives the system 1 frame in all: FAD and KAD need 2")
    return sys_ids, clips


def _fad_reference(name: str, embedder: Embedder, job: _Job, sys_ids: tuple[str, ...]):
    """The reference side of FAD: (per-clip frames resampled with the system's ids or on
    their own, frames every round shares, statistics from a file, the ids used, source)."""
    spec = job.settings.reference_stats
    if spec and fadtk.parse_spec(spec)[1] == name:
        return [], [], fadtk.read(spec, embedder.recipe()), (), spec
    reference, others, all_ids = _reference_clips(embedder, job, sys_ids)
    return reference, others, None, all_ids, "every clip"


def _fad_metric(name: str, job: _Job) -> MetricResult:
    settings = job.settings
    embedder = _embedder(name, settings.embedder_options.get(name, {}))
    sys_ids, system = _system_clips(embedder, job)
    reference, others, from_file, ref_ids, source = _fad_reference(name, embedder, job, sys_ids)
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
        **embedder.recipe(),
        "input_audio": job.audio_recipe(embedder, ref_ids, sys_ids),
        "reference": source,
        "frames_reference": ref_total.count,
        "frames_system": sum(c.count for c in clips.values()),
        "covariance": "float64, n - 1",
        "frames": FRAMES_NOTE,
        "inf": INF_RECIPE,
        **job.interval_recipe("clips", paired),
    }
    return MetricResult(value, ci, len(clips), recipe, per_clip, inf and inf.as_dict())


FRAMES_NOTE = "float32 as the model gives them (fadtk caches float16: about 1e-4 relative on FAD)"
INF_RECIPE = (
    "fadtk/kadtk score_inf: 25 sizes int(linspace(500, frames, 25)), system frames drawn "
    "with replacement (seeded), line fitted through (1/n, score); value = intercept"
)


def _kad_metric(name: str, job: _Job) -> MetricResult:
    """KAD as kadtk 1.1.0: reference frames as x (baseline), the system's as y (eval)."""
    settings = job.settings
    embedder = _embedder(name, settings.embedder_options.get(name, {}))
    sys_ids, system = _system_clips(embedder, job)
    reference, others, ref_ids = _reference_clips(embedder, job, sys_ids)
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
        **embedder.recipe(),
        "input_audio": job.audio_recipe(embedder, ref_ids, sys_ids),
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


def _kld_metric(classifier: str, job: _Job) -> MetricResult:
    settings = job.settings
    if not job.paired:
        raise Skipped("KLD compares each clip with the reference clip of its id: no shared ids")
    options = {**settings.embedder_options.get(classifier, {}), **KLD_CLASSIFIERS[classifier]}
    model = _embedder(classifier, options)
    ids = job.pairing.common
    ref = job.embed_set(model, job.reference, ids, "reference")
    gen = job.embed_set(model, job.system, ids, job.label)
    with job.timings.phase("statistics"):
        per_id = kld(ref, gen, settings.kl_convention)
    value, ci = _mean_with_interval(per_id, job)
    recipe = {
        **model.recipe(),
        "input_audio": job.audio_recipe(model, ids, ids),
        "kl": "KL(p_ref || p_gen) per id, mean over ids",
        "kl_convention": settings.kl_convention,
        "eps": 1e-6,
        **job.interval_recipe("ids"),
    }
    return MetricResult(value, ci, len(per_id), recipe, per_id)


def _captioned_ids(job: _Job, metric: str) -> tuple[str, ...]:
    """The system's ids a text metric scores; every one needs a caption."""
    ids = job.system_ids
    lacking = [i for i in ids if not job.captions.get(i)]
    if lacking:
        raise ValueError(
            f"{metric}: {len(lacking)} ids of {job.label!r} have no caption in "
            f"{job.settings.captions!r} (first: {', '.join(lacking[:5])})"
        )
    return ids


def _mcc_metric(name: str, job: _Job) -> MetricResult:
    settings = job.settings
    options = settings.joint_options.get(name, {})
    model: JointModel = _model("joint", name, tuple(sorted(options.items())))
    ids = _captioned_ids(job, "MCC")
    frames = job.embed_set(model.audio, job.system, ids, job.label)
    audio = {i: clip_embedding(f) for i, f in frames.items()}
    text = dict(zip(ids, model.text([job.captions[i] for i in ids]), strict=True))
    per_id = mcc(text, audio)
    value, ci = _mean_with_interval(per_id, job)
    recipe = {
        **model.recipe(),
        "input_audio": job.audio_recipe(model.audio, (), ids),
        "mcc": "cos(text(caption), mean of the clip's audio window embeddings), mean over ids",
        "captions": settings.captions,
        **job.interval_recipe("ids"),
    }
    return MetricResult(value, ci, len(per_id), recipe, per_id)


@lru_cache(maxsize=4)
def _clap_clips(options: tuple) -> ClapClips:
    return ClapClips(**dict(options))


def _clap_score_metric(name: str, job: _Job) -> MetricResult:
    """AudioCraft's CLAPTextConsistencyMetric (MusicGen Table 1 "CLAP"): per clip, the
    cosine of the caption's and the clip's CLAP embeddings; the mean over clips. Each clip
    is scored alone at its own length (AudioCraft's batches also score their padding)."""
    settings = job.settings
    audio = _clap_clips(tuple(sorted(settings.embedder_options.get(name, {}).items())))
    ids = _captioned_ids(job, "clap_score")
    frames = job.embed_set(audio, job.system, ids, job.label)
    with job.timings.phase("embed"):
        text_recipe = {**audio.tower.recipe(), "weights_sha256": audio.tower.checksum}
        captions = [job.captions[i] for i in ids]
        text = cached_text_embeddings(job.cache_dir, text_recipe, captions, audio.tower.text)
    per_id = {i: float(frames[i][0] @ t) for i, t in zip(ids, text, strict=True)}
    value, ci = _mean_with_interval(per_id, job)
    recipe = {
        **audio.recipe(),
        "input_audio": job.audio_recipe(audio, (), ids),
        "text": "the caption, RoBERTa tokenizer, padding='max_length', truncation, 77 tokens",
        "clap_score": "cos(text embedding, audio embedding) per clip, mean over clips",
        "captions": settings.captions,
        **job.interval_recipe("ids"),
    }
    return MetricResult(value, ci, len(per_id), recipe, per_id)


@lru_cache(maxsize=2)
def _passt_pieces(options: tuple) -> PasstPieces:
    return PasstPieces(**dict(options))


def _kld_passt_metric(name: str, job: _Job) -> MetricResult:
    """AudioCraft's PasstKLDivergenceMetric (MusicGen Table 1 "KL"): per piece, KL(reference
    || system) of the softmaxed PaSST logits with 1e-6 on the system side; the mean over
    every piece of every clip (AudioCraft's weighting), per clip the mean of its pieces."""
    settings = job.settings
    if not job.paired:
        raise Skipped("KLD compares each clip with the reference clip of its id: no shared ids")
    model = _passt_pieces(tuple(sorted(settings.embedder_options.get(name, {}).items())))
    ids = job.pairing.common
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

    with job.timings.phase("bootstrap"):
        low, high = bootstrap_interval(
            value,
            statistic,
            len(ids),
            settings.bootstrap_rounds,
            settings.confidence,
            settings.seed,
        )
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
    return MetricResult(value, (float(low), float(high)), len(ids), recipe, per_clip, None, extra)


def _samples(clips: ClipSet, clip_id: str, rate: int) -> int:
    """A decoded clip's length in samples at ``rate`` (from what decoding or the cache
    recorded of it)."""
    return int(round(clips.shape(clip_id)["seconds"] * rate))


def known_metrics() -> list[str]:
    """Every metric name ``--metrics`` takes, from the embedder and joint-model registries."""
    return (
        [f"fad_{e}" for e in known_embedders()]
        + [f"kad_{e}" for e in known_embedders()]
        + [f"kld_{c}" for c in KLD_CLASSIFIERS]
        + [f"mcc_{j}" for j in known_joint_models()]
        + ["clap_score", "kld_passt"]
    )


METRIC_SETS = ("offline", "paper", "musicgen", "fadtk", "kad")
# the option that makes an embedder local (offline) for the ``offline`` and ``kad`` sets
LOCAL_OPTION = {
    "leaf": "checkpoint",
    "vggish": "handle",
    "trill": "handle",
    "clap": "model",
    "encodec": "model",
    "passt": "checkpoint",
}


def _local(options: dict[str, Any], key: str) -> bool:
    value = options.get(key)
    return bool(value) and Path(str(value)).exists()


def _available(model: str, options: dict[str, dict[str, Any]]) -> bool:
    """Whether an embedder runs without a download: musicnn ships in its package; the
    others when their option names a local file or folder."""
    if model == "musicnn":
        return True
    key = LOCAL_OPTION.get(model)
    return key is not None and _local(options.get(model, {}), key)


def resolve_metrics(
    names: str | tuple[str, ...], settings: BenchSettings
) -> tuple[tuple[str, ...], list[str]]:
    """Metric names (dashes or underscores, comma-separated or a tuple) with the named sets
    expanded, and notes on what a set left out.

    ``offline``: every metric whose model needs no download (musicnn; LEAF, VGGish, TRILL
    and the MCC model when they are local files). ``paper``: MusicLM's Table 1 (FAD-TRILL,
    FAD-VGGish, KLD: LEAF if a checkpoint is given, else musicnn standing in; MCC: the
    configured joint model, MuLan by default). ``musicgen``: MusicGen's Table 1 (FAD-VGGish,
    KL-PaSST when a PaSST checkpoint is given, CLAP score). ``fadtk``: FAD on CLAP and
    EnCodec. ``kad``: KAD on every embedder available without a download. The published
    sets (paper, musicgen, fadtk) download hub models a user has not given as files."""
    if isinstance(names, str):
        names = tuple(n for n in names.split(","))
    options, notes, out = settings.embedder_options, [], []
    mcc_model = settings.mcc_model or "mulan"
    has_mcc = _local(settings.joint_options.get(mcc_model, {}), "checkpoint")
    for raw in names:
        name = raw.strip().lower().replace("-", "_")
        if not name:
            continue
        if name == "offline":
            out += ["fad_musicnn", "kld_musicnn"]
            if _available("leaf", options):
                out += ["fad_leaf", "kld_leaf"]
            out += [f"fad_{m}" for m in ("vggish", "trill") if _available(m, options)]
            if settings.mcc_model and has_mcc:
                out.append(f"mcc_{settings.mcc_model}")
        elif name == "paper":
            out += ["fad_trill", "fad_vggish"]
            if _available("leaf", options):
                out.append("kld_leaf")
            else:
                out.append("kld_musicnn")
                notes.append("paper set: kld_musicnn stands in for KLD (no --leaf-checkpoint)")
            if has_mcc:
                out.append(f"mcc_{mcc_model}")
            else:
                notes.append("paper set: MCC left out (no --mcc-checkpoint)")
        elif name == "musicgen":
            out += ["fad_vggish", "kld_passt", "clap_score"]
            if not _available("passt", options):
                out.remove("kld_passt")
                notes.append("musicgen set: kld_passt left out (no --passt-checkpoint)")
        elif name == "fadtk":
            out += ["fad_clap", "fad_encodec"]
        elif name == "kad":
            for model in known_embedders():
                if _available(model, options):
                    out.append(f"kad_{model}")
                else:
                    notes.append(f"kad set: kad_{model} left out (its model is not a local file)")
        else:
            _metric_function(name)
            out.append(name)
    return tuple(dict.fromkeys(out)), notes


def _metric_function(metric: str):
    """The function and model behind a metric name, checked before any work starts."""
    kind, _, model = metric.partition("_")
    if kind == "fad" and model in known_embedders():
        return _fad_metric, model
    if kind == "kad" and model in known_embedders():
        return _kad_metric, model
    if kind == "kld" and model in KLD_CLASSIFIERS and model != "passt":
        return _kld_metric, model
    if kind == "mcc" and model in known_joint_models():
        return _mcc_metric, model
    if metric == "clap_score":
        return _clap_score_metric, "clap"
    if metric == "kld_passt":
        return _kld_passt_metric, "passt"
    known = ", ".join([*known_metrics(), *METRIC_SETS])
    raise ValueError(f"unknown metric {metric!r}: known are {known}")


def model_options(
    vggish: str | None = None,
    vggish_frontend: str = "google2019",
    trill: str | None = None,
    trill_output: str = "embedding",
    leaf_checkpoint: str | None = None,
    clap_model: str | None = None,
    clap_tokenizer: str | None = None,
    encodec_model: str | None = None,
    passt_checkpoint: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Per-embedder settings (``BenchSettings.embedder_options``) from the bench's options:
    TF Hub handles, the LEAF checkpoint, the CLAP and EnCodec models (hub id or local), the
    PaSST checkpoint file."""
    options: dict[str, dict[str, Any]] = {
        "vggish": {"frontend": vggish_frontend},
        "trill": {"output": trill_output},
    }
    if vggish:
        options["vggish"]["handle"] = vggish
    if trill:
        options["trill"]["handle"] = trill
    if leaf_checkpoint:
        options["leaf"] = {"checkpoint": leaf_checkpoint}
    if clap_model:
        options["clap"] = {"model": clap_model}
    if clap_tokenizer:
        options.setdefault("clap", {})["tokenizer"] = clap_tokenizer
    if encodec_model:
        options["encodec"] = {"model": encodec_model}
    if passt_checkpoint:
        options["passt"] = {"checkpoint": passt_checkpoint}
    return options


def joint_model_options(
    mcc_checkpoint: str | None = None, clap_amodel: str = "HTSAT-tiny"
) -> dict[str, dict[str, Any]]:
    """Per-joint-model settings (``BenchSettings.joint_options``): the checkpoint for every
    MCC model, and LAION-CLAP's audio tower."""
    if not mcc_checkpoint:
        return {}
    options = {joint: {"checkpoint": mcc_checkpoint} for joint in known_joint_models()}
    options["clap"]["amodel"] = clap_amodel
    return options


def parse_systems(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``NAME=FOLDER`` items as a name -> folder mapping; a bad item is a ValueError."""
    named = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not Path(path).is_dir():
            raise ValueError(f"{item!r}: expected NAME=FOLDER")
        named[name] = path
    return named


def run_bench(
    reference: str | Path,
    systems: dict[str, str | Path],
    settings: BenchSettings,
    cache_dir: str | Path,
    timings: Timings | None = None,
) -> dict[str, Any]:
    """Compute every metric for every system; missing and extra ids are reported, not hidden."""
    timings = timings or Timings()
    metrics, notes = resolve_metrics(settings.metrics, settings)
    plan = {metric: _metric_function(metric) for metric in metrics}
    captions = {}
    if any(m.startswith("mcc_") or m == "clap_score" for m in metrics):
        captions = catalog.captions(settings.captions)
    ref_set = ClipSet(reference)
    if not ref_set.ids():
        raise ValueError(f"{reference}: no clips found")
    rows = []
    for name, path in systems.items():
        system = ClipSet(path)
        if not system.ids():
            raise ValueError(f"system {name!r} ({path}): no clips found")
        pairing = pair(ref_set, system)
        job = _Job(ref_set, system, pairing, settings, Path(cache_dir), name, captions, timings)
        results, skipped = {}, {}
        for metric, (compute, model) in plan.items():
            try:
                results[metric] = compute(model, job)
            except Skipped as e:
                skipped[metric] = str(e)
        rows.append(
            {
                "system": name,
                "path": str(path),
                "pairing": pairing,
                "paired": job.paired,
                "results": results,
                "skipped": skipped,
                "made_by": read_system(path),
                "clips": system,
                "ignored_files": system.ignored,
                "clip_warnings": system.warnings(),
            }
        )
    for row in rows:
        for w in row["clip_warnings"]:
            warnings.warn(f"{row['system']}: {w['id']} is {w['kind']}: {w['detail']}", stacklevel=2)
    return {
        "reference": str(reference),
        "reference_set": ref_set,
        "reference_warnings": ref_set.warnings(),
        "timings": timings.seconds,
        "reference_clips": len(ref_set.ids()),
        "metrics": list(metrics),
        "notes": notes,
        "rows": rows,
    }


def listener_agreement(
    result: dict[str, Any], study: dict[str, Any], settings: BenchSettings
) -> dict[str, Any]:
    """Kendall's tau between each metric's ranking of the systems and the study's."""
    values: dict[str, dict[str, float]] = {}
    for row in result["rows"]:
        for metric, m in row["results"].items():
            values.setdefault(metric, {})[row["system"]] = m.value
    rounds, confidence, seed = settings.bootstrap_rounds, settings.confidence, settings.seed
    return {
        "metrics": agreement.agreement(
            values, {m: lower_is_better(m) for m in values}, study, rounds, confidence, seed
        ),
        "recipe": agreement.recipe(rounds, confidence, seed),
        "study": settings.listening,
    }


def bench_to_folder(
    reference: str | Path,
    systems: dict[str, str | Path],
    settings: BenchSettings,
    out: str | Path,
    cache_dir: str | Path | None = None,
) -> tuple[dict[str, Any], Path]:
    """``run_bench`` and its leaderboard (JSON, Markdown, HTML report, per-clip CSV) in
    ``out``; the embedding cache defaults to ``out/embeddings``. Returns the result and the
    report's path."""
    out = Path(out)
    timings = Timings()
    study = agreement.load_study(settings.listening) if settings.listening else None
    result = run_bench(reference, systems, settings, cache_dir or out / "embeddings", timings)
    if study is not None:
        with timings.phase("statistics"):
            result["agreement"] = listener_agreement(result, study, settings)
    with timings.phase("report"):
        try:
            captions = catalog.captions(settings.captions)
        except (OSError, ValueError):
            captions = {}  # the report then says "no caption"
        path = report.write(result, asdict(settings), out, captions)
    result["timing_summary"] = timings.summary()
    return result, path
