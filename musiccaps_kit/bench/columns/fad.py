"""``fad_<embedder>``: the Fréchet distance of the system's frames from the reference's (or
from reference statistics in fadtk's format), with a paired bootstrap over clips, per-clip
FAD and fadtk's FAD-inf.

Each embedder's clips reach it as its tool loads them (``Embedder.audio_path``):
``fad_vggish`` is MusicLM's (Google's FAD code on the files as given). MusicGen's is its own
column, ``fad_vggish_audiocraft``: AudioCraft's FAD path, the system's clip
loudness-normalised, both sides resampled with julius to 16 kHz, peak-normalised to -1 dBFS
and written as 16-bit files before Google's FAD code reads them.
"""

from __future__ import annotations

import numpy as np

from musiccaps_kit.bench import fadtk, releases, sao_reference
from musiccaps_kit.bench.audio_paths import (
    AUDIOCRAFT_FAD,
    AUDIOCRAFT_FAD_GENERATED,
    AudioPath,
)
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
from musiccaps_kit.bench.metrics.frechet import (
    GaussianStats,
    bootstrap_fad,
    bootstrap_fad_frames,
    fad,
    fad_inf,
    per_clip_fad,
    sum_stats,
)

OWN = "this toolkit's own: no published protocol"


def paths(
    name: str, model: Embedder, job: Job, audiocraft: bool = False
) -> tuple[AudioPath, AudioPath]:
    """(reference path, system path) of ``fad_<name>``; ``audiocraft``: AudioCraft's FAD
    files (``fad_vggish_audiocraft``)."""
    if audiocraft:
        return AUDIOCRAFT_FAD, AUDIOCRAFT_FAD_GENERATED if job.settings.loudness else AUDIOCRAFT_FAD
    return model.audio_path, model.audio_path


def column_claim(name: str, model: Embedder, job: Job, path: str, audiocraft: bool = False):
    """What ``fad_<name>``'s header may say: the paper's or tool's protocol with its
    weights, or the recipe with other weights."""
    weights, sha = model.weights_name(), model.weights_checksum()
    settings = model.settings()
    if ssl.parse(name) is not None:
        release = releases.hub_release(model.family.hub)
        return releases.claim(f"as fadtk {model.name}", (), "fadtk", release, weights, sha, path)
    if name == "vggish":
        unmet = None
        if settings.get("frontend") != "google2019":
            unmet = "the PyTorch ports' VGGish front end: not comparable with the papers"
        if audiocraft:
            if not job.settings.loudness:
                unmet = unmet or "without MusicGen's loudness step (--no-loudness)"
            return releases.claim(
                "as MusicGen Table 1 (AudioCraft's FAD)", ("MusicGen",), "AudioCraft FAD",
                releases.VGGISH, weights, sha, path, unmet,
            )  # fmt: skip
        return releases.claim(
            "as MusicLM Table 1 (Google's FAD)", ("MusicLM",), "Google's FAD", releases.VGGISH,
            weights, sha, path, unmet,
        )  # fmt: skip
    if name == "trill":
        return releases.claim(
            "as MusicLM Table 1", ("MusicLM",), "MusicLM's FAD-TRILL", releases.TRILL, weights,
            sha, path,
        )  # fmt: skip
    if name == "clap":
        return releases.claim(
            "as fadtk clap-laion-music", (), "fadtk", releases.CLAP_MUSIC, weights, sha, path
        )
    if name == "encodec":
        return releases.claim(
            "as fadtk encodec-emb", (), "fadtk", releases.ENCODEC_24K, weights, sha, path
        )
    if name == "passt":
        release = releases.PASST_20S if model.seconds == 20 else releases.PASST_10S
        header = f"as kadtk passt-base-{model.seconds}s (its fad.py)"
        return releases.claim(header, (), "kadtk", release, weights, sha, path)
    if name == "openl3":
        header = "FAD of the shared ids on stable-audio-metrics' openl3 frames (see fd_openl3)"
        return releases.claim(header, (), "stable-audio-metrics", None, weights, sha, path)
    return releases.claim(OWN, (), "musiccaps-kit", None, weights, sha, path)


def _reference(
    name: str, model: Embedder, job: Job, sys_ids, path: AudioPath, paired: bool, dims: int
):
    """The reference side of FAD: (per-clip frames resampled with the system's ids or on
    their own, frames every round shares, statistics from a file, the ids used, source)."""
    spec = job.settings.reference_stats
    if spec and name == "openl3" and sao_reference.is_statistics(spec):
        return [], [], sao_reference.read_statistics(spec, dims), (), spec
    if spec and not sao_reference.is_statistics(spec) and fadtk.parse_spec(spec)[1] == name:
        return [], [], fadtk.read(spec, model.recipe()), (), spec
    reference, others, all_ids = reference_clips(model, job, sys_ids, path, paired)
    return reference, others, None, all_ids, "every clip"


def compute(name: str, job: Job) -> MetricResult:
    return frechet(name, job)


def compute_audiocraft(name: str, job: Job) -> MetricResult:
    """``fad_vggish_audiocraft``: MusicGen Table 1's FAD-VGGish, AudioCraft's
    ``FrechetAudioDistanceMetric`` files (loudness on the system's clips, julius to 16 kHz,
    peak -1 dBFS, 16-bit) read by Google's FAD code."""
    return frechet(name, job, audiocraft=True)


def frechet(
    name: str, job: Job, paired: bool = True, claim=None, audiocraft: bool = False
) -> MetricResult:
    """FAD of ``fad_<name>``. ``paired=False`` pools every clip of each side whatever
    their ids, as stable-audio-metrics' FD does (each side bootstrapped on its own);
    ``claim`` replaces the column's claim (``claim(model, audio path summary)``);
    ``audiocraft``: AudioCraft's FAD path (``fad_vggish_audiocraft``)."""
    settings = job.settings
    model = embedder(name, job.options(name))
    reference_path, system_path = paths(name, model, job, audiocraft)
    sys_ids, system = system_clips(model, job, system_path, paired)
    reference, others, from_file, ref_ids, source = _reference(
        name, model, job, sys_ids, reference_path, paired, system[0].shape[1]
    )
    paired = paired and job.paired and from_file is None
    with job.timings.phase("statistics"):
        clips = {i: GaussianStats.of(f) for i, f in zip(sys_ids, system, strict=True)}
        parts = [GaussianStats.of(f) for f in reference + others]
        ref_total = sum_stats(parts + ([from_file] if from_file is not None else []))
        # fadtk's own families: its statistics of float16 frames keep a float16 mean
        mean_dtype = np.float16 if ssl.parse(name) is not None else None
        value = fad(ref_total, sum_stats(list(clips.values())), mean_dtype)
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
    audio = job.audio_recipe(model, ref_ids, sys_ids, reference_path, system_path)
    recipe = {
        **job.model_recipe(model, reference_path, system_path),
        "claim": (claim or (lambda m, p: column_claim(name, m, job, p, audiocraft)))(
            model, job.path_summary(reference_path, system_path)
        ),
        "input_audio": audio,
        "reference": source,
        "frames_reference": ref_total.count,
        "frames_system": sum(c.count for c in clips.values()),
        "covariance": "float64, n - 1",
        **({"mean": "float16, as fadtk's np.mean of its float16 frames"} if mean_dtype else {}),
        "frames": FRAMES_NOTE,
        "inf": INF_RECIPE,
        **job.interval_recipe("clips", paired),
    }
    return MetricResult(value, ci, len(clips), recipe, per_clip, inf and inf.as_dict())
