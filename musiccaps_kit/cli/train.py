"""``mck train``: the cascade's models from prepared records (presets tiny / small /
paper, resumable, DDP under torchrun), pretrained stand-ins, and the small joint model
for MCC."""

from __future__ import annotations

from pathlib import Path

import click

from musiccaps_kit.cli.common import clean_errors, key_values


@click.group()
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


def _cascade_command(kind: str, summary: str) -> None:
    @RECORDS_OPTION
    @click.option("--preset", default="tiny", show_default=True, help="tiny, small or paper")
    @RUN_OUT_OPTION
    @click.option("--steps", type=click.IntRange(min=1), help="override the preset's steps")
    @click.option(
        "--distributed",
        type=click.Choice(["ddp", "fsdp"]),
        help="under torchrun: replicate (DDP) or shard (FSDP2) the models  [default: the "
        "preset's; fsdp for the paper presets, else ddp]",
    )
    @click.option(
        "--compile/--no-compile",
        default=None,
        help="torch.compile the training step  [default: on CUDA]",
    )
    @click.option(
        "--set",
        "settings",
        multiple=True,
        metavar="KEY=VALUE",
        help="a training setting in place of the preset's (batch_size=16, disc_start=0, "
        "compile_mode=reduce-overhead, ...)",
    )
    @click.option(
        "--stop-after",
        type=click.IntRange(min=1),
        help="leave after this many steps of this run, with a checkpoint (resume by rerunning)",
    )
    def command(
        records: str,
        preset: str,
        out: Path,
        steps: int | None,
        distributed: str | None,
        compile: bool | None,
        settings: tuple[str, ...],
        stop_after: int | None,
    ) -> None:
        from musiccaps_kit.models.training.loop import train as run_training

        overrides = key_values(settings, "--set")
        result = clean_errors(
            lambda: run_training(
                kind, records, preset, out, steps, True, distributed, compile, stop_after, overrides
            )
        )
        if result and "stopped_at" in result:
            click.echo(f"{kind}: stopped after step {result['stopped_at']}; rerun to resume")
        elif result:
            click.echo(
                f"{kind}: {result['steps']} steps on {result['clips']} clips "
                f"({result['seconds']:.0f} s, {result['device']}, {result['world_size']} "
                f"process(es)); model {out / 'model.pt'}, curves {out / 'losses.png'}"
            )

    command.__doc__ = (
        f"{summary} Resumes from OUT/checkpoint.pt (on any number of processes); under "
        "torchrun it trains with DDP or FSDP."
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
    from musiccaps_kit.models.training.pretrained import register_codec

    info = clean_errors(lambda: register_codec(model_dir, bandwidth, out))
    click.echo(
        f"EnCodec at {bandwidth:g} kbps: {info['levels']} levels at {info['frame_rate']:g} Hz: "
        f"{out / 'model.pt'}"
    )


@train.command("semantic-pretrained")
@MODEL_DIR_OPTION
@click.option("--layer", type=click.IntRange(min=0), required=True, help="hidden layer")
@RECORDS_OPTION
@click.option(
    "--clusters", type=click.IntRange(min=2), default=1024, show_default=True,
    help="k-means vocabulary of the semantic tokens",
)  # fmt: skip
@click.option(
    "--clips", type=click.IntRange(min=1), default=200, show_default=True,
    help="training clips the k-means is fitted on",
)  # fmt: skip
@RUN_OUT_OPTION
def train_semantic_pretrained(
    model_dir: str, layer: int, records: str, clusters: int, clips: int, out: Path
) -> None:
    """Semantic tokens from a pretrained HuBERT / MERT / wav2vec 2.0 folder: k-means on one
    layer's features."""
    from musiccaps_kit.models.training.pretrained import fit_semantic

    result = clean_errors(lambda: fit_semantic(model_dir, layer, records, clusters, out, clips))
    click.echo(
        f"k-means ({clusters}) on {result['frames']} frames of layer {layer} at "
        f"{result['rate']} Hz: {out / 'model.pt'}"
    )


@train.command("mulan-pretrained")
@click.option("--joint", required=True, help="a joint model: clap, projection, ...")
@click.option(
    "--checkpoint", required=True, type=click.Path(exists=True, dir_okay=False),
    help="the --joint model's weights: a LAION-CLAP .pt, a `mck train projection` file or a "
    "`mck train mulan` model.pt",
)  # fmt: skip
@RECORDS_OPTION
@click.option(
    "--levels", type=click.IntRange(min=1), default=12, show_default=True,
    help="RVQ levels of the conditioning tokens (MusicLM: 12)",
)  # fmt: skip
@click.option(
    "--codebook", type=click.IntRange(min=2), default=1024, show_default=True,
    help="codes per RVQ level (MusicLM: 1024)",
)  # fmt: skip
@RUN_OUT_OPTION
def train_mulan_pretrained(
    joint: str, checkpoint: str, records: str, levels: int, codebook: int, out: Path
) -> None:
    """Conditioning tokens from a pretrained joint model: an RVQ fitted on its embeddings."""
    from musiccaps_kit.models.training.pretrained import fit_mulan

    info = clean_errors(
        lambda: fit_mulan(joint, {"checkpoint": checkpoint}, records, levels, codebook, out)
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
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="the projection file to write (.npz), for mcc_projection",
)  # fmt: skip
@click.option("--embedder", default="musicnn", show_default=True, help="frozen audio tower")
@click.option(
    "--dims", type=click.IntRange(min=2), default=32, show_default=True,
    help="dimensions of the joint space",
)  # fmt: skip
@click.option(
    "--steps", type=click.IntRange(min=1), default=300, show_default=True,
    help="training steps of the projections",
)  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="the training seed")
@click.option(
    "--cache-dir", type=click.Path(file_okay=False, path_type=Path),
    help="the frozen towers' embedding cache  [default: beside --out]",
)  # fmt: skip
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
    from musiccaps_kit.bench.joint.projection import fit_projection_on_catalog

    trained = clean_errors(
        lambda: fit_projection_on_catalog(
            clips,
            captions,
            out,
            cache_dir,
            audio_embedder=embedder,
            dims=dims,
            steps=steps,
            seed=seed,
        )
    )
    t = trained.training
    click.echo(
        f"trained on {t['pairs']} pairs: InfoNCE {t['loss_first']:.3f} -> {t['loss_last']:.3f}"
    )
    click.echo(f"joint model: {out}")
