"""The analysis as JSON, a Markdown report and the paper's Fig. 7 and Fig. 8 as PNGs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from musiccaps_kit.atomic import write_text


def markdown(result: dict[str, Any]) -> str:
    s = result["settings"]
    names = result["sources"]
    lines = [
        f"# Listening study: {result['ratings']} ratings, {len(names)} sources",
        "",
        "| source | wins | comparisons | win % | Bradley-Terry strength [95 % CI] |",
        "|---|---|---|---|---|",
    ]
    for name in sorted(names, key=lambda n: -result["wins"][n]):
        bt = result["bradley_terry"][name]
        lines.append(
            f"| {name} | {result['wins'][name]} | {result['comparisons'][name]} | "
            f"{result['win_percent'][name]['overall']:.1f} | {bt['strength']:.3f} "
            f"[{bt['ci'][0]:.3f}, {bt['ci'][1]:.3f}] |"
        )
    lines += [
        "",
        f"No preference: {result['ties']} ratings (they count for nobody).",
        "",
        "## Pairwise wins (row preferred over column; Fig. 7)",
        "",
        "| | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for a in names:
        cells = ["-" if a == b else str(result["pairwise_wins"][a][b]) for b in names]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"## Tests per pair (Wilcoxon signed-rank, zero_method={s['zero_method']!r}, "
        f"method={s['method']!r}; Bonferroni over {s['family_size']} pairs, alpha "
        f"{s['alpha']:g}: p < {s['per_test_threshold']:.2g} per test)",
        "",
        "| pair | n | wins | ties | mean score | p | p (Bonferroni) | significant | "
        "sign test p (Bonferroni) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in result["tests"]:
        p = t["note"] or f"{t['p']:.3g}"
        lines.append(
            f"| {t['a']} vs {t['b']} | {t['n']} | {t['wins_a']}-{t['wins_b']} | {t['ties']} | "
            f"{t['mean_score_a']:+.2f} | {p} | {t['p_bonferroni']:.3g} | "
            f"{'yes' if t['significant'] else 'no'} | {t['sign_test_p_bonferroni']:.3g} |"
        )
    return "\n".join(lines) + "\n"


def plots(result: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = result["sources"]
    k = len(names)
    matrix = np.full((k, k), np.nan)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if a != b:
                matrix[i, j] = result["win_percent"][a]["vs"][b]
    fig, ax = plt.subplots(figsize=(1.4 * k + 2, 1.2 * k + 1.5))
    image = ax.imshow(matrix, cmap="RdBu", vmin=0, vmax=100)
    for i in range(k):
        for j in range(k):
            if i != j:
                wins = result["pairwise_wins"][names[i]][names[j]]
                ax.text(j, i, f"{matrix[i, j]:.0f} %\n({wins})", ha="center", va="center")
    ax.set_xticks(range(k), names, rotation=30, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("opponent")
    ax.set_title("Row preferred over column (% of their comparisons)")
    fig.colorbar(image, ax=ax, label="win %")
    fig.tight_layout()
    fig7 = out / "fig7_pairwise.png"
    fig.savefig(fig7, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(2 * k + 3, 4))
    width = 0.8 / (k + 1)
    for n, opponent in enumerate(["overall", *names]):
        heights = [
            result["win_percent"][s]["overall"]
            if opponent == "overall"
            else result["win_percent"][s]["vs"].get(opponent, np.nan)
            for s in names
        ]
        ax.bar(np.arange(k) + (n - k / 2) * width, heights, width, label=f"vs {opponent}")
    ax.set_xticks(range(k), names)
    ax.set_ylabel("win %")
    ax.set_title("Win percentage, overall and per opponent")
    ax.legend(fontsize="small", ncols=2)
    fig.tight_layout()
    fig8 = out / "fig8_win_percent.png"
    fig.savefig(fig8, dpi=120)
    plt.close(fig)
    return [fig7, fig8]


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None: strict JSON, always."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def write(result: dict[str, Any], out: str | Path) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "listening.json", json.dumps(finite(result), indent=2, allow_nan=False))
    write_text(out / "listening.md", markdown(result))
    fig7, fig8 = plots(result, out)
    return {
        "json": out / "listening.json",
        "markdown": out / "listening.md",
        "fig7": fig7,
        "fig8": fig8,
    }
