"""``mck bench`` (the paper's metrics on systems' outputs, and memorisation), ``mck stats``
(Fréchet statistics as a Beam pipeline) and ``mck fad`` (FAD between two of them)."""

from __future__ import annotations

import warnings
from pathlib import Path

import click
from click_option_group import GroupedOption, optgroup

from musiccaps_kit.bench.settings import BenchSettings
from musiccaps_kit.cli.common import clean_errors, key_values


class MetricsOption(GroupedOption):
    """``--metrics``, whose help lists every metric the registries know (looked up only
    when the help is shown)."""

    def get_help_record(self, ctx: click.Context):
        from musiccaps_kit.bench.columns import known_metrics

        self.help = (
            f"comma-separated, dashes or underscores: {', '.join(known_metrics())}; or the "
            "sets offline (no download), paper (MusicLM Table 1: FAD-TRILL, FAD-VGGish, KLD, "
            "MCC), musicgen (MusicGen Table 1: FAD-VGGish, KL-PaSST, CLAP score), fadtk "
            "(FAD on CLAP and EnCodec), kad (KAD on every embedder whose weights are here) and "
            "sao (stable-audio-metrics: FD-openl3, KL-PaSST, CLAP score), aes (Audiobox "
            "Aesthetics: aes_ce, aes_cu, aes_pc, aes_pq) and learned (mcc_muq and aes). Each "
            "column fetches "
            "the weights its protocol used (`mck models list`) unless a model option names "
            "other ones"
        )
        return super().get_help_record(ctx)


class EmbedderOption(click.Option):
    """``mck stats --embedder``, whose help lists the registered embedders."""

    def get_help_record(self, ctx: click.Context):
        from musiccaps_kit.bench.embedders import known_embedders

        self.help = f"the embedder: {', '.join(known_embedders())}"
        return super().get_help_record(ctx)


@click.group(invoke_without_command=True)
@optgroup.group("Inputs and outputs")
@optgroup.option(
    "--reference",
    type=click.Path(exists=True),
    help="folder of reference clips named {id}.{ext}, prepared records, or "
    "stable-audio-metrics' reference probabilities (.pkl, for kld_passt_sao)  [required]",
)
@optgroup.option(
    "--system",
    "systems",
    multiple=True,
    metavar="NAME=PATH",
    help="a system's folder of generated clips (or records); repeat for more",
)
@optgroup.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="where leaderboard.json/.md, report.html and per_clip.csv go  [required]",
)
@optgroup.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="embedding cache [default: OUT/embeddings]",
)
@optgroup.option(
    "--captions",
    default="auto",
    show_default=True,
    help="captions for MCC and the CLAP scores, by the system's ids: auto (the reference "
    "records' caption table, as the Song Describer Dataset's records have, else musiccaps), "
    "musiccaps, demo, hub, a catalog CSV or any CSV with ytid (or caption_id) and caption",
)
@optgroup.option(
    "--reference-stats",
    metavar="FILE.npz:MODEL|FILE.npz",
    help="reference statistics in place of the reference clips: fadtk-format (MODEL.mu, "
    "MODEL.cov; written by mck stats --format fadtk) for fad_MODEL, or stable-audio-metrics' "
    "openl3 statistics (mu_ref, sigma_ref) for fd_openl3",
)
@optgroup.option(
    "--exclude-reference",
    metavar="NAME|FILE",
    help="reference ids to leave out: a file of ids, or sao-musiccaps (the 87 MusicCaps clips "
    "stable-audio-metrics could not download)",
)
@optgroup.option(
    "--listening",
    type=click.Path(exists=True, dir_okay=False),
    help="a listening.json from `mck listen analyze` whose sources are the --system names: "
    "Kendall's tau of each metric's ranking against the listeners'",
)
@optgroup.group("Metrics")
@optgroup.option(
    "--metrics",
    default=",".join(BenchSettings.metrics),
    show_default=True,
    cls=MetricsOption,
)
@optgroup.group(
    "Models (default: each column's released weights, fetched by name: mck models list)"
)
@optgroup.option(
    "--model",
    "metric_models",
    multiple=True,
    metavar="METRIC=SPEC",
    help="one column's weights (a file, folder or hub id), over the family options below; "
    "repeat for more, e.g. --model clap_score_sao=/models/630k-audioset-fusion-best.pt",
)
@optgroup.option(
    "--clap-model",
    metavar="ID|DIR|FILE.pt",
    help="CLAP for every CLAP column (clap_score, fad_clap, kad_clap, clap_score_sao): a hub "
    "id, a save_pretrained folder or a LAION-CLAP .pt  [default: music_audioset_epoch_15_"
    "esc_90.14.pt; 630k-audioset-fusion-best.pt for clap_score_sao]",
)
@optgroup.option(
    "--clap-tokenizer",
    metavar="ID|DIR",
    help="the text tokenizer for a LAION-CLAP .pt (clap_score, clap_score_sao)  "
    "[default: roberta-base]",
)
@optgroup.option(
    "--passt-checkpoint",
    type=click.Path(dir_okay=False),
    help="PaSST-S file for kld_passt (AudioCraft; MusicGen used the 20 s release), and for "
    "kld_passt_sao if it is the 10 s one; also fad_passt/kad_passt's when "
    "--passt-embedding-checkpoint is not given",
)
@optgroup.option(
    "--passt-embedding-checkpoint",
    type=click.Path(dir_okay=False),
    help="PaSST-S file for fad_passt and kad_passt (kadtk's passt-base-10s or -20s), and "
    "kld_passt_sao if it is the 10 s one; also kld_passt's when --passt-checkpoint is not given",
)
@optgroup.option(
    "--openl3-weights",
    type=click.Path(dir_okay=False),
    help="openl3's openl3_audio_mel256_music.h5 (or its arrays as .npz) for fd_openl3, "
    "fad_openl3, kad_openl3",
)
@optgroup.option(
    "--encodec-model",
    metavar="ID|DIR",
    help="EnCodec for fad_encodec and kad_encodec  [default: facebook/encodec_24khz]",
)
@optgroup.option(
    "--vggish",
    default=None,
    help="VGGish TF Hub handle or SavedModel folder for fad_vggish, kad_vggish  "
    "[default: TF Hub google/vggish/1]",
)
@optgroup.option(
    "--trill",
    default=None,
    help="TRILL TF Hub handle or SavedModel folder for fad_trill, kad_trill  "
    "[default: TF Hub trill/3]",
)
@optgroup.option(
    "--leaf-checkpoint",
    type=click.Path(exists=True, dir_okay=False),
    help="LEAF AudioSet classifier (a leaf_network checkpoint) for kld_leaf / fad_leaf",
)
@optgroup.option(
    "--mcc-checkpoint",
    type=click.Path(exists=True, dir_okay=False),
    help="the joint model for mcc_*: `mck train mulan` model.pt, a LAION-CLAP .pt, or a "
    "`mck train projection` file",
)
@optgroup.option(
    "--mcc-model",
    help="the joint model --mcc-checkpoint belongs to (mulan, projection, clap), for the "
    "offline and paper metric sets [default for paper: mulan]",
)
@optgroup.option(
    "--muq-mulan-model",
    metavar="ID|DIR",
    help="MuQ-MuLan for mcc_muq: a hub id or a folder with config.json and pytorch_model.bin "
    "(its audio_model.name's config.json gives the audio tower)  [default: "
    "OpenMuQ/MuQ-MuLan-large]",
)
@optgroup.option(
    "--muq-tokenizer",
    metavar="ID|DIR",
    help="the text tokenizer and XLM-RoBERTa config for mcc_muq  [default: the release's "
    "text_model.name, xlm-roberta-base]",
)
@optgroup.option(
    "--aes-model",
    metavar="ID|DIR|FILE.pt",
    help="Audiobox Aesthetics for aes_ce, aes_cu, aes_pc, aes_pq: a hub id, a folder with "
    "config.json and model.safetensors, or its checkpoint.pt  [default: "
    "facebook/audiobox-aesthetics]",
)
@optgroup.option(
    "--clap-amodel",
    default="HTSAT-tiny",
    show_default=True,
    help="the audio tower of the LAION-CLAP --mcc-checkpoint (mcc_clap)",
)
@optgroup.group("Protocol details")
@optgroup.option(
    "--kl-convention",
    type=click.Choice(["bernoulli", "audiocraft", "softmax"]),
    default="bernoulli",
    show_default=True,
    help="kld_musicnn, kld_leaf: KLD over per-class Bernoullis (multi-label taggers), "
    "AudioCraft's per-window softmax formula, or a clip-level softmax",
)
@optgroup.option(
    "--loudness/--no-loudness",
    default=True,
    show_default=True,
    help="MusicGen's loudness step (AudioCraft: the system's clips to -14 LUFS) before "
    "kld_passt, clap_score and, under MusicGen's protocol, fad_vggish",
)
@optgroup.option(
    "--vggish-frontend",
    type=click.Choice(["google2019", "nonoverlapping"]),
    default="google2019",
    show_default=True,
    help="fad_vggish, kad_vggish: Google's 2019 FAD framing (1 s windows every 0.5 s, peak "
    "step) or the PyTorch ports' (0.96 s frames, no peak step; not comparable with papers)",
)
@optgroup.option(
    "--trill-output",
    type=click.Choice(["embedding", "layer19"]),
    default="embedding",
    show_default=True,
    help="fad_trill, kad_trill: TRILL's 512-d embedding or its 12,288-d layer19",
)
@optgroup.option(
    "--openl3-rate",
    type=click.IntRange(1, 48000),
    default=44100,
    show_default=True,
    help="fd_openl3, fad_openl3, kad_openl3: the rate files are resampled to before openl3 "
    "(stable-audio-metrics' examples: 44100)",
)
@optgroup.option(
    "--openl3-channels",
    type=click.Choice(["1", "2"]),
    default="2",
    show_default=True,
    help="fd_openl3, fad_openl3, kad_openl3: 2 embeds left and right apart (1,024-d), 1 the "
    "channels' mean (512-d)",
)
@optgroup.option(
    "--kl-collect",
    type=click.Choice(["mean", "max"]),
    default="mean",
    show_default=True,
    help="kld_passt_sao: the windows' logits collected by their mean (the tool's default) or max",
)
@optgroup.group("Statistics")
@optgroup.option(
    "--inf/--no-inf",
    default=True,
    show_default=True,
    help="FAD-inf and KAD-inf (fadtk/kadtk score_inf: 25 more scores per FAD or KAD metric)",
)
@optgroup.option(
    "--bootstrap",
    type=click.IntRange(min=10),
    default=200,
    show_default=True,
    help="bootstrap rounds for the intervals",
)
@optgroup.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="seed of the bootstrap, FAD-inf/KAD-inf draws and CLAP's random crops",
)
@optgroup.group("Compute")
@optgroup.option(
    "--device",
    default="auto",
    show_default=True,
    metavar="auto|cpu|cuda|cuda:N",
    help="where the torch models (CLAP, EnCodec, PaSST, OpenL3, LEAF, musicnn, MuLan) and "
    "KAD run; auto: a GPU when torch sees one",
)
@optgroup.option(
    "--precision",
    type=click.Choice(["float32", "tf32"]),
    default="float32",
    show_default=True,
    help="float32 (frames equal the CPU's to 1e-5) or tf32 on CUDA (faster; in the recipe)",
)
@optgroup.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="clips per batch on a GPU (the CPU embeds one clip per pass)",
)
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
    clap_model: str | None,
    clap_tokenizer: str | None,
    passt_checkpoint: str | None,
    passt_embedding_checkpoint: str | None,
    encodec_model: str | None,
    mcc_model: str | None,
    reference_stats: str | None,
    captions: str,
    listening: str | None,
    loudness: bool,
    inf: bool,
    openl3_weights: str | None,
    metric_models: tuple[str, ...],
    muq_mulan_model: str | None,
    muq_tokenizer: str | None,
    aes_model: str | None,
    openl3_rate: int,
    openl3_channels: str,
    kl_collect: str,
    exclude_reference: str | None,
    device: str,
    precision: str,
    batch_size: int,
    bootstrap: int,
    seed: int,
) -> None:
    """Score generated audio against a reference: the papers' columns (FAD, KAD, KL, CLAP
    score, MCC, aesthetics) with intervals, beside MusicLM's and MusicGen's Table 1;
    `mck bench memorization` analyses a trained semantic stage."""
    from musiccaps_kit.bench.column_weights import parse_models
    from musiccaps_kit.bench.run import bench_to_folder
    from musiccaps_kit.bench.settings import (
        BenchSettings,
        joint_model_options,
        model_options,
        parse_systems,
    )

    if ctx.invoked_subcommand is not None:
        return
    for value, name in ((reference, "--reference"), (systems, "--system"), (out, "--out")):
        if not value:
            raise click.UsageError(f"missing option {name}")
    try:
        named = parse_systems(systems)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--system") from None
    chosen = clean_errors(lambda: parse_models(metric_models))
    options = model_options(
        vggish,
        vggish_frontend,
        trill,
        trill_output,
        leaf_checkpoint,
        clap_model,
        clap_tokenizer,
        encodec_model,
        passt_checkpoint,
        passt_embedding_checkpoint,
        openl3_weights,
        openl3_rate,
        int(openl3_channels),
        muq_mulan_model,
        muq_tokenizer,
        aes_model,
    )
    settings = BenchSettings(
        joint_options=joint_model_options(mcc_checkpoint, clap_amodel),
        metrics=tuple(m.strip() for m in metrics.split(",") if m.strip()),
        mcc_model=mcc_model,
        reference_stats=reference_stats,
        embedder_options=options,
        kl_convention=kl_convention,
        bootstrap_rounds=bootstrap,
        seed=seed,
        batch_size=batch_size,
        captions=captions,
        listening=listening,
        inf=inf,
        loudness=loudness,
        kl_collect=kl_collect,
        exclude_reference=exclude_reference,
        device=device,
        precision=precision,
        metric_models=chosen,
    )
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *_: click.echo(f"warning: {message}", err=True)
        result, report = clean_errors(
            lambda: bench_to_folder(reference, named, settings, out, cache_dir)
        )
    if result is None:
        return  # a rank other than 0 under torchrun: rank 0 writes and prints the report
    for note in result["notes"]:
        click.echo(f"note: {note}")
    for row in result["rows"]:
        p = row["pairing"]
        if p.missing or p.extra:
            click.echo(
                f"{row['system']}: {len(p.missing)} missing ids, {len(p.extra)} extra "
                "ids (listed in leaderboard.json)"
            )
        for metric, why in row["skipped"].items():
            click.echo(f"{row['system']}: {metric} skipped: {why}")
        if row["ignored_files"]:
            first = ", ".join(row["ignored_files"][:3])
            click.echo(
                f"{row['system']}: {len(row['ignored_files'])} files are not clips named by an "
                f"id and were left out ({first}...; listed in leaderboard.json)"
            )
    click.echo((out / "leaderboard.md").read_text())
    click.echo(f"report: {report}")
    click.echo(result["timing_summary"])


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
@click.option(
    "--clips", type=click.IntRange(min=2), default=200, show_default=True,
    help="training clips (and as many held-out ones) prompted",
)  # fmt: skip
@click.option(
    "--continuation", type=click.IntRange(min=1), default=125, show_default=True,
    help="semantic tokens decoded after the prompt (125: 5 s, the paper's)",
)  # fmt: skip
@click.option(
    "--prompt-seconds", default="0,1,2,3,4,5", show_default=True,
    help="prompt lengths in seconds of semantic tokens (Fig. 3's x axis)",
)  # fmt: skip
@click.option(
    "--false-positive-rate", type=float, default=1e-4, show_default=True,
    help="share of shuffled (negative) pairs allowed under the approximate-match threshold",
)  # fmt: skip
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="folder for memorization.json and fig3_memorization.png",
)  # fmt: skip
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
    from musiccaps_kit.models.memorization import MemorizationSettings
    from musiccaps_kit.models.memorization_report import run

    settings = MemorizationSettings(
        prompt_seconds=tuple(float(x) for x in prompt_seconds.split(",")),
        continuation=continuation,
        false_positive_rate=false_positive_rate,
    )
    report = clean_errors(lambda: run(stages, records, settings, out, clips))
    click.echo(report["markdown"])
    click.echo(f"report: {out / 'memorization.json'}, {out / 'fig3_memorization.png'}")


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "--clips",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="folder of clips named {id}.{ext}, or prepared records",
)
@click.option("--embedder", default="musicnn", show_default=True, cls=EmbedderOption)
@click.option(
    "--option",
    "embedder_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="an embedder setting (handle=..., frontend=..., output=..., checkpoint=...)",
)
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="folder for the statistics (stats.npz, stats.json)",
)  # fmt: skip
@click.option(
    "--cache-dir", type=click.Path(file_okay=False, path_type=Path),
    help="embedding cache, shared with mck bench  [default: OUT/embeddings]",
)  # fmt: skip
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
    help="clips per batch",
)  # fmt: skip
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ours", "fadtk"]),
    default="ours",
    show_default=True,
    help="fadtk: also write OUT/fadtk.npz (EMBEDDER.mu, .cov, .n, .recipe)",
)
@click.pass_context
def stats(
    ctx: click.Context,
    clips: str,
    embedder: str,
    embedder_options: tuple[str, ...],
    out: Path,
    cache_dir: Path | None,
    batch_size: int,
    fmt: str,
) -> None:
    """Embed a clip set and write its mergeable Fréchet statistics, as a Beam pipeline.

    Unknown options (--runner, --project, ...) go to Apache Beam unchanged. Compare two
    outputs with `mck fad`.
    """
    from musiccaps_kit.pipelines.embed_stats import run

    options = key_values(embedder_options, "--option")
    cache = cache_dir or out / "embeddings"
    fadtk_file = fmt == "fadtk"
    result = clean_errors(
        lambda: run(clips, embedder, out, cache, options, batch_size, ctx.args, fadtk_file)
    )
    click.echo(f"{result.count} frames of {result.dims} dims: {out}")
    if fadtk_file:
        click.echo(f"fadtk format: {out / 'fadtk.npz'} ({embedder}.mu, {embedder}.cov)")


@click.command()
@click.argument("reference", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("system", type=click.Path(exists=True, file_okay=False, path_type=Path))
def fad(reference: Path, system: Path) -> None:
    """FAD between two `mck stats` output folders (their stats.npz, made with the same
    embedder recipe); for folders of audio, as fadtk takes them, use `mck bench`."""
    from musiccaps_kit.bench.stats_files import fad_between

    value, recipe = clean_errors(lambda: fad_between(reference, system))
    click.echo(f"FAD {value:.6f} ({recipe['embedder']})")
