"""``mck generate`` (text to music through the cascade) and ``mck eval`` (held-out figures
of the cascade's representation models)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from musiccaps_kit.atomic import write_text
from musiccaps_kit.cli.common import SUBSET_HELP, clean_errors, load_catalog


@click.command()
@click.option(
    "--stages", required=True, type=click.Path(exists=True, dir_okay=False), help="model.pt"
)
@click.option("--caption", help="one caption")
@click.option(
    "--seconds", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
    help="length of the generated clip (longer: 15 s stride with a 15 s prefix)",
)  # fmt: skip
@click.option(
    "--story",
    multiple=True,
    metavar="CAPTION=SECONDS",
    help="story mode: captions in turn, each for its seconds (repeat)",
)
@click.option("--captions", help="a catalog (musiccaps, demo or CSV): one file per id")
@click.option("--subset", default="all", show_default=True, help=SUBSET_HELP)
@click.option("--limit", type=click.IntRange(min=1), help="at most this many ids")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="FILE.wav or DIR")
@click.option("--mulan", type=click.Path(exists=True, dir_okay=False), help="override")
@click.option("--codec", type=click.Path(exists=True, dir_okay=False), help="override")
@click.option(
    "--temperatures", default="1.0,0.95,0.4", show_default=True,
    help="sampling temperatures of the semantic, coarse and fine stages (MusicLM's)",
)  # fmt: skip
@click.option(
    "--top-k", type=click.IntRange(min=0), default=0, show_default=True,
    help="sample from the k most likely tokens (0: all)",
)  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="the sampling seed")
@click.option("--no-cache", is_flag=True, help="disable the KV cache (slower, same tokens)")
@click.option("--overwrite", is_flag=True, help="--captions: redo clips already written")
@click.option(
    "--melody",
    type=click.Path(exists=True, dir_okay=False),
    help="an audio file whose melody to follow (stages trained with melody tokens)",
)
def generate(
    stages: str,
    caption: str | None,
    seconds: float,
    story: tuple[str, ...],
    captions: str | None,
    subset: str,
    limit: int | None,
    out: Path,
    mulan: str | None,
    codec: str | None,
    temperatures: str,
    top_k: int,
    seed: int,
    no_cache: bool,
    overwrite: bool,
    melody: str | None,
) -> None:
    """Text to music through the cascade: one caption, a story, or every caption of a
    catalog (a folder `mck bench` takes as a system)."""

    from musiccaps_kit.models.generate import Sampling, generate_files

    if sum(bool(x) for x in (caption, story, captions)) != 1:
        raise click.UsageError("give exactly one of --caption, --story or --captions")
    try:
        t = [float(x) for x in temperatures.split(",")]
        if len(t) != 3:
            raise ValueError
    except ValueError:
        raise click.BadParameter("three numbers: semantic,coarse,fine", "--temperatures") from None
    sampling = Sampling(*t, top_k=top_k, seed=seed, use_cache=not no_cache)
    parts = [(caption, seconds)] if caption else []
    for item in story:
        text, sep, length = item.rpartition("=")
        try:
            parts.append((text, float(length)))
        except ValueError:
            raise click.BadParameter(f"{item!r}: expected CAPTION=SECONDS", "--story") from None
        if not sep or not text:
            raise click.BadParameter(f"{item!r}: expected CAPTION=SECONDS", "--story")
    clips = list(load_catalog(captions, subset))[:limit] if captions else None
    result = clean_errors(
        lambda: generate_files(
            stages,
            out,
            story=None if captions else parts,
            clips=clips,
            seconds=seconds,
            sampling=sampling,
            mulan=mulan,
            codec=codec,
            melody=melody,
            overwrite=overwrite,
        )
    )
    if not captions:
        click.echo(f"{result['seconds']:.1f} s of audio: {out}")
        return
    if result["kept"]:
        click.echo(f"{result['kept']} clips already in {out} (--overwrite redoes them)")
    click.echo(f"{result['files']} clips in {out} (a system folder for mck bench)")


@click.command("eval")
@click.argument("kind", type=click.Choice(["codec", "semantic", "mulan"]))
@click.option(
    "--model", required=True, type=click.Path(exists=True, dir_okay=False), help="model.pt"
)
@click.option(
    "--records",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="prepared records; their eval split is held out from training",
)
@click.option(
    "--clips", type=click.IntRange(min=2), default=16, show_default=True,
    help="held-out clips evaluated",
)  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="JSON report")
def evaluate(kind: str, model: str, records: str, clips: int, out: Path | None) -> None:
    """Evaluate a trained model on held-out clips: codec vs Opus (mel distance, SI-SDR per
    bitrate), semantic tokens (perplexity, stability), MuLan (recall@k, MCC)."""
    from musiccaps_kit.models.evaluation import EVALUATIONS

    report = clean_errors(lambda: EVALUATIONS[kind](model, records, clips))
    text = json.dumps(report, indent=2)
    if out:
        write_text(out, text)
    click.echo(text)
