"""``mck demo``: the toolkit's jobs end to end on the bundled demo set.

Catalog stats and the genre plot; the prepare pipeline on the demo clips; the small joint
text-audio model for MCC; optionally the tiny cascade (codec, semantic tokenizer and MuLan,
the clips tokenized with them, the three stages, a generated clip per caption); three
degraded copies of the clips; some clips through Riffusion's spectrogram images and back
(the ceiling of Riffusion's representation); and a bench of all of them against the
prepared records.

This module sits above the core library (it drives ``musiccaps_kit.pipelines`` and
``musiccaps_kit.models``), beside the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from musiccaps_kit.baselines.riffusion import round_trip_folder
from musiccaps_kit.bench.degrade import degrade_folder
from musiccaps_kit.bench.joint.projection import fit_projection_on_catalog
from musiccaps_kit.bench.run import BenchSettings, bench_to_folder
from musiccaps_kit.bench.settings import joint_model_options
from musiccaps_kit.data import catalog
from musiccaps_kit.data.catalog_stats import plot_genres, summary_rows
from musiccaps_kit.data.preparation import build_config
from musiccaps_kit.data.preparation import summary_rows as prepare_summary
from musiccaps_kit.models.generate import generate_files
from musiccaps_kit.models.model_files import MODEL
from musiccaps_kit.models.training.loop import train
from musiccaps_kit.pipelines.prepare import run as prepare
from musiccaps_kit.resources import DEMO_AUDIO_DIR
from musiccaps_kit.tables import format_table

DEGRADATIONS = (
    ("noise-20dB", "noise", 20.0),
    ("lowpass-2kHz", "lowpass", 2000.0),
    ("clipped-10pct", "clip", 0.1),
)
# Steps for the tiny presets (None: the preset's own); the stages train on their tokens.
CASCADE_STEPS = {"codec": 100, "semantic": None, "mulan": None}
STAGES_STEPS = 200
METRICS = ("fad_musicnn", "kld_musicnn", "mcc_projection")
# Griffin-Lim at Riffusion's settings takes about 10 s per 10 s clip on 2 CPU cores, so the
# demo round-trips a quarter of the clips (the others are listed as missing in the bench).
ROUND_TRIP_CLIPS = 6


def train_demo_cascade(out: Path, log: Callable[[str], None] = print) -> Path:
    """Train the tiny presets on the demo records in ``out/records``, tokenize the clips
    with them, train the stages and generate a clip for every demo caption; returns the
    folder of generated clips."""
    runs = out / "cascade"
    cat = catalog.load("demo")
    for kind, steps in CASCADE_STEPS.items():
        summary = train(kind, out / "records", "tiny", runs / kind, steps)
        log(f"{kind}: {summary['steps']} steps ({summary['seconds']:.0f} s): {runs / kind / MODEL}")
    options = {kind: str(runs / kind / MODEL) for kind in CASCADE_STEPS}
    config = build_config(
        cat,
        "demo",
        out / "tokens",
        tokenizer="cascade",
        tokenizer_options=options,
        cache_dir=out / "records" / "cache",
    )
    info = prepare(cat, config)
    log(format_table(prepare_summary(info), f"tokenized {info['name']}:"))
    train("stages", out / "tokens", "tiny", runs / "stages", STAGES_STEPS)
    generated = out / "systems" / "cascade-tiny"
    generate_files(runs / "stages" / MODEL, generated, clips=list(cat), seconds=10.0)
    log(f"{len(cat)} generated clips in {generated}")
    return generated


def run_demo(out: str | Path, cascade: bool = True, log: Callable[[str], None] = print):
    """Run the demo into ``out``; returns the bench result and the report's path."""
    out = Path(out)
    cat = catalog.load("demo")
    log(format_table(summary_rows(cat), f"{cat.name} (all) from {cat.source}"))
    log(f"genre distribution: {plot_genres(cat, out / 'genres.png')}")
    info = prepare(cat, build_config(cat, "demo", out / "records"))
    log(format_table(prepare_summary(info), f"prepared {info['name']}:"))
    joint = out / "joint" / "projection.npz"
    log("training the small joint model for MCC on the demo clips and captions")
    fit_projection_on_catalog(out / "records", "demo", joint, out / "bench" / "embeddings")
    systems: dict[str, Any] = {}
    if cascade:
        systems["cascade-tiny"] = train_demo_cascade(out, log)
    for name, kind, strength in DEGRADATIONS:
        systems[name] = degrade_folder(DEMO_AUDIO_DIR, out / "systems" / name, kind, strength)
    log(f"Riffusion's representation, audio -> image -> audio, on {ROUND_TRIP_CLIPS} clips")
    round_trip = out / "systems" / "riffusion-roundtrip"
    round_trip_folder(DEMO_AUDIO_DIR, round_trip, limit=ROUND_TRIP_CLIPS)
    systems["riffusion-roundtrip"] = round_trip
    settings = BenchSettings(
        metrics=METRICS,
        joint_options=joint_model_options(mcc_checkpoint=str(joint)),
        captions="demo",
    )
    result, report = bench_to_folder(out / "records", systems, settings, out / "bench")
    log((out / "bench" / "leaderboard.md").read_text())
    log(f"report: {report}")
    log(
        "MCC here uses a joint model trained on these very clips: a check of the plumbing, "
        "not a score to compare. The tiny cascade trains for a few minutes on 12 clips: "
        "expect noise-like audio, not music."
    )
    return result, report
