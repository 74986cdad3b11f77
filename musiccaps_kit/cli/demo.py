"""``mck demo``: the jobs on the bundled demo set (``musiccaps_kit.demo.run_demo``)."""

from __future__ import annotations

import warnings
from pathlib import Path

import click

from musiccaps_kit.cli.common import clean_errors


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out/demo"),
    show_default=True,
    help="where the demo writes its records and plots",
)
@click.option(
    "--cascade/--no-cascade",
    default=True,
    show_default=True,
    help="train the tiny cascade and bench its generated clips (a few minutes)",
)
def demo(out: Path, cascade: bool) -> None:
    """The main jobs on the bundled demo set: catalog stats, prepare, a small joint model
    for MCC, the tiny cascade (train, tokenize, train stages, generate), and a bench of the
    generated clips and of degraded copies (noise, low-pass, clipping) against the clips."""
    from musiccaps_kit.demo import run_demo

    with warnings.catch_warnings():
        # one line each, as mck bench prints them (not Python's two-line source echo)
        warnings.showwarning = lambda message, *_: click.echo(f"warning: {message}", err=True)
        clean_errors(lambda: run_demo(out, cascade, click.echo))
