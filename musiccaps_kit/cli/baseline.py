"""``mck baseline``: the paper's comparison systems as system folders, generated from
captions (Riffusion through diffusers, Mubert through its API) or from Riffusion images."""

from __future__ import annotations

from pathlib import Path

import click

from musiccaps_kit.cli.common import SUBSET_HELP, clean_errors, load_catalog

CAPTIONS_OPTION = click.option(
    "--captions", required=True, help="catalog whose captions prompt: musiccaps, demo, hub, CSV"
)
SUBSET_OPTION = click.option("--subset", default="all", show_default=True, help=SUBSET_HELP)
IDS_OPTION = click.option("--ids", help="comma-separated ids (within the subset)")
OUT_OPTION = click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="the system folder (one file per id, system.json, failures.csv)",
)


def _clips(captions: str, subset: str, ids: str | None):
    clips = list(load_catalog(captions, subset))
    if ids:
        wanted = [i.strip() for i in ids.split(",") if i.strip()]
        known = {c.ytid for c in clips}
        missing = [i for i in wanted if i not in known]
        if missing:
            raise click.BadParameter(f"not in {captions} ({subset}): {missing}", "--ids")
        clips = [c for c in clips if c.ytid in set(wanted)]
    if not clips:
        raise click.UsageError("no clips selected")
    return clips


def _summary(system: dict, out: Path) -> None:
    c = system["clips"]
    click.echo(f"{c['written']} of {c['requested']} clips in {out}; {c['failed']} failed")
    for category, n in c["failed_by_category"].items():
        click.echo(f"  {category}: {n} (see {out / 'failures.csv'})")


@click.group()
def baseline() -> None:
    """Make the leaderboard's comparison systems (Riffusion, Mubert) from captions."""


@baseline.command("riffusion")
@CAPTIONS_OPTION
@SUBSET_OPTION
@IDS_OPTION
@OUT_OPTION
@click.option(
    "--model",
    default="riffusion/riffusion-model-v1",
    show_default=True,
    help="a Hugging Face hub handle or a local diffusers folder",
)
@click.option(
    "--steps", type=click.IntRange(min=1), default=30, show_default=True,
    help="diffusion steps (Riffusion's text-to-audio page: 30)",
)  # fmt: skip
@click.option(
    "--guidance", type=float, default=7.0, show_default=True, help="classifier-free guidance scale"
)
@click.option(
    "--scheduler", default="DPMSolverMultistepScheduler", show_default=True,
    help="a diffusers scheduler class name",
)  # fmt: skip
@click.option(
    "--seed", type=int, default=42, show_default=True, help="the latents' seed (per caption)"
)
@click.option(
    "--seconds", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
    help="length of each clip (Riffusion's 512 px image is 5.12 s: see --long-clips)",
)  # fmt: skip
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1, mps")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=1, show_default=True,
    help="captions per diffusion batch",
)  # fmt: skip
@click.option(
    "--long-clips",
    type=click.Choice(["crossfade", "wide"]),
    default="crossfade",
    show_default=True,
    help="512-px images joined by a crossfade, or one wide image",
)
@click.option(
    "--crossfade",
    "crossfade_s",
    type=click.FloatRange(min=0),
    default=0.25,
    show_default=True,
    help="seconds of equal-power crossfade between images",
)
@click.option(
    "--post-filters/--no-post-filters",
    default=True,
    show_default=True,
    help="Riffusion's normalise/compress chain after Griffin-Lim",
)
def baseline_riffusion(
    captions,
    subset,
    ids,
    out,
    model,
    steps,
    guidance,
    scheduler,
    seed,
    seconds,
    device,
    batch_size,
    long_clips,
    crossfade_s,
    post_filters,
):
    """Riffusion: captions -> spectrogram images (Stable Diffusion) -> audio."""
    from musiccaps_kit.baselines.riffusion import RiffusionSettings, generate

    clips = _clips(captions, subset, ids)
    settings = clean_errors(
        lambda: RiffusionSettings(
            model=model,
            steps=steps,
            guidance=guidance,
            scheduler=scheduler,
            seed=seed,
            seconds=seconds,
            device=device,
            batch_size=batch_size,
            long_clips=long_clips,
            crossfade_s=crossfade_s,
            post_filters=post_filters,
        )
    )
    _summary(clean_errors(lambda: generate(clips, out, settings)), out)


@baseline.command("riffusion-images")
@click.argument("images", type=click.Path(exists=True, file_okay=False, path_type=Path))
@OUT_OPTION
@click.option("--seed", type=int, default=0, show_default=True, help="Griffin-Lim's phase")
@click.option(
    "--post-filters/--no-post-filters", default=True, show_default=True,
    help="Riffusion's post-processing filters after Griffin-Lim",
)  # fmt: skip
def baseline_riffusion_images(images: Path, out: Path, seed: int, post_filters: bool) -> None:
    """Riffusion spectrogram images ({id}.png) you already have -> audio ({id}.wav)."""
    from musiccaps_kit.baselines.riffusion import from_images

    _summary(clean_errors(lambda: from_images(images, out, seed, post_filters)), out)


@baseline.command("mubert")
@CAPTIONS_OPTION
@SUBSET_OPTION
@IDS_OPTION
@OUT_OPTION
@click.option(
    "--prompt-strategy",
    type=click.Choice(["sentences", "aspects", "file"]),
    default="sentences",
    show_default=True,
    help="how a caption becomes a prompt of at most 200 characters",
)
@click.option(
    "--prompts",
    "prompts_file",
    type=click.Path(exists=True, dir_okay=False),
    help="--prompt-strategy file: a CSV with columns id,prompt",
)
@click.option(
    "--duration", type=click.IntRange(min=1), default=10, show_default=True,
    help="seconds of music asked of Mubert per caption",
)  # fmt: skip
@click.option(
    "--intensity", type=click.Choice(["low", "medium", "high"]), default="high",
    show_default=True, help="Mubert v3's intensity",
)  # fmt: skip
@click.option(
    "--mode", type=click.Choice(["track", "loop"]), default="track", show_default=True,
    help="Mubert v3's mode: a track or a loop",
)  # fmt: skip
@click.option(
    "--format", "fmt", type=click.Choice(["wav", "mp3"]), default="wav", show_default=True,
    help="the file format Mubert returns",
)  # fmt: skip
@click.option(
    "--requests-per-minute", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
    help="a ceiling on Mubert API calls (its rate limit)",
)  # fmt: skip
@click.option(
    "--api",
    type=click.Choice(["v3", "v2"]),
    default="v3",
    show_default=True,
    help="v3 (current) or v2 (the paper's 2022 tag protocol, needs --tags)",
)
@click.option("--api-url", help="the API's base URL [default: Mubert's own for --api]")
@click.option(
    "--tags",
    "tags_file",
    type=click.Path(exists=True, dir_okay=False),
    help="--api v2: Mubert's tag list, one per line",
)
def baseline_mubert(
    captions,
    subset,
    ids,
    out,
    prompt_strategy,
    prompts_file,
    duration,
    intensity,
    mode,
    fmt,
    requests_per_minute,
    api,
    api_url,
    tags_file,
):
    """Mubert through its API (credentials from MUBERT_CUSTOMER_ID / MUBERT_ACCESS_TOKEN,
    or MUBERT_PAT for v2)."""
    from musiccaps_kit.baselines.mubert import MubertSettings, generate

    clips = _clips(captions, subset, ids)
    settings = clean_errors(
        lambda: MubertSettings(
            api=api,
            api_url=api_url,
            prompt_strategy=prompt_strategy,
            prompts_file=prompts_file,
            tags_file=tags_file,
            duration=duration,
            intensity=intensity,
            mode=mode,
            format=fmt,
            requests_per_minute=requests_per_minute,
        )
    )
    _summary(clean_errors(lambda: generate(clips, out, settings)), out)
