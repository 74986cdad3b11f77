"""A folder of Fréchet statistics (``mck stats`` writes it, ``mck fad`` compares two):
``stats.npz`` (mergeable float64 sums) and ``stats.json`` (the embedder recipe)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from musiccaps_kit.atomic import write_text
from musiccaps_kit.bench.metrics.frechet import GaussianStats, fad

STATS_FILE = "stats.npz"
RECIPE_FILE = "stats.json"
FADTK_FILE = "fadtk.npz"


def write_recipe(out: str | Path, clips: str | Path, n_clips: int, stats: GaussianStats, recipe):
    """``stats.json`` beside the statistics: what was embedded, how, and how much."""
    info = {
        "clips": str(clips),
        "n_clips": n_clips,
        "frames": stats.count,
        "dims": stats.dims,
        "recipe": recipe,
        "statistics": "count, sum, sum of outer products (float64)",
    }
    write_text(Path(out) / RECIPE_FILE, json.dumps(info, indent=2))


def read_recipe(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / RECIPE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {folder} a folder made by mck stats?")
    return json.loads(path.read_text())["recipe"]


def fad_between(reference: str | Path, system: str | Path) -> tuple[float, dict[str, Any]]:
    """FAD between two statistics folders and their shared recipe; folders made with
    different embedder recipes are refused."""
    recipes = [read_recipe(folder) for folder in (reference, system)]
    if recipes[0] != recipes[1]:
        raise ValueError("the two statistics come from different embedder recipes")
    stats = [GaussianStats.load(Path(folder) / STATS_FILE) for folder in (reference, system)]
    return fad(*stats), recipes[0]
