"""The bench's HTML report: one self-contained page people read.

A table (systems as rows; each metric's value, interval and n; the paper's Table 1 rows in
the same columns, marked reported; stand-ins for the paper's metrics marked), one chart per
metric, per-clip score distributions per system, the five worst clips per system and
metric with their captions and audio players (relative links, so the page works from its
folder), missing and extra ids, and every recipe in collapsible sections. Charts are
inline PNGs; nothing is fetched from the network.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from musiccaps_kit.atomic import write_text
from musiccaps_kit.bench.clips import ClipSet
from musiccaps_kit.bench.leaderboard import (
    agreement_rows,
    column_note,
    lower_is_better,
    per_clip_csv,
    reported_rows,
    to_json,
    to_markdown,
)

WORST = 5
STYLE = """
body{font-family:system-ui,sans-serif;max-width:1180px;margin:1.5em auto;padding:0 1em;
color:#222;line-height:1.4}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ccc;padding:4px 7px;text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}
tr.reported td{color:#555;background:#f7f7f2;font-style:italic}
td small{color:#666;white-space:nowrap}
img{max-width:100%;height:auto;display:block;margin:.5em 0}
.charts{display:flex;flex-wrap:wrap;gap:1em}.charts figure{margin:0;flex:1 1 520px;max-width:100%}
details{margin:.4em 0}summary{cursor:pointer}
pre{background:#f4f4f4;padding:.8em;overflow:auto;font-size:12px;max-width:100%}
.clip{display:flex;flex-wrap:wrap;gap:.6em;align-items:center;margin:.4em 0;
border-bottom:1px dotted #ddd;padding-bottom:.4em}
.clip .caption{flex:1 1 380px;font-size:13px}
.clip audio{width:260px;max-width:100%}
.note{font-size:13px;color:#444}
"""


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _img(data: str, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def metric_chart(board: dict[str, Any], metric: str) -> str:
    """Bars with interval whiskers, one per system that has the metric."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in board["rows"] if metric in r["metrics"]]
    values = [r["metrics"][metric]["value"] for r in rows]
    lows = [v - r["metrics"][metric]["ci"][0] for v, r in zip(values, rows, strict=True)]
    highs = [r["metrics"][metric]["ci"][1] - v for v, r in zip(values, rows, strict=True)]
    fig, ax = plt.subplots(figsize=(5.6, 0.42 * len(rows) + 1.1))
    ax.barh([r["system"] for r in rows], values, xerr=[lows, highs], color="#3b6ea5", capsize=3)
    ax.invert_yaxis()
    better = "lower" if lower_is_better(metric) else "higher"
    ax.set_title(f"{metric} ({better} is better)", fontsize=10)
    ax.tick_params(labelsize=8)
    return _png(fig)


def distribution_chart(result: dict[str, Any], metric: str) -> str:
    """Per-clip scores per system: a box and the clips as points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [r for r in result["rows"] if metric in r["results"] and r["results"][metric].per_clip]
    data = [list(r["results"][metric].per_clip.values()) for r in rows]
    fig, ax = plt.subplots(figsize=(5.6, 0.42 * len(rows) + 1.1))
    ax.boxplot(data, vert=False, widths=0.5, showfliers=False)
    rng = np.random.default_rng(0)
    for i, values in enumerate(data, start=1):
        ax.scatter(values, i + rng.uniform(-0.15, 0.15, len(values)), s=8, alpha=0.6)
    ax.set_yticks(range(1, len(rows) + 1), [r["system"] for r in rows])
    ax.invert_yaxis()
    ax.set_title(f"{metric} per clip", fontsize=10)
    ax.tick_params(labelsize=8)
    return _png(fig)


def _cell(metric: dict[str, Any] | None, skipped: str | None) -> str:
    if metric is None:
        return f"<td title='{html.escape(skipped)}'>skipped</td>" if skipped else "<td>-</td>"
    lo, hi = metric["ci"]
    inf = metric.get("inf")
    extrapolated = (
        f"<br><small title='fadtk/kadtk score_inf: intercept of score against 1/n'>-inf "
        f"{inf['value']:.3f} (r2 {inf['r2']:.2f})</small>"
        if inf
        else ""
    )
    return (
        f"<td data-value='{metric['value']!r}'>{metric['value']:.3f}<br>"
        f"<small>[{lo:.3f}, {hi:.3f}] n={metric['n']}</small>{extrapolated}</td>"
    )


def table(board: dict[str, Any]) -> str:
    metrics = board["metrics"]
    marks = board["paper_columns"]
    head = "".join(
        f"<th>{html.escape(m)}{'&dagger;' if marks.get(m, {}).get('stand_in') else ''}"
        f"<br><small>{html.escape(board['columns'][m]['protocol'])}</small>"
        f"<br><small class='column-note'>{html.escape(column_note(board['columns'][m]))}"
        "</small></th>"
        for m in metrics
    )
    lines = [
        "<div class='scroll'><table id='leaderboard'>",
        f"<tr><th>system</th><th>kind</th><th>pairing</th><th>n</th>{head}</tr>",
    ]
    for r in board["rows"]:
        cells = "".join(_cell(r["metrics"].get(m), r["skipped"].get(m)) for m in metrics)
        lines.append(
            f"<tr class='measured' data-system='{html.escape(r['system'])}'>"
            f"<td>{html.escape(r['system'])}</td><td>measured</td><td>{r['pairing']}</td>"
            f"<td>{r['n_common']}</td>{cells}</tr>"
        )
    for r, values in reported_rows(board):
        cells = "".join(f"<td>{html.escape(values.get(m, '-'))}</td>" for m in metrics)
        lines.append(
            f"<tr class='reported' data-table='{r['table']}'><td>{html.escape(r['system'])} "
            f"<small>({r['table']} Table 1)</small></td><td>reported</td>"
            f"<td>-</td><td>-</td>{cells}</tr>"
        )
    lines.append("</table></div>")
    notes = [
        f"&dagger; {html.escape(m)}: {html.escape(mark['stand_in'])}."
        for m, mark in marks.items()
        if mark["stand_in"]
    ]
    notes += [html.escape(n) + "." for n in board["notes"]]
    notes.append("MusicLM: " + html.escape(board["paper_table1"]["note"]))
    notes.append("MusicGen: " + html.escape(board["musicgen_table1"]["note"]))
    confidence = board["settings"].get("confidence", 0.95)
    notes.insert(0, f"Each value with its {confidence:.0%} bootstrap interval and n (clips).")
    return "\n".join(lines) + "".join(f"<p class='note'>{n}</p>" for n in notes)


def _player(clips, clip_id: str, out: Path, label: str) -> str:
    """An audio player for a clip; a clip that lives in records is written beside the
    report (``clips/{label}/{id}.wav``, the label reduced to a safe folder name: system
    names are the user's) so the page can play it."""
    path = clips.file(clip_id)
    if path is None:
        folder = re.sub(r"[^A-Za-z0-9_.-]", "_", label).lstrip(".") or "_"
        path = clips.export_wav(clip_id, out / "clips" / folder / f"{clip_id}.wav")
    link = "/".join(quote(part) for part in Path(os.path.relpath(path, out)).parts)
    return (
        f"<span class='note'>{label}</span>"
        f"<audio controls preload='none' src='{html.escape(link)}'></audio>"
    )


def worst_clips(result, out: Path, captions: dict[str, str]) -> str:
    parts = []
    reference = result.get("reference_set")
    if not isinstance(reference, ClipSet):
        reference = None  # precomputed probabilities: nothing to play
    for row in result["rows"]:
        for metric, m in row["results"].items():
            worst = sorted(
                m.per_clip.items(), key=lambda kv: kv[1], reverse=lower_is_better(metric)
            )[:WORST]
            items = []
            for clip_id, value in worst:
                caption = captions.get(clip_id, "(no caption in the catalog)")
                players = _player(row["clips"], clip_id, out, row["system"])
                if reference is not None and clip_id in reference.ids():
                    players += _player(reference, clip_id, out, "reference")
                items.append(
                    f"<div class='clip' data-id='{html.escape(clip_id)}'>"
                    f"<b>{html.escape(clip_id)}</b> {value:.3f}"
                    f"<span class='caption'>{html.escape(caption)}</span>{players}</div>"
                )
            parts.append(
                f"<details open><summary>{html.escape(row['system'])}: {html.escape(metric)}"
                f"</summary>{''.join(items)}</details>"
            )
    return "".join(parts)


def agreement_section(board: dict[str, Any]) -> str:
    """Kendall's tau per metric against the listening study, as a table."""
    if not board.get("agreement"):
        return ""
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in agreement_rows(board)
    )
    recipe = html.escape(json.dumps(board["agreement"]["recipe"], indent=1))
    return (
        f"<h2>Which metric agrees with the listeners</h2><p class='note'>Kendall's tau "
        f"between each metric's ranking of the systems and the listeners' win rates in "
        f"{html.escape(str(board['agreement']['study']))}: +1 ranks the systems as the "
        "listeners do, -1 in reverse.</p><div class='scroll'><table id='agreement'><tr>"
        f"<th>metric</th><th>tau</th><th>interval</th><th>systems</th></tr>{body}</table>"
        f"</div><details><summary>how</summary><pre>{recipe}</pre></details>"
    )


def ids_section(board: dict[str, Any]) -> str:
    parts = []
    for r in board["rows"]:
        for kind in ("missing_ids", "extra_ids"):
            ids = r[kind]
            label = kind.replace("_", " ")
            if ids:
                parts.append(
                    f"<details><summary>{html.escape(r['system'])}: {len(ids)} {label}"
                    f"</summary><pre>{html.escape(', '.join(ids))}</pre></details>"
                )
    return "".join(parts) or "<p class='note'>Every system has every reference id.</p>"


def recipes_section(board: dict[str, Any]) -> str:
    parts = [
        "<details><summary>bench settings</summary><pre>"
        f"{html.escape(json.dumps(board['settings'], indent=1, default=str))}</pre></details>"
    ]
    for r in board["rows"]:
        for metric, m in r["metrics"].items():
            parts.append(
                f"<details><summary>{html.escape(r['system'])}: {html.escape(metric)}</summary>"
                f"<pre>{html.escape(json.dumps(m['recipe'], indent=1))}</pre></details>"
            )
        if r.get("made_by"):
            parts.append(
                f"<details><summary>{html.escape(r['system'])}: how its clips were made"
                f"</summary><pre>{html.escape(json.dumps(r['made_by'], indent=1))}</pre></details>"
            )
    return "".join(parts)


def render(board: dict[str, Any], result: dict[str, Any], out: Path, captions) -> str:
    metrics = board["metrics"]
    measured = [m for m in metrics if any(m in r["metrics"] for r in board["rows"])]
    charts = "".join(
        f"<figure>{_img(metric_chart(board, m), f'{m} by system')}</figure>" for m in measured
    )
    per_clip = [
        m
        for m in measured
        if any(m in r["results"] and r["results"][m].per_clip for r in result["rows"])
    ]
    spreads = "".join(
        f"<figure>{_img(distribution_chart(result, m), f'{m} per clip')}</figure>" for m in per_clip
    )
    title = f"Leaderboard: {len(board['rows'])} systems against {board['reference']}"
    made = html.escape(board["created_by"])
    worst = worst_clips(result, out, captions)
    return (
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p class='note'>{board['reference_clips']} reference clips; {made}."
        " Recipes at the end; leaderboard.json holds the same numbers.</p>"
        f"<h2>Leaderboard</h2>{table(board)}{agreement_section(board)}"
        f"<h2>Metrics</h2><div class='charts'>{charts}</div>"
        f"<h2>Per-clip scores</h2><div class='charts'>{spreads}</div>"
        f"<h2>The {WORST} worst clips per system and metric</h2>{worst}"
        f"<h2>Missing and extra ids</h2>{ids_section(board)}"
        f"<h2>Recipes</h2>{recipes_section(board)}"
        "</body></html>"
    )


def write(
    result: dict[str, Any],
    settings: dict[str, Any],
    out_dir: str | Path,
    captions: dict[str, str] | None = None,
) -> Path:
    """Write all outputs into ``out_dir``; return the HTML report's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    board = to_json(result, settings)
    write_text(out / "leaderboard.json", json.dumps(board, indent=2) + "\n")
    write_text(out / "leaderboard.md", to_markdown(board))
    write_text(out / "per_clip.csv", per_clip_csv(result))
    report = out / "report.html"
    write_text(report, render(board, result, out, captions or {}))
    return report
