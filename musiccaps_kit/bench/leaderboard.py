"""Write a bench result as ``leaderboard.json``, ``leaderboard.md``, ``report.html`` and
``per_clip.csv``, with the paper's Table 1 beside the measured rows, marked as reported."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path
from typing import Any

from musiccaps_kit import __version__
from musiccaps_kit.resources import PAPER_TABLE1

LOWER_IS_BETTER = {"fad": True, "kld": True, "mcc": False}


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
                "n_common": len(p.common),
                "missing_ids": list(p.missing),
                "extra_ids": list(p.extra),
                # how the system's clips were made (a baseline adapter's system.json)
                "made_by": row.get("made_by"),
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
    return {
        "created_by": f"musiccaps-kit {__version__}",
        "reference": result["reference"],
        "reference_clips": result["reference_clips"],
        "settings": settings,
        "rows": rows,
        "paper_table1": {"note": paper["note"], "rows": reported},
    }


def _fmt(metric: dict[str, Any]) -> str:
    lo, hi = metric["ci"]
    return f"{metric['value']:.3f} [{lo:.3f}, {hi:.3f}]"


def to_markdown(board: dict[str, Any]) -> str:
    metrics = sorted({m for r in board["rows"] for m in r["metrics"]})
    lines = [
        f"# Leaderboard (reference: {board['reference']}, {board['reference_clips']} clips)",
        "",
        "| system | kind | n | missing | " + " | ".join(metrics) + " |",
        "|---|---|---|---|" + "---|" * len(metrics),
    ]
    for r in board["rows"]:
        cells = [_fmt(r["metrics"][m]) if m in r["metrics"] else "" for m in metrics]
        row = [r["system"], "measured", str(r["n_common"]), str(len(r["missing_ids"]))]
        lines.append("| " + " | ".join(row + cells) + " |")
    lines += [
        "",
        "Values are means with a 95 % bootstrap interval. Recipes: leaderboard.json.",
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


def _plot(board: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = sorted({m for r in board["rows"] for m in r["metrics"]})
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        rows = [r for r in board["rows"] if metric in r["metrics"]]
        values = [r["metrics"][metric]["value"] for r in rows]
        # A bootstrap interval of a biased statistic (FAD) need not contain the estimate.
        lows = [
            max(0.0, v - r["metrics"][metric]["ci"][0]) for v, r in zip(values, rows, strict=True)
        ]
        highs = [
            max(0.0, r["metrics"][metric]["ci"][1] - v) for v, r in zip(values, rows, strict=True)
        ]
        ax.barh([r["system"] for r in rows], values, xerr=[lows, highs], color="#3b6ea5")
        better = "lower" if LOWER_IS_BETTER.get(metric.split("_")[0], True) else "higher"
        ax.set_title(f"{metric} ({better} is better)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def to_html(board: dict[str, Any], markdown: str) -> str:
    recipes = json.dumps([r["metrics"] for r in board["rows"]], indent=1)
    return (
        "<!doctype html><meta charset='utf-8'><title>musiccaps-kit leaderboard</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "pre{background:#f4f4f4;padding:1em;overflow:auto;font-size:12px}</style>"
        f"<img alt='metrics with 95% intervals' src='data:image/png;base64,{_plot(board)}'>"
        f"<pre>{html.escape(markdown)}</pre>"
        f"<h2>Recipes</h2><pre>{html.escape(recipes)}</pre>"
    )


def write(result: dict[str, Any], settings: dict[str, Any], out_dir: str | Path) -> Path:
    """Write all outputs into ``out_dir``; return the HTML report's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    board = to_json(result, settings)
    (out / "leaderboard.json").write_text(json.dumps(board, indent=2) + "\n")
    markdown = to_markdown(board)
    (out / "leaderboard.md").write_text(markdown)
    report = out / "report.html"
    report.write_text(to_html(board, markdown))
    with open(out / "per_clip.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["system", "metric", "id", "value"])
        for row in result["rows"]:
            for metric, m in row["results"].items():
                for clip_id, value in sorted(m.per_clip.items()):
                    writer.writerow([row["system"], metric, clip_id, f"{value:.6g}"])
    return report
