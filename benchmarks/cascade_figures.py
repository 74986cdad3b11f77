"""Train the three representation models on ../shared/realmusic and evaluate them on
held-out tracks: the figures for the codec, the semantic tokenizer and MuLan.

    python -m benchmarks.cascade_figures [--preset tiny] [--out out/cascade]

Every fourth track of each source is held out (the records' ``eval`` split), so no
evaluation clip shares a recording with a training clip. Prints each model's report.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from musiccaps_kit.data import catalog
from musiccaps_kit.data.demo_set import caption_for
from musiccaps_kit.data.preparation import PrepareConfig
from musiccaps_kit.models.evaluation import EVALUATIONS
from musiccaps_kit.models.training.loop import train
from musiccaps_kit.pipelines.prepare import run as prepare

REALMUSIC = Path(__file__).resolve().parents[2] / "shared" / "realmusic"


def held_out_catalog(realmusic: Path, out_csv: Path) -> Path:
    """A MusicCaps-format CSV of realmusic with every fourth track in the eval split."""
    with open(realmusic / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    tracks = sorted({(r["source"], r["track"]) for r in rows})
    held = {t for i, t in enumerate(tracks) if i % 4 == 0}
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with open(out_csv, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ytid", "start_s", "end_s", "caption", "aspect_list", "is_audioset_eval"])
        for r in rows:
            held_out = (r["source"], r["track"]) in held
            writer.writerow(
                [r["clip_id"], 0, 10, caption_for(r), repr([r["genre_hint"]]), held_out]
            )
    return out_csv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--out", type=Path, default=Path("out/cascade"))
    parser.add_argument("--realmusic", type=Path, default=REALMUSIC)
    args = parser.parse_args()
    records = args.out / "records"
    if not (records / "dataset_info.json").is_file():
        cat = catalog.load_csv(held_out_catalog(args.realmusic, args.out / "realmusic.csv"))
        config = PrepareConfig(
            name="realmusic",
            out_dir=str(records),
            cache_dir=str(args.out / "cache"),
            source_options={"audio_dir": str(args.realmusic / "clips")},
            shards=2,
        )
        prepare(cat, config, progress=False)
    figures = {}
    for kind in ("codec", "semantic", "mulan"):
        folder = args.out / f"{kind}-{args.preset}"
        summary = train(kind, records, args.preset, folder)
        report = EVALUATIONS[kind](folder / "model.pt", records, 32)
        report["training"] = {k: summary[k] for k in ("steps", "clips", "seconds", "first", "last")}
        figures[kind] = report
        print(f"== {kind} ({args.preset}) ==")
        print(json.dumps(report, indent=2))
    (args.out / f"figures-{args.preset}.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
