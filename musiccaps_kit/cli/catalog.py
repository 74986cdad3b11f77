"""``mck catalog``: inspect MusicCaps metadata or a custom caption set in its format."""

from __future__ import annotations

from pathlib import Path

import click

from musiccaps_kit.cli.common import DATASET_HELP, SUBSET_HELP, load_catalog, print_table


@click.group()
def catalog() -> None:
    """Inspect MusicCaps metadata or a custom caption set in its format."""


@catalog.command("stats")
@click.option("--dataset", default="musiccaps", show_default=True, help=DATASET_HELP)
@click.option("--subset", default="all", show_default=True, help=SUBSET_HELP)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("genres.png"),
    show_default=True,
    help="where to draw the genre distribution (PNG)",
)
def catalog_stats(dataset: str, subset: str, plot: Path) -> None:
    """Print clip counts and draw the genre distribution (paper Figs. 4-5)."""
    from musiccaps_kit.data.catalog_stats import plot_genres, summary_rows

    cat = load_catalog(dataset, subset)
    print_table(summary_rows(cat), f"{cat.name} ({subset}) from {cat.source}")
    click.echo(f"genre distribution: {plot_genres(cat, plot)}")
