"""Build the bundled demo set from a ``realmusic`` folder (maintainers only).

    python -m musiccaps_kit.data.demo_set ../shared/realmusic musiccaps_kit/data/demo

Picks clips of distinct tracks from each source, copies them, and writes ``demo.csv`` in
MusicCaps format and a ``NOTICE`` with each clip's licence and attribution. Captions and
aspects are written from each clip's metadata (source game, track name, genre hint): they
describe what the manifest says, not what a listener wrote, unlike MusicCaps' captions.
"""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

# What each source is, the AudioSet labels its genre hint maps to, and aspects.
SOURCES = {
    "wesnoth": (
        "The Battle for Wesnoth, a turn-based fantasy strategy game",
        ["/m/05pd6", "/m/0l14gg", "/m/01z7dr"],
        ["orchestral", "fantasy", "cinematic", "strings", "brass", "instrumental"],
    ),
    "warzone-legacy": (
        "Warzone 2100, a real-time strategy game",
        ["/m/02lkt", "/m/0fd3y", "/m/01z7dr"],
        ["electronic", "ambient", "synth pads", "atmospheric", "instrumental"],
    ),
    "singularity": (
        "Endgame: Singularity, a strategy game about an awakening AI",
        ["/m/0fd3y", "/m/02lkt", "/m/01z7dr"],
        ["ambient", "electronic", "calm", "synthesizer", "instrumental"],
    ),
    "nexuiz": (
        "Nexuiz, a fast first-person arena shooter",
        ["/m/02lkt", "/m/07gxw", "/t/dd00035", "/m/01z7dr"],
        ["electronic", "industrial", "driving beat", "energetic", "instrumental"],
    ),
    "planetblupi": (
        "Planet Blupi, a playful adventure and puzzle game",
        ["/m/01z7dr", "/t/dd00031", "/m/05fw6t"],
        ["playful", "cheerful", "game music", "light melody", "instrumental"],
    ),
}
PER_SOURCE = {
    "wesnoth": 5,
    "warzone-legacy": 5,
    "singularity": 5,
    "nexuiz": 5,
    "planetblupi": 4,
}
COLUMNS = [
    "ytid",
    "start_s",
    "end_s",
    "audioset_positive_labels",
    "aspect_list",
    "caption",
    "author_id",
    "is_balanced_subset",
    "is_audioset_eval",
]


def write_realmusic_catalog(realmusic: Path, out_csv: Path) -> Path:
    """A MusicCaps-format CSV over every clip of a ``realmusic`` folder (benchmarks, tests):
    a caption written from the clip's metadata and the genre hint as the one aspect."""
    with open(realmusic / "manifest.csv", newline="") as f:
        manifest = list(csv.DictReader(f))
    with open(out_csv, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ytid", "start_s", "end_s", "caption", "aspect_list"])
        for row in manifest:
            writer.writerow([row["clip_id"], 0, 10, caption_for(row), repr([row["genre_hint"]])])
    return out_csv


def caption_for(row: dict[str, str]) -> str:
    what, _, aspects = SOURCES[row["source"]]
    track = Path(row["track"]).stem.replace("_", " ").replace("-", " ")
    article = "An" if row["genre_hint"][0] in "aeiou" else "A"
    return (
        f"{article} {row['genre_hint']} instrumental piece, the track '{track}' from the "
        "soundtrack of "
        f"{what}. The music is {aspects[0]} and {aspects[1]}, with {aspects[3]}, and no vocals."
    )


def build(realmusic: Path, out: Path) -> list[dict[str, str]]:
    with open(realmusic / "manifest.csv", newline="") as f:
        manifest = list(csv.DictReader(f))
    chosen: list[dict[str, str]] = []
    for source, count in PER_SOURCE.items():
        tracks_seen: set[str] = set()
        for row in manifest:
            if row["source"] == source and row["track"] not in tracks_seen:
                tracks_seen.add(row["track"])
                chosen.append(row)
            if len(tracks_seen) == count:
                break
    (out / "clips").mkdir(parents=True, exist_ok=True)
    rows, notices = [], []
    for i, row in enumerate(chosen):
        shutil.copyfile(
            realmusic / "clips" / f"{row['clip_id']}.flac", out / "clips" / f"{row['clip_id']}.flac"
        )
        _, labels, aspects = SOURCES[row["source"]]
        rows.append(
            {
                "ytid": row["clip_id"],
                "start_s": "0",
                "end_s": row["duration_s"].split(".")[0],
                "audioset_positive_labels": ",".join(labels),
                "aspect_list": repr(aspects),
                "caption": caption_for(row),
                "author_id": "demo",
                "is_balanced_subset": str(i % 4 == 0),
                "is_audioset_eval": str(i % 2 == 0),
            }
        )
        notices.append(
            f"clips/{row['clip_id']}.flac: {row['duration_s']} s from '{row['track']}' at "
            f"{row['offset_s']} s, music of {SOURCES[row['source']][0]} ({row['source']}); "
            f"licence {row['license']}; sha256 {row['sha256']}"
        )
    with open(out / "demo.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (out / "NOTICE").write_text(
        "musiccaps-kit demo set\n"
        "======================\n\n"
        "24 ten-second clips of free game soundtracks, cut and resampled to 24 kHz mono FLAC.\n"
        "Each clip keeps the licence of the soundtrack it comes from (GPL-2+, GPL-3+ or\n"
        "CC BY-SA); the copyright stays with the original composers of each game's music.\n"
        "The full texts: GPL-2 and GPL-3 at https://www.gnu.org/licenses/, CC BY-SA at\n"
        "https://creativecommons.org/licenses/by-sa/4.0/. demo.csv (captions and aspects\n"
        "written from the clip metadata below, not by listeners) is CC BY-SA 4.0.\n\n"
        + "\n".join(notices)
        + "\n"
    )
    return rows


if __name__ == "__main__":
    made = build(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"wrote {len(made)} clips to {sys.argv[2]}")
