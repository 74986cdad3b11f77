"""A bench result as ``leaderboard.json``, ``leaderboard.md`` and ``per_clip.csv`` content,
with MusicLM's and MusicGen's Table 1 beside the measured rows, marked as reported, each
column named by the published protocol it matches (or marked as a stand-in that matches
none), and how far each metric agrees with a listening study (``report.write`` writes
them all)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from musiccaps_kit import __version__
from musiccaps_kit.resources import MUSICGEN_TABLE1, PAPER_TABLE1

LOWER_IS_BETTER = {
    "fad": True, "kad": True, "kld": True, "mcc": False, "clap": False, "aes": False
}  # fmt: skip

# Our metric -> (the paper's Table 1 column it corresponds to, why it is only a stand-in).
PAPER_COLUMNS: dict[str, tuple[str, str | None]] = {
    "fad_trill": ("fad_trill", None),
    "fad_vggish": ("fad_vggish", None),
    "kld_leaf": ("kld", "a LEAF classifier you trained: MusicLM's weights are not public"),
    "kld_musicnn": ("kld", "musicnn's MTT tagger stands in for the paper's LEAF classifier"),
    "mcc_mulan": ("mcc", "the MuLan trained here, not the paper's"),
    "mcc_projection": ("mcc", "a small projection model stands in for MuLan"),
    "mcc_clap": ("mcc", "LAION-CLAP stands in for MuLan"),
    "mcc_muq": ("mcc", "MuQ-MuLan, the open MuLan: not Google's"),
}


# Our metric -> MusicGen's Table 1 column with the same protocol (AudioCraft's metrics).
MUSICGEN_COLUMNS = {
    "fad_vggish_audiocraft": "fad_vggish",
    "kld_passt": "kld_passt",
    "clap_score": "clap_score",
}
# Metrics whose protocol is a tool's rather than a paper's (kadtk's loaders: CLAP, EnCodec,
# PaSST; on other embedders a KAD column is kadtk's formula on this toolkit's frames).
TOOL_PROTOCOLS = {
    "fad_clap": "fadtk",
    "fad_encodec": "fadtk",
    "fad_passt": "kadtk",
    "kad_clap": "kadtk",
    "kad_encodec": "kadtk",
    "kad_passt": "kadtk",
}


def protocol(metric: str, settings: dict[str, Any] | None = None) -> str:
    """The published protocol a column of this name can match, as its header says it where
    no measured result carries its own claim (``column_claim``). VGGish matches the papers
    only with Google's 2019 front end (the default)."""
    vggish = ((settings or {}).get("embedder_options") or {}).get("vggish", {})
    if metric.startswith("fad_vggish") and vggish.get("frontend", "google2019") != "google2019":
        return "PyTorch ports' VGGish front end: not comparable with the papers"
    musiclm = metric in PAPER_COLUMNS and PAPER_COLUMNS[metric][1] is None
    musicgen = metric in MUSICGEN_COLUMNS
    tables = [name for name, hit in (("MusicLM", musiclm), ("MusicGen", musicgen)) if hit]
    if tables:
        return f"as {' and '.join(tables)} Table 1"
    tool = TOOL_PROTOCOLS.get(metric)
    if tool:
        return f"as {tool}"
    if metric.startswith("kad_"):
        return "kadtk's KAD on this toolkit's frames"
    if metric in PAPER_COLUMNS:
        return "stand-in: not comparable"
    return "this toolkit's own: no published protocol"


def column_claim(result: dict[str, Any], metric: str, settings: dict[str, Any]) -> dict:
    """What a column's header claims: the claim its measured results carry (the protocol
    only with that protocol's weights and audio path), else what its name can match."""
    for row in result["rows"]:
        measured = row["results"].get(metric)
        if measured is not None and measured.recipe.get("claim"):
            return measured.recipe["claim"]
    header = protocol(metric, settings)
    tables = [t for t in ("MusicLM", "MusicGen") if t in header and "not comparable" not in header]
    return {"header": header, "tables": tables, "checkpoint": None, "sha256": None}


def lower_is_better(metric: str) -> bool:
    return LOWER_IS_BETTER.get(metric.split("_")[0], True)


def _paper() -> dict[str, Any]:
    return json.loads(PAPER_TABLE1.read_text())


def _musicgen() -> dict[str, Any]:
    return json.loads(MUSICGEN_TABLE1.read_text())


def _reported(table: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"system": r["system"], "kind": "reported", "source": table["source"], **r}
        for r in table["rows"]
    ]


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
                        **({"inf": m.inf} if m.inf is not None else {}),
                        **m.extra,
                    }
                    for name, m in row["results"].items()
                },
            }
        )
    paper, musicgen = _paper(), _musicgen()
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
        "columns": {m: _column(result, m, settings) for m in metrics},
        "rows": rows,
        "paper_table1": {"note": paper["note"], "rows": _reported(paper)},
        "musicgen_table1": {"note": musicgen["note"], "rows": _reported(musicgen)},
        **({"agreement": result["agreement"]} if "agreement" in result else {}),
    }


def _column(result: dict[str, Any], metric: str, settings: dict[str, Any]) -> dict[str, Any]:
    claim = column_claim(result, metric, settings)
    return {
        "protocol": claim["header"],
        "musiclm_column": PAPER_COLUMNS[metric][0] if "MusicLM" in claim["tables"] else None,
        "musicgen_column": MUSICGEN_COLUMNS.get(metric) if "MusicGen" in claim["tables"] else None,
        "checkpoint": claim.get("checkpoint"),
        "sha256": claim.get("sha256"),
        "audio_path": claim.get("audio_path"),
    }


def column_note(column: dict[str, Any]) -> str:
    """The checkpoint, its sha256 and the audio path of a column, in one line."""
    parts = []
    if column.get("checkpoint"):
        sha = f" (sha256 {column['sha256']})" if column.get("sha256") else ""
        parts.append(f"checkpoint {column['checkpoint']}{sha}")
    if column.get("audio_path"):
        parts.append(f"audio: {column['audio_path']}")
    return "; ".join(parts)


def header(board: dict[str, Any], metric: str) -> str:
    """A column's header: the metric and the protocol it matches."""
    return f"{metric} ({board['columns'][metric]['protocol']})"


def reported_rows(board: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """Each published row with, per measured column, the value it reports there: MusicLM's
    rows always (as the leaderboard always showed them), MusicGen's when a column matches
    its protocol."""
    out = []
    for table, column in (
        ("paper_table1", "musiclm_column"),
        ("musicgen_table1", "musicgen_column"),
    ):
        if table == "musicgen_table1" and not any(
            board["columns"][m][column] for m in board["metrics"]
        ):
            continue
        for r in board[table]["rows"]:
            cells = {}
            for m in board["metrics"]:
                key = board["columns"][m][column]
                # a stand-in's column, or VGGish on another front end, shows no published value
                comparable = "not comparable" not in board["columns"][m]["protocol"]
                if key and r.get(key) is not None and comparable:
                    cells[m] = str(r[key])
            label = "MusicLM" if table == "paper_table1" else "MusicGen"
            out.append(({**r, "table": label}, cells))
    return out


def agreement_rows(board: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(metric, tau, interval, systems or why not) for the agreement table."""
    rows = []
    for metric, a in board.get("agreement", {}).get("metrics", {}).items():
        if "skipped" in a:
            rows.append((metric, "-", "-", a["skipped"]))
        else:
            lo, hi = a["ci"]
            rows.append(
                (metric, f"{a['tau']:+.2f}", f"[{lo:+.2f}, {hi:+.2f}]", ", ".join(a["systems"]))
            )
    return rows


def fmt(metric: dict[str, Any]) -> str:
    lo, hi = metric["ci"]
    inf = f" (-inf {metric['inf']['value']:.3f})" if metric.get("inf") else ""
    return f"{metric['value']:.3f} [{lo:.3f}, {hi:.3f}]{inf}"


def to_markdown(board: dict[str, Any]) -> str:
    metrics = board["metrics"]
    lines = [
        f"# Leaderboard (reference: {board['reference']}, {board['reference_clips']} clips)",
        "",
        "| system | kind | pairing | n | missing | "
        + " | ".join(header(board, m) for m in metrics)
        + " |",
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
    for r, cells in reported_rows(board):
        row = [f"{r['system']} ({r['table']}, reported)", "reported", "-", "-", "-"]
        lines.append("| " + " | ".join(row + [cells.get(m, "") for m in metrics]) + " |")
    confidence = board["settings"].get("confidence", 0.95)
    lines += [
        "",
        f"Values with their {confidence:.0%} bootstrap interval and, for FAD and KAD, the "
        "-inf extrapolation (fadtk/kadtk score_inf). Recipes: leaderboard.json.",
    ]
    for metric in metrics:
        note = column_note(board["columns"][metric])
        if note:
            lines.append(f"- {metric}: {note}.")
    for metric, mark in board["paper_columns"].items():
        if mark["stand_in"]:
            lines.append(f"- {metric}: {mark['stand_in']}.")
    for r in board["rows"]:
        for metric, why in r["skipped"].items():
            lines.append(f"- {r['system']}: {metric} skipped: {why}.")
    lines += [f"- {note}." for note in board["notes"]]
    if board.get("agreement"):
        lines += [
            "",
            f"## Which metric agrees with the listeners ({board['agreement']['study']})",
            "",
            "Kendall's tau between each metric's ranking of the systems and the listeners' "
            "win rates (+1: the same order).",
            "",
            "| metric | tau | interval | systems |",
            "|---|---|---|---|",
        ]
        lines += [f"| {' | '.join(row)} |" for row in agreement_rows(board)]
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
    musicgen = board["musicgen_table1"]
    lines += [
        "## MusicGen, Table 1 (reported, not measured)",
        "",
        "| system | FAD-VGGish | KL-PaSST | CLAP | OVL | REL |",
        "|---|---|---|---|---|---|",
    ]
    for r in musicgen["rows"]:
        cells = [r.get(k) for k in ("fad_vggish", "kld_passt", "clap_score", "ovl", "rel")]
        lines.append(
            f"| {r['system']} (reported) | "
            + " | ".join("-" if c is None else str(c) for c in cells)
            + " |"
        )
    lines += ["", musicgen["note"], ""]
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
