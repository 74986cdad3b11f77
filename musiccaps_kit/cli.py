"""The ``mck`` command line: a thin layer over the library functions."""

from __future__ import annotations

import os
from pathlib import Path

import click

from musiccaps_kit.atomic import write_text
from musiccaps_kit.catalog import SUBSETS, CatalogError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _print_table(rows: list[tuple[str, str]], title: str) -> None:
    width = max(len(k) for k, _ in rows)
    click.echo(title)
    for key, value in rows:
        click.echo(f"  {key.ljust(width)}  {value}")


def _literal(value: str) -> int | float | str:
    """A number where the text is one, else the text (for KEY=VALUE settings)."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _key_values(items: tuple[str, ...], param: str) -> dict[str, int | float | str]:
    """KEY=VALUE settings (numbers where the value is one)."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint=param)
        options[key] = _literal(value)
    return options


def _load_catalog(dataset: str, subset: str):
    from musiccaps_kit import catalog

    try:
        return catalog.load(dataset).subset(subset)
    except (CatalogError, KeyError) as e:
        raise click.UsageError(str(e.args[0] if isinstance(e, KeyError) else e)) from None


@click.group()
@click.version_option(package_name="musiccaps-kit")
def main() -> None:
    """musiccaps-kit: prepare MusicCaps, train a compact MusicLM cascade, and benchmark."""


@main.group()
def catalog() -> None:
    """Inspect MusicCaps metadata or a custom caption set in its format."""


DATASET_HELP = "musiccaps (bundled CSV), demo, hub (Hugging Face google/MusicCaps), or a CSV path"
SUBSET_HELP = f"one of {', '.join(SUBSETS)}, or label:NAME_OR_MID (an AudioSet class)"


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
    from musiccaps_kit.catalog_stats import counts, genre_counts, plot_genres

    cat = _load_catalog(dataset, subset)
    rows = [(k, f"{v:,}") for k, v in counts(cat).items()]
    rows += [(f"genre: {g}", f"{n:,}") for g, n in genre_counts(cat).most_common(10)]
    _print_table(rows, f"{cat.name} ({subset}) from {cat.source}")
    click.echo(f"genre distribution: {plot_genres(cat, plot)}")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--dataset", default="musiccaps", show_default=True, help=DATASET_HELP)
@click.option("--subset", default="all", show_default=True, help=SUBSET_HELP)
@click.option(
    "--source",
    type=click.Choice(["youtube", "local"]),
    default=None,
    help="where audio comes from [default: local for demo, else youtube]",
)
@click.option(
    "--audio-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="local source: folder of files named {ytid}.{ext}",
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
    "--rates", default="16000,24000", show_default=True, help="output sample rates, comma-separated"
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
    from musiccaps_kit.audio import SegmentRecipe
    from musiccaps_kit.preparation import PrepareConfig, read_failures, summary_rows
    from musiccaps_kit.resources import DEMO_AUDIO_DIR
    from musiccaps_kit.tokenizers import make_tokenizer
    from pipelines.prepare import run

    cat = _load_catalog(dataset, subset)
    if source is None:
        source = "local" if dataset == "demo" else "youtube"
    if source == "local":
        if audio_dir is None and dataset == "demo":
            audio_dir = DEMO_AUDIO_DIR
        if audio_dir is None and not all(c.path for c in cat):
            raise click.UsageError("--source local needs --audio-dir or a path column")
        options: dict = {"audio_dir": str(audio_dir) if audio_dir else None, "segment": segment}
    else:
        options = {"retries": retries, "sleep_s": sleep, "cookies": cookies}
        if url_template:
            options["url_template"] = url_template
    if only_failed:
        failed = read_failures(out)
        if not failed:
            raise click.UsageError(f"--only-failed: no failures recorded in {out}")
        click.echo(f"retrying {len(failed)} failed clips; the others come from the cache")
    try:
        rate_list = tuple(sorted({int(r) for r in rates.split(",") if r.strip()}))
    except ValueError:
        raise click.BadParameter(f"{rates!r} is not a comma-separated list of rates") from None
    config = PrepareConfig(
        name=name or cat.name,
        out_dir=str(out),
        cache_dir=str(cache_dir or out / "cache"),
        source=source,
        source_options=options,
        segment=SegmentRecipe(rates=rate_list, max_pad_s=max_pad),
        tokenizer=tokenizer,
        tokenizer_options=_key_values(tokenizer_options, "--tokenizer-option"),
        shards=shards,
        retry_failed=only_failed,
    )
    try:
        make_tokenizer(config.tokenizer, **config.tokenizer_options)
    except (ValueError, TypeError, FileNotFoundError) as e:
        raise click.ClickException(f"tokenizer: {e}") from None
    click.echo(f"preparing {len(cat)} clips of {cat.name} ({subset}) from {source} into {out}")
    info = run(cat, config, beam_args=ctx.args, progress=not quiet)
    _print_table(summary_rows(info), f"prepared {info['name']}:")
    click.echo(f"records and dataset_info.json in {out}")


@main.group(invoke_without_command=True)
@click.option(
    "--reference",
    type=click.Path(exists=True, file_okay=False),
    help="folder of reference clips named {id}.{ext}, or prepared records  [required]",
)
@click.option(
    "--system",
    "systems",
    multiple=True,
    metavar="NAME=PATH",
    help="a system's folder of generated clips (or records); repeat for more",
)
@click.option(
    "--metrics",
    default="fad_musicnn,kld_musicnn",
    show_default=True,
    help="comma-separated: fad_vggish, fad_trill, fad_musicnn, fad_leaf, kld_musicnn, "
    "kld_leaf, mcc_mulan, mcc_projection, mcc_clap",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="where leaderboard.json/.md, report.html and per_clip.csv go  [required]",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="embedding cache [default: OUT/embeddings]",
)
@click.option(
    "--kl-convention",
    type=click.Choice(["bernoulli", "softmax"]),
    default="bernoulli",
    show_default=True,
    help="KLD over per-class Bernoullis (multi-label taggers) or a softmax",
)
@click.option("--vggish", default=None, help="VGGish TF Hub handle or SavedModel folder")
@click.option(
    "--vggish-frontend",
    type=click.Choice(["google2019", "nonoverlapping"]),
    default="google2019",
    show_default=True,
)
@click.option("--trill", default=None, help="TRILL TF Hub handle or SavedModel folder")
@click.option(
    "--trill-output",
    type=click.Choice(["embedding", "layer19"]),
    default="embedding",
    show_default=True,
)
@click.option(
    "--leaf-checkpoint",
    type=click.Path(exists=True, dir_okay=False),
    help="LEAF AudioSet classifier (models.leaf checkpoint) for kld_leaf / fad_leaf",
)
@click.option(
    "--mcc-checkpoint",
    type=click.Path(exists=True, dir_okay=False),
    help="the joint model for mcc_*: `mck train mulan` model.pt, a LAION-CLAP .pt, or a "
    "`mck train projection` file",
)
@click.option("--clap-amodel", default="HTSAT-tiny", show_default=True, help="CLAP audio tower")
@click.option(
    "--captions",
    default="musiccaps",
    show_default=True,
    help="catalog whose captions MCC scores: musiccaps, demo, hub or a CSV path",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option(
    "--bootstrap",
    type=click.IntRange(min=10),
    default=200,
    show_default=True,
    help="bootstrap rounds for the intervals",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.pass_context
def bench(
    ctx: click.Context,
    reference: str | None,
    systems: tuple[str, ...],
    metrics: str,
    out: Path | None,
    cache_dir: Path | None,
    kl_convention: str,
    vggish: str | None,
    vggish_frontend: str,
    trill: str | None,
    trill_output: str,
    leaf_checkpoint: str | None,
    mcc_checkpoint: str | None,
    clap_amodel: str,
    captions: str,
    batch_size: int,
    bootstrap: int,
    seed: int,
) -> None:
    """Score systems against a reference (FAD, KLD, MCC with intervals) beside the paper's
    Table 1; `mck bench memorization` analyses a trained semantic stage."""
    from dataclasses import asdict

    if ctx.invoked_subcommand is not None:
        return
    for value, name in ((reference, "--reference"), (systems, "--system"), (out, "--out")):
        if not value:
            raise click.UsageError(f"missing option {name}")

    from musiccaps_kit import leaderboard
    from musiccaps_kit.audio import AudioError
    from musiccaps_kit.bench import BenchSettings, run_bench

    named = {}
    for item in systems:
        name, sep, path = item.partition("=")
        if not sep or not name or not Path(path).is_dir():
            raise click.BadParameter(f"{item!r}: expected NAME=FOLDER", param_hint="--system")
        named[name] = path
    options: dict = {"vggish": {"frontend": vggish_frontend}, "trill": {"output": trill_output}}
    if vggish:
        options["vggish"]["handle"] = vggish
    if trill:
        options["trill"]["handle"] = trill
    if leaf_checkpoint:
        options["leaf"] = {"checkpoint": leaf_checkpoint}
    if mcc_checkpoint:
        options["projection"] = {"checkpoint": mcc_checkpoint}
        options["mulan"] = {"checkpoint": mcc_checkpoint}
        options["clap"] = {"checkpoint": mcc_checkpoint, "amodel": clap_amodel}
    settings = BenchSettings(
        metrics=tuple(m.strip() for m in metrics.split(",") if m.strip()),
        embedder_options=options,
        kl_convention=kl_convention,
        bootstrap_rounds=bootstrap,
        seed=seed,
        batch_size=batch_size,
        captions=captions,
    )
    import warnings

    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *_: click.echo(f"warning: {message}", err=True)
        try:
            result = run_bench(reference, named, settings, cache_dir or out / "embeddings")
        except (ValueError, FileNotFoundError, ImportError, AudioError) as e:
            raise click.ClickException(str(e)) from None
    report = leaderboard.write(result, asdict(settings), out)
    for row in result["rows"]:
        p = row["pairing"]
        if p.missing or p.extra:
            click.echo(
                f"{row['system']}: {len(p.missing)} missing ids, {len(p.extra)} extra "
                "ids (listed in leaderboard.json)"
            )
    click.echo((out / "leaderboard.md").read_text())
    click.echo(f"report: {report}")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "--clips",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="folder of clips named {id}.{ext}, or prepared records",
)
@click.option("--embedder", default="musicnn", show_default=True, help="a registered embedder")
@click.option(
    "--option",
    "embedder_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="an embedder setting (handle=..., frontend=..., output=..., checkpoint=...)",
)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.pass_context
def stats(
    ctx: click.Context,
    clips: str,
    embedder: str,
    embedder_options: tuple[str, ...],
    out: Path,
    cache_dir: Path | None,
    batch_size: int,
) -> None:
    """Embed a clip set and write its mergeable Fréchet statistics, as a Beam pipeline.

    Unknown options (--runner, --project, ...) go to Apache Beam unchanged. Compare two
    outputs with `mck fad`.
    """
    from pipelines.embed_stats import run

    options = _key_values(embedder_options, "--option")
    try:
        result = run(
            clips, embedder, out, cache_dir or out / "embeddings", options, batch_size, ctx.args
        )
    except (ValueError, FileNotFoundError, ImportError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{result.count} frames of {result.dims} dims: {out}")


@main.command()
@click.argument("reference", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("system", type=click.Path(exists=True, file_okay=False, path_type=Path))
def fad(reference: Path, system: Path) -> None:
    """FAD between two `mck stats` outputs (made with the same embedder recipe)."""
    import json

    from musiccaps_kit.metrics.frechet import GaussianStats
    from musiccaps_kit.metrics.frechet import fad as frechet
    from pipelines.embed_stats import RECIPE_FILE, STATS_FILE

    recipes = [json.loads((d / RECIPE_FILE).read_text())["recipe"] for d in (reference, system)]
    if recipes[0] != recipes[1]:
        raise click.ClickException("the two statistics come from different embedder recipes")
    value = frechet(
        GaussianStats.load(reference / STATS_FILE), GaussianStats.load(system / STATS_FILE)
    )
    click.echo(f"FAD {value:.6f} ({recipes[0]['embedder']})")


@main.group()
def listen() -> None:
    """The listening study: serve the rating app, export and analyse ratings."""


@listen.command("serve")
@click.option("--study", "study_file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--db", default="sqlite:///ratings.db", show_default=True, help="SQLAlchemy URL")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--base-url", help="how raters reach the server [default: http://HOST:PORT]")
@click.option("--threads", type=click.IntRange(min=1), default=16, show_default=True)
def listen_serve(
    study_file: str, db: str, host: str, port: int, base_url: str | None, threads: int
) -> None:
    """Serve a study: prints the admin link and one link per rater."""
    from sqlalchemy.exc import SQLAlchemyError
    from waitress import serve

    from musiccaps_kit.listening.app import create_app, links
    from musiccaps_kit.listening.db import make_engine
    from musiccaps_kit.listening.study import StudyError, load_study

    try:
        study = load_study(study_file)
        engine = make_engine(db)
        app = create_app(study, engine)
    except (StudyError, ValueError, SQLAlchemyError) as e:
        raise click.ClickException(f"{e}") from None
    admin, raters = links(engine, app.config["STUDY_ROW"], base_url or f"http://{host}:{port}")
    click.echo(f"study {study.name}: {len(study.pairs)} pairs x {study.per_pair} comparisons")
    click.echo(f"admin (progress, export): {admin}")
    for link in raters:
        click.echo(f"rater: {link}")
    serve(app, host=host, port=port, threads=threads)


@listen.command("export")
@click.option("--db", required=True, help="SQLAlchemy URL of the ratings database")
@click.option("--study", "study_name", help="only this study")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def listen_export(db: str, study_name: str | None, out: Path) -> None:
    """Ratings as CSV, with the order shown and the raw answer."""
    from musiccaps_kit.listening.db import export_rows, make_engine
    from musiccaps_kit.listening.ratings import write_csv

    rows = export_rows(make_engine(db), study_name)
    click.echo(f"{len(rows)} ratings: {write_csv(rows, out)}")


@listen.command("analyze")
@click.option("--ratings", required=True, help="an exported CSV, or a database URL")
@click.option("--study", "study_name", help="only this study's ratings")
@click.option("--sources", help="comma-separated source names expected [default: those rated]")
@click.option("--alpha", type=float, default=0.01, show_default=True)
@click.option(
    "--zero-method",
    type=click.Choice(["wilcox", "pratt", "zsplit"]),
    default="wilcox",
    show_default=True,
    help="how the Wilcoxon test treats no-preference ratings",
)
@click.option("--bootstrap", type=click.IntRange(min=10), default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
def listen_analyze(
    ratings: str,
    study_name: str | None,
    sources: str | None,
    alpha: float,
    zero_method: str,
    bootstrap: int,
    seed: int,
    out: Path,
) -> None:
    """Wins, the pairwise matrix, win percentages, Wilcoxon + Bonferroni, sign tests and
    Bradley-Terry strengths (JSON, Markdown, Fig. 7 and Fig. 8 as PNG)."""
    from musiccaps_kit.listening import report
    from musiccaps_kit.listening.analysis import AnalysisSettings, analyze
    from musiccaps_kit.listening.ratings import load_ratings

    settings = AnalysisSettings(
        alpha=alpha, zero_method=zero_method, bootstrap_rounds=bootstrap, seed=seed
    )
    expected = [s.strip() for s in sources.split(",")] if sources else None
    try:
        result = analyze(load_ratings(ratings, study_name), expected, settings)
    except (ValueError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    files = report.write(result, out)
    click.echo(files["markdown"].read_text())
    click.echo(f"report: {files['json']}, {files['fig7']}, {files['fig8']}")


@main.group()
def train() -> None:
    """Train models: the cascade (codec, semantic tokenizer, MuLan, melody, stages), stand-ins
    from pretrained folders, and the small joint text-audio model for MCC."""


RECORDS_OPTION = click.option(
    "--records",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="prepared records (mck prepare); the train split is used",
)
RUN_OUT_OPTION = click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="folder for model.pt (and the training state)",
)
MODEL_DIR_OPTION = click.option(
    "--model-dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="a local Hugging Face model folder",
)


def _model_errors(run):
    """Run ``run()``; a bad input (preset, records, folder, checkpoint) is a clean message."""
    try:
        return run()
    except (ValueError, OSError, ImportError) as e:
        raise click.ClickException(str(e)) from None


def _cascade_command(kind: str, summary: str) -> None:
    @RECORDS_OPTION
    @click.option("--preset", default="tiny", show_default=True, help="tiny, small or paper")
    @RUN_OUT_OPTION
    @click.option("--steps", type=click.IntRange(min=1), help="override the preset's steps")
    def command(records: str, preset: str, out: Path, steps: int | None) -> None:
        from models.training import train as run_training

        result = _model_errors(lambda: run_training(kind, records, preset, out, steps))
        if result:
            click.echo(
                f"{kind}: {result['steps']} steps on {result['clips']} clips "
                f"({result['seconds']:.0f} s, {result['device']}, {result['world_size']} "
                f"process(es)); model {out / 'model.pt'}, curves {out / 'losses.png'}"
            )

    command.__doc__ = (
        f"{summary} Resumes from OUT/checkpoint.pt; under torchrun it trains with DDP."
    )
    train.command(kind)(command)


_cascade_command("codec", "Train the SoundStream-style codec (24 kHz, 50 Hz tokens).")
_cascade_command("semantic", "Train the HuBERT-style semantic tokenizer (25 Hz tokens).")
_cascade_command("mulan", "Train MuLan (audio ResNet + MiniLM text tower, 12-token RVQ).")
_cascade_command(
    "melody",
    "Train the melody embedding (ViT, semi-hard triplets on one melody in two timbres).",
)
_cascade_command(
    "stages",
    "Train the semantic, coarse and fine stages from records with cascade tokens "
    "(presets tiny, small, paper; *-ablation: coarse conditioned on MuLan only).",
)


@train.command("codec-pretrained")
@MODEL_DIR_OPTION
@click.option("--bandwidth", type=float, default=6.0, show_default=True, help="kbps")
@RUN_OUT_OPTION
def train_codec_pretrained(model_dir: str, bandwidth: float, out: Path) -> None:
    """Use a pretrained EnCodec folder as the codec (nothing is trained)."""
    from models.codec_pretrained import register

    info = _model_errors(lambda: register(model_dir, bandwidth, out))
    click.echo(
        f"EnCodec at {bandwidth:g} kbps: {info['levels']} levels at {info['frame_rate']:g} Hz: "
        f"{out / 'model.pt'}"
    )


@train.command("semantic-pretrained")
@MODEL_DIR_OPTION
@click.option("--layer", type=click.IntRange(min=0), required=True, help="hidden layer")
@RECORDS_OPTION
@click.option("--clusters", type=click.IntRange(min=2), default=1024, show_default=True)
@click.option("--clips", type=click.IntRange(min=1), default=200, show_default=True)
@RUN_OUT_OPTION
def train_semantic_pretrained(
    model_dir: str, layer: int, records: str, clusters: int, clips: int, out: Path
) -> None:
    """Semantic tokens from a pretrained HuBERT / MERT / wav2vec 2.0 folder: k-means on one
    layer's features."""
    from models.semantic_pretrained import fit

    result = _model_errors(lambda: fit(model_dir, layer, records, clusters, out, clips))
    click.echo(
        f"k-means ({clusters}) on {result['frames']} frames of layer {layer} at "
        f"{result['rate']} Hz: {out / 'model.pt'}"
    )


@train.command("mulan-pretrained")
@click.option("--joint", required=True, help="a joint model: clap, projection, ...")
@click.option("--checkpoint", required=True, type=click.Path(exists=True, dir_okay=False))
@RECORDS_OPTION
@click.option("--levels", type=click.IntRange(min=1), default=12, show_default=True)
@click.option("--codebook", type=click.IntRange(min=2), default=1024, show_default=True)
@RUN_OUT_OPTION
def train_mulan_pretrained(
    joint: str, checkpoint: str, records: str, levels: int, codebook: int, out: Path
) -> None:
    """Conditioning tokens from a pretrained joint model: an RVQ fitted on its embeddings."""
    from models.mulan_pretrained import fit

    info = _model_errors(
        lambda: fit(joint, {"checkpoint": checkpoint}, records, levels, codebook, out)
    )
    click.echo(
        f"RVQ {levels} x {codebook} on {info['clips']} {info['dims']}-d embeddings: "
        f"{out / 'model.pt'}"
    )


@train.command("projection")
@click.option(
    "--clips",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="folder of clips named {id}.{ext}, or prepared records",
)
@click.option("--captions", default="musiccaps", show_default=True, help="catalog of captions")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--embedder", default="musicnn", show_default=True, help="frozen audio tower")
@click.option("--dims", type=click.IntRange(min=2), default=32, show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=300, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path))
def train_projection(
    clips: str,
    captions: str,
    out: Path,
    embedder: str,
    dims: int,
    steps: int,
    seed: int,
    cache_dir: Path | None,
) -> None:
    """Fit a joint model (frozen audio embedder + all-MiniLM-L6-v2, trained projections)
    on caption-audio pairs; `mck bench --metrics mcc_projection --mcc-checkpoint OUT`."""
    from musiccaps_kit.bench_inputs import ClipSet
    from musiccaps_kit.joint.projection import fit_projection

    by_id = {clip.ytid: clip.caption for clip in _load_catalog(captions, "all")}
    clip_set = ClipSet(clips)
    if len(clip_set.ids() & by_id.keys()) < 2:
        raise click.ClickException(f"{clips}: fewer than two clips have a caption in {captions}")
    trained = fit_projection(
        clip_set,
        by_id,
        out,
        cache_dir or out.parent / "embeddings",
        audio_embedder=embedder,
        dims=dims,
        steps=steps,
        seed=seed,
    )
    t = trained.training
    click.echo(
        f"trained on {t['pairs']} pairs: InfoNCE {t['loss_first']:.3f} -> {t['loss_last']:.3f}"
    )
    click.echo(f"joint model: {out}")


@bench.command("memorization")
@click.option(
    "--stages", required=True, type=click.Path(exists=True, dir_okay=False), help="model.pt"
)
@click.option(
    "--records",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="the tokenized records the stages trained on (train split) with their eval split",
)
@click.option("--clips", type=click.IntRange(min=2), default=200, show_default=True)
@click.option("--continuation", type=click.IntRange(min=1), default=125, show_default=True)
@click.option("--prompt-seconds", default="0,1,2,3,4,5", show_default=True)
@click.option("--false-positive-rate", type=float, default=1e-4, show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
def bench_memorization(
    stages: str,
    records: str,
    clips: int,
    continuation: int,
    prompt_seconds: str,
    false_positive_rate: float,
    out: Path,
) -> None:
    """Exact and approximate (Sinkhorn) matches of the semantic stage's continuations on
    training clips and, as the control, held-out clips; Fig. 3 as a PNG."""
    from models.memorization import MemorizationSettings
    from models.memorization_report import run

    settings = MemorizationSettings(
        prompt_seconds=tuple(float(x) for x in prompt_seconds.split(",")),
        continuation=continuation,
        false_positive_rate=false_positive_rate,
    )
    try:
        report = run(stages, records, settings, out, clips)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    click.echo(report["markdown"])
    click.echo(f"report: {out / 'memorization.json'}, {out / 'fig3_memorization.png'}")


@main.command()
@click.option(
    "--stages", required=True, type=click.Path(exists=True, dir_okay=False), help="model.pt"
)
@click.option("--caption", help="one caption")
@click.option("--seconds", type=click.FloatRange(min=0.1), default=10.0, show_default=True)
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
@click.option("--temperatures", default="1.0,0.95,0.4", show_default=True)
@click.option("--top-k", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
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

    from models.generate import Cascade, Sampling

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
    clips = list(_load_catalog(captions, subset))[:limit] if captions else []
    tune = None
    if melody:
        from musiccaps_kit.audio import AudioError, decode, resample, to_mono

        try:
            wave, source_rate = decode(melody)
        except AudioError as e:
            raise click.BadParameter(str(e), param_hint="--melody") from None
        tune = resample(to_mono(wave), source_rate, 16000)
    try:
        cascade = Cascade(stages, mulan, codec)
        rate = cascade.codec.config.sample_rate
        if not captions:
            audio, _ = cascade.generate(parts, sampling, melody=tune)
            out.parent.mkdir(parents=True, exist_ok=True)
            _write_wav(out, audio, rate)
            click.echo(f"{len(audio) / rate:.1f} s of audio: {out}")
            return
        from tqdm import tqdm

        out.mkdir(parents=True, exist_ok=True)
        todo = [c for c in clips if overwrite or not (out / f"{c.ytid}.wav").exists()]
        if len(todo) < len(clips):
            click.echo(f"{len(clips) - len(todo)} clips already in {out} (--overwrite redoes them)")
        for clip in tqdm(todo, desc="generate", unit="clip"):
            audio, _ = cascade.generate([(clip.caption, seconds)], sampling, False, tune)
            _write_wav(out / f"{clip.ytid}.wav", audio, rate)
    except (ValueError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{len(clips)} clips in {out} (a system folder for mck bench)")


def _write_wav(path: Path, audio, rate: int) -> None:
    """Write a WAV file atomically: an interrupted run never leaves half a clip."""
    import soundfile as sf

    from musiccaps_kit.atomic import atomic_path

    with atomic_path(path) as tmp:
        sf.write(tmp, audio, rate, format="WAV")


@main.command("eval")
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
@click.option("--clips", type=click.IntRange(min=2), default=16, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="JSON report")
def evaluate(kind: str, model: str, records: str, clips: int, out: Path | None) -> None:
    """Evaluate a trained model on held-out clips: codec vs Opus (mel distance, SI-SDR per
    bitrate), semantic tokens (perplexity, stability), MuLan (recall@k, MCC)."""
    import json

    from models.evaluation import EVALUATIONS

    try:
        report = EVALUATIONS[kind](model, records, clips)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    text = json.dumps(report, indent=2)
    if out:
        write_text(out, text)
    click.echo(text)


@main.command()
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
@click.pass_context
def demo(ctx: click.Context, out: Path, cascade: bool) -> None:
    """The main jobs on the bundled demo set: catalog stats, prepare, a small joint model
    for MCC, the tiny cascade (train, tokenize, train stages, generate), and a bench of the
    generated clips and of degraded copies (noise, low-pass, clipping) against the clips."""
    from musiccaps_kit.degrade import degrade_folder
    from musiccaps_kit.resources import DEMO_AUDIO_DIR

    ctx.invoke(catalog_stats, dataset="demo", subset="all", plot=out / "genres.png")
    ctx.invoke(prepare, dataset="demo", out=out / "records")
    joint = out / "joint" / "projection.npz"
    click.echo("training the small joint model for MCC on the demo clips and captions")
    ctx.invoke(
        train_projection,
        clips=str(out / "records"),
        captions="demo",
        out=joint,
        cache_dir=out / "bench" / "embeddings",
    )
    systems = []
    if cascade:
        systems.append(f"cascade-tiny={_demo_cascade(ctx, out)}")
    for name, kind, strength in (
        ("noise-20dB", "noise", 20.0),
        ("lowpass-2kHz", "lowpass", 2000.0),
        ("clipped-10pct", "clip", 0.1),
    ):
        folder = degrade_folder(DEMO_AUDIO_DIR, out / "systems" / name, kind, strength)
        systems.append(f"{name}={folder}")
    ctx.invoke(
        bench,
        reference=str(out / "records"),
        systems=tuple(systems),
        metrics="fad_musicnn,kld_musicnn,mcc_projection",
        out=out / "bench",
        mcc_checkpoint=str(joint),
        captions="demo",
    )
    click.echo(
        "MCC here uses a joint model trained on these very clips: a check of the plumbing, "
        "not a score to compare. The tiny cascade trains for a few minutes on 12 clips: "
        "expect noise-like audio, not music."
    )


def _demo_cascade(ctx: click.Context, out: Path) -> Path:
    """Train the tiny presets on the demo records, tokenize them, train the stages and
    generate a clip for every demo caption; returns the folder of generated clips."""
    runs = out / "cascade"
    steps = {"codec": 100, "semantic": None, "mulan": None}
    for kind, count in steps.items():
        ctx.invoke(
            train.commands[kind],
            records=str(out / "records"),
            preset="tiny",
            out=runs / kind,
            steps=count,
        )
    options = tuple(f"{kind}={runs / kind / 'model.pt'}" for kind in steps)
    ctx.invoke(
        prepare,
        dataset="demo",
        out=out / "tokens",
        tokenizer="cascade",
        tokenizer_options=options,
        cache_dir=out / "records" / "cache",
    )
    ctx.invoke(
        train.commands["stages"],
        records=str(out / "tokens"),
        preset="tiny",
        out=runs / "stages",
        steps=200,
    )
    generated = out / "systems" / "cascade-tiny"
    ctx.invoke(
        generate,
        stages=str(runs / "stages" / "model.pt"),
        captions="demo",
        seconds=10.0,
        out=generated,
    )
    return generated


if __name__ == "__main__":
    main()
