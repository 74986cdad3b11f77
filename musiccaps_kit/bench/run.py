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
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from musiccaps_kit.bench import agreement, column_weights, device, report, sharding
from musiccaps_kit.bench.clips import ClipSet, open_reference, pair, read_system
from musiccaps_kit.bench.columns import Job, Skipped, column
from musiccaps_kit.bench.leaderboard import lower_is_better
from musiccaps_kit.bench.metric_sets import resolve_metrics
from musiccaps_kit.bench.settings import BenchSettings
from musiccaps_kit.bench.sharding import Shard
from musiccaps_kit.data import catalog
from musiccaps_kit.timing import Timings


def run_bench(
    reference: str | Path,
    systems: dict[str, str | Path],
    settings: BenchSettings,
    cache_dir: str | Path,
    timings: Timings | None = None,
    shard: Shard | None = None,
) -> dict[str, Any]:
    """Compute every metric for every system; missing and extra ids are reported, not hidden.
    With a ``shard`` (one rank under torchrun) it only embeds the rank's share of every
    clip into the cache (``bench.sharding``): its metrics are not computed."""
    timings = timings or Timings()
    device.select(settings.device, settings.precision)
    metrics, notes = resolve_metrics(settings.metrics, settings)
    plan = {metric: column(metric) for metric in metrics}
    with timings.phase("models"):  # every column's weights, fetched before any embedding
        settings = column_weights.resolve(metrics, settings, ",".join(settings.metrics))
    ref_set = open_reference(reference, settings.exclude_reference)
    captions = {}
    if any(m.startswith("mcc_") or m in ("clap_score", "clap_score_sao") for m in metrics):
        captions = bench_captions(settings.captions, ref_set)
    if not ref_set.ids():
        raise ValueError(f"{reference}: no clips found")
    if settings.exclude_reference:
        held = len(ref_set.excluded)
        notes.append(f"{held} reference ids excluded ({settings.exclude_reference})")
    rows = []
    for name, path in systems.items():
        system = ClipSet(path)
        if not system.ids():
            raise ValueError(f"system {name!r} ({path}): no clips found")
        pairing = pair(ref_set, system)
        job = Job(
            ref_set, system, pairing, settings, Path(cache_dir), name, captions, timings, shard
        )
        results, skipped = {}, {}
        for metric, (compute, model) in plan.items():
            try:
                results[metric] = compute(model, replace(job, metric=metric))
            except Skipped as e:
                skipped[metric] = str(e)
            except Exception as e:
                if shard is None or getattr(e, "while_embedding", False):
                    raise
                # computed on placeholders while embedding a share: thrown away
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
        "settings": settings,
        "reference_set": ref_set,
        "reference_warnings": ref_set.warnings(),
        "timings": timings.seconds,
        "reference_clips": len(ref_set.ids()),
        "metrics": list(metrics),
        "notes": notes,
        "rows": rows,
    }


def bench_captions(spec: str, reference) -> dict[str, str]:
    """The captions a bench scores text against: ``auto`` takes the reference records' own
    caption table when they have one (the Song Describer Dataset's), else MusicCaps';
    otherwise a catalog name or CSV (``catalog.captions``)."""
    if spec == "auto":
        table = reference.captions() if isinstance(reference, ClipSet) else {}
        return table or catalog.captions("musiccaps")
    return catalog.captions(spec)


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
) -> tuple[dict[str, Any], Path] | tuple[None, None]:
    """``run_bench`` and its leaderboard (JSON, Markdown, HTML report, per-clip CSV) in
    ``out``; the embedding cache defaults to ``out/embeddings``. Returns the result and the
    report's path. Under torchrun every rank embeds its share first; rank 0 then computes
    and writes everything, the other ranks return ``(None, None)``."""
    out = Path(out)
    timings = Timings()
    cache_dir = Path(cache_dir or out / "embeddings")
    study = agreement.load_study(settings.listening) if settings.listening else None
    shard = sharding.from_environment()
    if shard is None:
        settings = replace(settings, embedding={"processes": 1})
    else:
        sharding.start()
        try:
            settings = replace(settings, device=sharding.local_device(settings.device))
            with warnings.catch_warnings():  # what placeholders raise means nothing
                warnings.simplefilter("ignore")
                run_bench(reference, systems, settings, cache_dir, timings, shard)
            counts = sharding.finish_embedding(shard)
        finally:
            sharding.stop()
        if shard.rank != 0:
            return None, None
        settings = replace(
            settings, embedding={"processes": shard.world, "clips_per_process": counts}
        )
    result = run_bench(reference, systems, settings, cache_dir, timings)
    if study is not None:
        with timings.phase("statistics"):
            result["agreement"] = listener_agreement(result, study, settings)
    with timings.phase("report"):
        try:
            captions = bench_captions(settings.captions, result["reference_set"])
        except (OSError, ValueError):
            captions = {}  # the report then says "no caption"
        path = report.write(result, asdict(result["settings"]), out, captions)
    result["timing_summary"] = timings.summary()
    return result, path
