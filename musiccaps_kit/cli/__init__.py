"""The ``mck`` command line: one module per command group, each a thin layer over one
library function (``musiccaps_kit.cli.common`` holds what they share)."""

from __future__ import annotations

import os

import click

from musiccaps_kit.cli.baseline import baseline
from musiccaps_kit.cli.bench import bench, fad, stats
from musiccaps_kit.cli.catalog import catalog
from musiccaps_kit.cli.demo import demo
from musiccaps_kit.cli.generate import evaluate, generate
from musiccaps_kit.cli.listen import listen
from musiccaps_kit.cli.model_files import models
from musiccaps_kit.cli.prepare import prepare
from musiccaps_kit.cli.train import train

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@click.group()
@click.version_option(package_name="musiccaps-kit")
def main() -> None:
    """musiccaps-kit: prepare MusicCaps, train a compact MusicLM cascade, and benchmark."""


COMMANDS = (
    catalog,
    prepare,
    bench,
    models,
    baseline,
    stats,
    fad,
    listen,
    train,
    generate,
    evaluate,
    demo,
)
for command in COMMANDS:
    main.add_command(command)
