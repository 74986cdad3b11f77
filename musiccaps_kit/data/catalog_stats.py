"""Counts and the genre distribution of a catalog (the MusicLM paper's Figs. 4-5)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from musiccaps_kit.data.audioset import load_class_map
from musiccaps_kit.data.catalog import Catalog


def counts(catalog: Catalog) -> dict[str, int]:
    """Clip counts: all, AudioSet eval / train, genre-balanced subset, annotators."""
    return {
        "all": len(catalog),
        "audioset_eval": sum(c.is_audioset_eval for c in catalog),
        "audioset_train": sum(not c.is_audioset_eval for c in catalog),
        "genre_balanced": sum(c.is_balanced_subset for c in catalog),
        "annotators": len({c.author_id for c in catalog if c.author_id}),
    }


def genre_counts(catalog: Catalog) -> Counter[str]:
    """How many clips carry each AudioSet music-genre label, by display name."""
    class_map = load_class_map()
    genres = set(class_map.genre_mids)
    return Counter(class_map.name(mid) for c in catalog for mid in c.labels if mid in genres)


def plot_genres(catalog: Catalog, path: str | Path, top: int = 30) -> Path:
    """Bar charts of genre counts for the whole catalog and its genre-balanced subset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("all clips", catalog), ("genre-balanced subset", catalog.subset("balanced"))]
    panels = [(title, cat) for title, cat in panels if len(cat)]
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 8), squeeze=False)
    for ax, (title, cat) in zip(axes[0], panels, strict=True):
        ranked = genre_counts(cat).most_common(top)
        names = [n for n, _ in ranked][::-1]
        values = [v for _, v in ranked][::-1]
        ax.barh(names, values, color="#3b6ea5")
        ax.set_title(f"{catalog.name}: {title} (n={len(cat)})")
        ax.set_xlabel("clips with the AudioSet genre label")
        for y, v in enumerate(values):
            ax.text(v, y, f" {v}", va="center", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def summary_rows(catalog: Catalog, genres: int = 10) -> list[tuple[str, str]]:
    """``mck catalog stats``' table: the counts, then the ``genres`` commonest genres."""
    rows = [(k, f"{v:,}") for k, v in counts(catalog).items()]
    rows += [(f"genre: {g}", f"{n:,}") for g, n in genre_counts(catalog).most_common(genres)]
    return rows
