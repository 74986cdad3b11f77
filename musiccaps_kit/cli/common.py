"""What every command group shares: catalog options, KEY=VALUE settings, tables, and the
translation of library errors into clean messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from musiccaps_kit.audio import AudioError
from musiccaps_kit.data.catalog import SUBSETS, Catalog, CatalogError
from musiccaps_kit.tables import format_table

T = TypeVar("T")

DATASET_HELP = (
    "musiccaps (bundled CSV), demo, hub (Hugging Face google/MusicCaps), song-describer (the "
    "Song Describer Dataset: one record per track; --subset all, valid or nosinging), or a "
    "CSV path (MusicCaps' columns, or SDD's)"
)
SUBSET_HELP = f"one of {', '.join(SUBSETS)}, or label:NAME_OR_MID (an AudioSet class)"


def print_table(rows: list[tuple[str, str]], title: str) -> None:
    click.echo(format_table(rows, title))


def _literal(value: str) -> int | float | str:
    """A number where the text is one, else the text (for KEY=VALUE settings)."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def key_values(items: tuple[str, ...], param: str) -> dict[str, int | float | str]:
    """KEY=VALUE settings (numbers where the value is one)."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint=param)
        options[key] = _literal(value)
    return options


def load_catalog(dataset: str, subset: str) -> Catalog:
    from musiccaps_kit.data import catalog, song_describer

    try:
        sdd = song_describer.csv_of(dataset)
        if sdd is not None:
            return song_describer.catalog(subset, sdd)[0]
        return catalog.load(dataset).subset(subset)
    except (CatalogError, KeyError) as e:
        raise click.UsageError(str(e.args[0] if isinstance(e, KeyError) else e)) from None


def clean_errors(run: Callable[[], T]) -> T:
    """Run ``run()``; a bad input (file, folder, checkpoint, option combination) becomes a
    one-line message instead of a traceback."""
    try:
        return run()
    except (ValueError, OSError, ImportError, AudioError) as e:
        raise click.ClickException(str(e)) from None
