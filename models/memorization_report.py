"""``mck bench memorization``: the analysis on training and held-out clips, as JSON, a
Markdown table and the paper's Fig. 3 (match rates against prompt length)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.atomic import atomic_path, write_text
from musiccaps_kit.checksums import checksum_files
from musiccaps_kit.models.loaders import load_semantic, load_stages
from musiccaps_kit.models.memorization import MemorizationSettings, analyse
from musiccaps_kit.models.records import TokenBank


def _clips(records: str | Path, split: str, limit: int) -> list[tuple]:
    """(M_A, S, melody or None) of the first ``limit`` clips of ``split``."""
    bank = TokenBank(records, split)
    melody = bank.melody or [None] * len(bank)
    return [(m, s, tune) for (m, s, _, _, _), tune in zip(bank.items, melody, strict=True)][:limit]


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Memorisation (continuation of {result['settings']['continuation_tokens']} tokens, "
        f"greedy; tau {result['tau']:.4g} from {result['negatives']} negatives)",
        "",
        "| clips | prompt s | n | exact match | token accuracy | approximate match | "
        "entropy (all / matched) |",
        "|---|---|---|---|---|---|---|",
    ]
    for split in ("train", "held_out"):
        for row in result[split]["rows"]:
            matched = row["entropy_bits_matched"]
            lines.append(
                f"| {split} | {row['prompt_seconds']:g} | {row['clips']} | "
                f"{row['exact_match_rate']:.3f} | {row['mean_token_accuracy']:.3f} | "
                f"{row['approximate_match_rate']:.3f} | {row['entropy_bits_all']:.2f} / "
                f"{'-' if matched is None else f'{matched:.2f}'} |"
            )
    return "\n".join(lines) + "\n"


def figure(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for split, style in (("train", "-"), ("held_out", "--")):
        rows = result[split]["rows"]
        x = [r["prompt_seconds"] for r in rows]
        ax.plot(
            x, [r["exact_match_rate"] for r in rows], style, marker="o", label=f"exact ({split})"
        )
        ax.plot(
            x,
            [r["approximate_match_rate"] for r in rows],
            style,
            marker="s",
            label=f"approximate ({split})",
        )
    ax.set_xlabel("semantic prompt length (s)")
    ax.set_ylabel("fraction of clips")
    ax.set_title("Memorisation of training clips (cf. paper Fig. 3)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def run(
    stages: str | Path,
    records: str | Path,
    settings: MemorizationSettings,
    out: str | Path,
    clips: int = 200,
) -> dict[str, Any]:
    bundle = load_stages(stages)
    if "semantic" not in bundle["models"]:
        raise ValueError("these stages have no semantic stage (the ablation preset)")
    made_by = bundle["tokenizer"]["checkpoints"]["semantic"]
    semantic_path = made_by["path"]
    if checksum_files([Path(semantic_path)]) != made_by["sha256"]:
        raise ValueError(
            f"{semantic_path} is not the semantic tokenizer that made the stages' tokens "
            "(its centroids define the approximate-match cost)"
        )
    centroids = load_semantic(semantic_path).centroids.numpy().astype(np.float64)
    model, vocab = bundle["models"]["semantic"], bundle["vocabulary"]
    result: dict[str, Any] = {}
    tau = None
    for split, name in (("train", "train"), ("eval", "held_out")):
        chosen = _clips(records, split, clips)
        result[name] = analyse(model, vocab, centroids, chosen, settings, tau)
        tau = result[name]["tau"]
    result["tau"] = result["train"]["tau"]
    result["negatives"] = result["train"]["negatives"]
    result["settings"] = result["train"]["settings"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "memorization.json", json.dumps(result, indent=2))
    figure(result, out / "fig3_memorization.png")
    result["markdown"] = markdown(result)
    write_text(out / "memorization.md", result["markdown"])
    return result
