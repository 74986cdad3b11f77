"""What every column works with: one system against the reference (``Job``), the result a
column gives (``MetricResult``), and the helpers columns share (one model instance per
name and settings, the frames of each side, the mean over ids with its interval)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.bench import device
from musiccaps_kit.bench.audio_paths import AudioPath
from musiccaps_kit.bench.clips import ClipSet, Pairing
from musiccaps_kit.bench.embedders import Embedder, make_embedder, ssl
from musiccaps_kit.bench.embedding_cache import EmbeddingCache, embed_clips
from musiccaps_kit.bench.joint import make_joint_model
from musiccaps_kit.bench.settings import BenchSettings
from musiccaps_kit.bench.sharding import PLACEHOLDER, Shard
from musiccaps_kit.bootstrap import METHOD, bootstrap_interval
from musiccaps_kit.timing import Timings


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
def cached_model(kind: str, name: str, options: tuple):
    """One model instance per name and settings for the whole bench."""
    if kind == "embedder" and ssl.parse(name) is not None:
        return ssl.make(name, **dict(options))
    factory = make_embedder if kind == "embedder" else make_joint_model
    return factory(name, **dict(options))


def embedder(name: str, options: dict[str, Any]) -> Embedder:
    return cached_model("embedder", name, tuple(sorted(options.items())))


@dataclass(frozen=True)
class Job:
    """One system against the reference under the bench settings."""

    reference: ClipSet
    system: ClipSet
    pairing: Pairing
    settings: BenchSettings
    cache_dir: Path
    label: str
    captions: Mapping[str, str]
    timings: Timings = field(default_factory=Timings)
    # a rank's share of the embedding under torchrun (bench.sharding), else None
    shard: Shard | None = None
    # the column being computed (its own weights sit in settings.metric_options)
    metric: str = ""

    @property
    def paired(self) -> bool:
        return bool(self.pairing.common)

    @property
    def system_ids(self) -> tuple[str, ...]:
        """The system's ids a metric scores: those shared with the reference, or all."""
        return self.pairing.common if self.paired else tuple(sorted(self.system.ids()))

    def options(self, model: str) -> dict[str, Any]:
        """The settings for one embedder in this column: the embedder's, with the column's
        own weights over them."""
        own = self.settings.metric_options.get(self.metric, {})
        return {**self.settings.embedder_options.get(model, {}), **own}

    def embed_set(
        self,
        embedder: Embedder,
        clips: ClipSet,
        ids,
        label: str,
        path: AudioPath | None = None,
        fit: Mapping[str, int] | None = None,
    ):
        """(Cached) frames by id: each clip decoded from its source and brought once,
        straight to the embedder's rate, by ``path`` (default: the embedder's tool's), fitted
        to ``fit[id]`` samples when given."""
        cache = EmbeddingCache(self.cache_dir, embedder)
        batch = self.settings.batch_size
        if self.shard is None:
            return embed_clips(
                cache, clips, ids, embedder.rate, label, batch, self.timings, path, fit
            )
        share = self.shard.share(ids)
        try:
            frames = embed_clips(
                cache, clips, share, embedder.rate, label, batch, self.timings, path, fit
            )
        except Exception as e:  # a real failure, not one of the placeholders': it stops the run
            e.while_embedding = True
            raise
        self.shard.clips += len(share)
        return {**{i: PLACEHOLDER for i in ids}, **frames}

    def audio_recipe(
        self,
        embedder: Embedder,
        ids_reference,
        ids_system,
        reference_path: AudioPath | None = None,
        system_path: AudioPath | None = None,
    ) -> dict[str, Any]:
        """How each side's clips reached the model: source rates, model rate, the steps."""
        reference_path = reference_path or embedder.audio_path
        system_path = system_path or embedder.audio_path
        return {
            "model_rate": embedder.rate,
            "source_rates_reference": self.reference.source_rates(ids_reference),
            "source_rates_system": self.system.source_rates(ids_system),
            "reference": reference_path.describe(),
            "system": system_path.describe(),
        }

    def model_recipe(
        self, model, reference: AudioPath | None = None, system: AudioPath | None = None
    ) -> dict[str, Any]:
        """The model's recipe with the audio path and resampler this column used."""
        reference = reference or model.audio_path
        system = system or reference
        resamplers = sorted({reference.resampler, system.resampler})
        return {
            **model.recipe(),
            "audio_path": self.path_summary(reference, system),
            "resampler": " and ".join(resamplers),
            **device.recipe(),
        }

    @staticmethod
    def path_summary(reference: AudioPath, system: AudioPath | None = None) -> str:
        """How both sides' audio reached the model, in a few words."""
        if system is None or system == reference:
            return reference.summary()
        return f"reference: {reference.summary()}; system: {system.summary()}"

    def interval_recipe(self, over: str, paired: bool | None = None) -> dict[str, Any]:
        s = self.settings
        paired = self.paired if paired is None else paired
        how = "ids drawn once for both sides" if paired else "each side drawn on its own"
        return {
            "interval": f"{s.confidence:.0%} {METHOD}",
            "bootstrap": f"{s.bootstrap_rounds} rounds over {over}, {how}, seed {s.seed}",
            "pairing": "paired" if paired else "unpaired",
        }

    def interval(self, estimate: float, statistic, n: int) -> tuple[float, float]:
        """The bootstrap interval of ``statistic(draw)`` over ``n`` items (the settings'
        rounds, confidence and seed), timed as the bootstrap phase."""
        s = self.settings
        with self.timings.phase("bootstrap"):
            low, high = bootstrap_interval(
                estimate, statistic, n, s.bootstrap_rounds, s.confidence, s.seed
            )
        return float(low), float(high)

    def reference_audio(self) -> ClipSet:
        """The reference's clips; a reference of precomputed numbers (stable-audio-metrics'
        probabilities) has none, and the metric is skipped saying so."""
        if not isinstance(self.reference, ClipSet):
            raise Skipped(
                f"the reference {self.reference.path.name} holds stable-audio-metrics' "
                "probabilities, not audio (kld_passt_sao uses it)"
            )
        return self.reference

    def require_pairs(self) -> tuple[str, ...]:
        """The shared ids, for metrics that compare each clip with the reference's."""
        if not self.paired:
            raise Skipped("KLD compares each clip with the reference clip of its id: no shared ids")
        return self.pairing.common

    def captioned_ids(self, metric: str, paired: bool = True) -> tuple[str, ...]:
        """The system's ids a text metric scores (those shared with the reference, or every
        one when ``paired`` is off); every one needs a caption."""
        ids = self.system_ids if paired else tuple(sorted(self.system.ids()))
        lacking = [i for i in ids if not self.captions.get(i)]
        if lacking:
            raise ValueError(
                f"{metric}: {len(lacking)} ids of {self.label!r} have no caption in "
                f"{self.settings.captions!r} (first: {', '.join(lacking[:5])})"
            )
        return ids


def mean_with_interval(per_id: dict[str, float], job: Job):
    """The mean over ids and its bootstrap interval (ids resampled)."""
    values = np.array(list(per_id.values()))
    estimate = float(values.mean())
    return estimate, job.interval(estimate, lambda draw: values[draw].mean(), len(values))


def reference_clips(
    embedder: Embedder,
    job: Job,
    sys_ids: tuple[str, ...],
    path: AudioPath | None = None,
    paired: bool = True,
):
    """The reference's frames per clip: (those resampled with the system's ids, or all of
    them when unpaired; the reference's other clips, which every round shares; all ids).
    A reference made of precomputed numbers, not audio, skips the metric."""
    reference = job.reference_audio()
    pooled = not (paired and job.paired)
    all_ids = tuple(sorted(reference.distinct_ids() if pooled else reference.ids()))
    frames = job.embed_set(embedder, reference, all_ids, "reference", path)
    if pooled:
        return [frames[i] for i in all_ids], [], all_ids
    others = [frames[i] for i in sorted(set(all_ids) - set(sys_ids))]
    return [frames[i] for i in sys_ids], others, all_ids


def system_clips(
    embedder: Embedder, job: Job, path: AudioPath | None = None, paired: bool = True
) -> tuple[tuple[str, ...], list[np.ndarray]]:
    """The system's frames per clip (those it shares with the reference, or every one when
    ``paired`` is off); fewer than two frames in all (one clip of a scene embedder) have no
    covariance and no kernel mean: the metric is skipped, saying so."""
    sys_ids = job.system_ids if paired else tuple(sorted(job.system.ids()))
    frames = job.embed_set(embedder, job.system, sys_ids, job.label, path)
    clips = [frames[i] for i in sys_ids]
    if sum(len(f) for f in clips) < 2:
        raise Skipped(f"{embedder.name} gives the system 1 frame in all: FAD and KAD need 2")
    return sys_ids, clips


FRAMES_NOTE = "float32 as the model gives them (fadtk caches float16: about 1e-4 relative on FAD)"
INF_RECIPE = (
    "fadtk/kadtk score_inf: 25 sizes int(linspace(500, frames, 25)), system frames drawn "
    "with replacement (seeded), line fitted through (1/n, score); value = intercept"
)
