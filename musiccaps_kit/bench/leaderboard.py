"""A bench result as ``leaderboard.json``, ``leaderboard.md`` and ``per_clip.csv`` content,
with the paper's Table 1 beside the measured rows, marked as reported, and every stand-in
for one of the paper's metrics marked as such (``report.write`` writes them all)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from musiccaps_kit import __version__
from musiccaps_kit.resources import PAPER_TABLE1

LOWER_IS_BETTER = {"fad": True, "kld": True, "mcc": False}

# Our metric -> (the paper's Table 1 column it corresponds to, why it is only a stand-in).
PAPER_COLUMNS: dict[str, tuple[str, str | None]] = {
    "fad_trill": ("fad_trill", None),
    "fad_vggish": ("fad_vggish", None),
    "kld_leaf": ("kld", "a LEAF classifier you trained: MusicLM's weights are not public"),
    "kld_musicnn": ("kld", "musicnn's MTT tagger stands in for the paper's LEAF classifier"),
    "mcc_mulan": ("mcc", "the MuLan trained here, not the paper's"),
    "mcc_projection": ("mcc", "a small projection model stands in for MuLan"),
    "mcc_clap": ("mcc", "LAION-CLAP stands in for MuLan"),
}


def lower_is_better(metric: str) -> bool:
    return LOWER_IS_BETTER.get(metric.split("_")[0], True)


def _paper() -> dict[str, Any]:
    return json.loads(PAPER_TABLE1.read_text())


def to_json(result: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for row in result["rows"]:
        p = row["pairing"]
        rows.append(
            {
                "system": row["system"],
                "path": row["path"],
                "kind": "measured",
                "pairing": "paired" if row["paired"] else "unpaired",
                "n_common": len(p.common),
                "missing_ids": list(p.missing),
                "extra_ids": list(p.extra),
                # how the system's clips were made (a baseline adapter's system.json)
                "made_by": row.get("made_by"),
                "skipped": row.get("skipped", {}),
                # files that are not clips, and clips worth a look (silent, odd lengths)
                "ignored_files": row.get("ignored_files", []),
                "clip_warnings": row.get("clip_warnings", []),
                "metrics": {
                    name: {
                        "value": m.value,
                        "ci": list(m.ci),
                        "n": m.n,
                        "recipe": m.recipe,
                    }
                    for name, m in row["results"].items()
                },
            }
        )
    paper = _paper()
    reported = [
        {"system": r["system"], "kind": "reported", "source": paper["source"], **r}
        for r in paper["rows"]
    ]
    metrics = result.get("metrics") or sorted({m for r in rows for m in r["metrics"]})
    return {
        "created_by": f"musiccaps-kit {__version__}",
        "reference": result["reference"],
        "reference_clips": result["reference_clips"],
        "reference_warnings": result.get("reference_warnings", []),
        "settings": settings,
        "metrics": list(metrics),
        "notes": result.get("notes", []),
        "paper_columns": {
            m: {"column": PAPER_COLUMNS[m][0], "stand_in": PAPER_COLUMNS[m][1]}
            for m in metrics
            if m in PAPER_COLUMNS
        },
        "rows": rows,
        "paper_table1": {"note": paper["note"], "rows": reported},
    }


def fmt(metric: dict[str, Any]) -> str:
    lo, hi = metric["ci"]
    return f"{metric['value']:.3f} [{lo:.3f}, {hi:.3f}]"


def to_markdown(board: dict[str, Any]) -> str:
    metrics = board["metrics"]
    lines = [
        f"# Leaderboard (reference: {board['reference']}, {board['reference_clips']} clips)",
        "",
        "| system | kind | pairing | n | missing | " + " | ".join(metrics) + " |",
        "|---|---|---|---|---|" + "---|" * len(metrics),
    ]
    for r in board["rows"]:
        cells = [
            fmt(r["metrics"][m]) if m in r["metrics"] else ("skipped" if m in r["skipped"] else "")
            for m in metrics
        ]
        row = [
            r["system"],
            "measured",
            r["pairing"],
            str(r["n_common"]),
            str(len(r["missing_ids"])),
        ]
        lines.append("| " + " | ".join(row + cells) + " |")
    confidence = board["settings"].get("confidence", 0.95)
    lines += [
        "",
        f"Values with their {confidence:.0%} bootstrap interval. Recipes: leaderboard.json.",
    ]
    for metric, mark in board["paper_columns"].items():
        if mark["stand_in"]:
            lines.append(f"- {metric}: {mark['stand_in']}.")
    for r in board["rows"]:
        for metric, why in r["skipped"].items():
            lines.append(f"- {r['system']}: {metric} skipped: {why}.")
    lines += [f"- {note}." for note in board["notes"]]
    lines += [
        "",
        "## The MusicLM paper, Table 1 (reported, not measured)",
        "",
        "| system | FAD-TRILL | FAD-VGGish | KLD | MCC | wins |",
        "|---|---|---|---|---|---|",
    ]
    for r in board["paper_table1"]["rows"]:
        cells = [r.get(k) for k in ("fad_trill", "fad_vggish", "kld", "mcc", "wins")]
        lines.append(
            f"| {r['system']} (reported) | "
            + " | ".join("-" if c is None else str(c) for c in cells)
            + " |"
        )
    lines += ["", board["paper_table1"]["note"], ""]
    return "\n".join(lines)


def per_clip_csv(result: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["system", "metric", "id", "value"])
    for row in result["rows"]:
        for metric, m in row["results"].items():
            for clip_id, value in sorted(m.per_clip.items()):
                writer.writerow([row["system"], metric, clip_id, f"{value:.6g}"])
    return buffer.getvalue()
