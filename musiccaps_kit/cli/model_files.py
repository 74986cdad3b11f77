"""``mck models``: the released model files the bench's columns use by default: which they
are and where they are kept (``list``), fetching them here or into a folder to carry to a
machine without network (``fetch``), and re-hashing what is cached (``verify``)."""

from __future__ import annotations

from pathlib import Path

import click

from musiccaps_kit.cli.common import clean_errors

FOLDER_HELP = "the models folder  [default: $MCK_MODELS, else models/ in mck's cache folder]"


@click.group("models")
def models() -> None:
    """The released weights each bench column uses: list, fetch, verify."""


@models.command("list")
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path), help=FOLDER_HELP)
def list_models(folder: Path | None) -> None:
    """Every release: file name, the columns that use it, size, URL, where it is cached
    (or "not fetched") and its sha256 when cached."""
    from musiccaps_kit.bench import model_store

    for entry in model_store.listing(folder):
        r = entry.release
        size = f"{entry.size:,} bytes" if entry.size else "size not published"
        click.echo(f"{r.file}\n  columns: {', '.join(r.columns)}\n  size: {size}")
        click.echo(f"  url: {model_store.url_of(r)}")
        if entry.path is None:
            click.echo("  cached: not fetched")
        else:
            click.echo(f"  cached: {entry.path}\n  sha256: {model_store.sha256(entry.path)}")
    click.echo(f"models folder: {folder or model_store.models_dir()}")


@models.command("fetch")
@click.argument("names", nargs=-1, required=True)
@click.option(
    "--to",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="fetch into this folder (to carry to a machine without network, then "
    "MCK_MODELS=DIR there)  [default: $MCK_MODELS]",
)
def fetch(names: tuple[str, ...], folder: Path | None) -> None:
    """Fetch the released files of metric sets (musicgen, sao, fadtk, kad, paper), metrics
    (kld_passt, ...) or file names, each once, checked; what is here already is kept."""
    from musiccaps_kit.bench.metric_sets import fetch_named

    paths = clean_errors(lambda: fetch_named(" ".join(names), folder))
    for path in paths:
        click.echo(f"{path}  ({path.stat().st_size:,} bytes)")
    if not paths:
        click.echo("nothing to fetch: these columns use no released file")


@models.command("verify")
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path), help=FOLDER_HELP)
def verify(folder: Path | None) -> None:
    """Re-hash every cached release and name those whose size or format is not the
    release's (exit status 1 if any)."""
    from musiccaps_kit.bench import model_store

    results = clean_errors(lambda: model_store.verify(folder))
    for release, path, digest, problem in results:
        click.echo(f"{'BAD' if problem else 'ok '} {release.file}  sha256 {digest}  {path}")
        if problem:
            click.echo(f"    {problem}")
    if not results:
        click.echo("no release is cached")
    if any(problem for *_, problem in results):
        raise SystemExit(1)
