"""``mck prepare``: catalog rows -> fetch -> decode, cut, resample -> tokenize -> sharded
TFRecords, through the Beam pipeline in ``musiccaps_kit.pipelines.prepare``."""

from __future__ import annotations

from pathlib import Path

import click

from musiccaps_kit.audio import DEFAULT_RATES
from musiccaps_kit.cli.common import (
    DATASET_HELP,
    SUBSET_HELP,
    key_values,
    load_catalog,
    print_table,
)


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--dataset", default="musiccaps", show_default=True, help=DATASET_HELP)
@click.option("--subset", default="all", show_default=True, help=SUBSET_HELP)
@click.option(
    "--source",
    type=click.Choice(["youtube", "local", "song-describer"]),
    default=None,
    help="where audio comes from [default: local for demo, song-describer for it, else youtube]",
)
@click.option(
    "--audio-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="local source: folder of files named {ytid}.{ext}",
)
@click.option(
    "--archive",
    metavar="FILE|URL",
    help="song-describer: the audio release zip (downloaded once, resumable, when a URL)",
)
@click.option(
    "--segment",
    type=click.Choice(["auto", "precut", "full"]),
    default="auto",
    show_default=True,
    help="local source: files are the clip (precut), whole recordings (full), or auto",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="output folder for shards, dataset_info.json and failures.csv",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="per-clip cache [default: OUT/cache]",
)
@click.option("--name", help="record set name in shard file names [default: the dataset's]")
@click.option(
    "--shards", type=click.IntRange(min=1), help="shards per split [default: one per 100 clips]"
)
@click.option(
    "--rates",
    default=",".join(map(str, DEFAULT_RATES)),
    show_default=True,
    help="output sample rates, comma-separated",
)
@click.option(
    "--max-pad",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="seconds of silence a short clip may be padded with before it fails",
)
@click.option(
    "--tokenizer",
    default="identity",
    show_default=True,
    help="tokenize step: identity (no tokens) or cascade (needs --tokenizer-option)",
)
@click.option(
    "--tokenizer-option",
    "tokenizer_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="cascade: codec=, semantic=, mulan=, melody= model.pt paths (mck train ...)",
)
@click.option(
    "--url-template",
    default=None,
    help="youtube source: URL with {ytid} [default: the YouTube watch URL]",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="youtube source: retries of transient failures, with exponential backoff",
)
@click.option(
    "--sleep",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="youtube source: seconds to wait before each request",
)
@click.option(
    "--cookies",
    type=click.Path(exists=True, dir_okay=False),
    help="youtube source: cookies.txt file for yt-dlp",
)
@click.option(
    "--only-failed",
    is_flag=True,
    help="retry the clips listed in OUT/failures.csv; others come from the cache",
)
@click.option("--quiet", is_flag=True, help="no progress bar")
@click.pass_context
def prepare(
    ctx: click.Context,
    dataset: str,
    subset: str,
    source: str | None,
    audio_dir: Path | None,
    archive: str | None,
    segment: str,
    out: Path,
    cache_dir: Path | None,
    name: str | None,
    shards: int | None,
    rates: str,
    max_pad: float,
    tokenizer: str,
    tokenizer_options: tuple[str, ...],
    url_template: str | None,
    retries: int,
    sleep: float,
    cookies: str | None,
    only_failed: bool,
    quiet: bool,
) -> None:
    """Fetch, cut, resample and tokenize clips into sharded TFRecords.

    Unknown options (--runner, --project, --setup_file, ...) go to Apache Beam unchanged.
    """
    from musiccaps_kit.data import song_describer
    from musiccaps_kit.data.folder_lock import FolderBusyError
    from musiccaps_kit.data.preparation import build_config, read_failures, summary_rows
    from musiccaps_kit.pipelines.prepare import run

    cat = load_catalog(dataset, subset)
    try:
        rate_list = tuple(int(r) for r in rates.split(",") if r.strip())
    except ValueError:
        raise click.BadParameter(f"{rates!r} is not a comma-separated list of rates") from None
    try:
        config = build_config(
            cat,
            song_describer.DATASET if song_describer.csv_of(dataset) else dataset,
            out,
            source=source,
            audio_dir=audio_dir,
            segment=segment,
            cache_dir=cache_dir,
            name=name,
            shards=shards,
            rates=rate_list,
            max_pad_s=max_pad,
            tokenizer=tokenizer,
            tokenizer_options=key_values(tokenizer_options, "--tokenizer-option"),
            url_template=url_template,
            retries=retries,
            sleep_s=sleep,
            cookies=cookies,
            only_failed=only_failed,
            archive=archive,
        )
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    if only_failed:
        click.echo(
            f"retrying {len(read_failures(out))} failed clips; the others come from the cache"
        )
    click.echo(
        f"preparing {len(cat)} clips of {cat.name} ({subset}) from {config.source} into {out}"
    )
    sdd = song_describer.csv_of(dataset)
    captions = song_describer.catalog(subset, sdd)[1] if sdd else None
    try:
        info = run(cat, config, beam_args=ctx.args, progress=not quiet, captions=captions)
    except FolderBusyError as e:
        raise click.ClickException(str(e)) from None
    print_table(summary_rows(info), f"prepared {info['name']}:")
    click.echo(f"records and dataset_info.json in {out}")
