"""Riffusion as a bench system: captions -> Stable Diffusion spectrogram images (diffusers'
``StableDiffusionPipeline``, from a hub handle or a local folder) -> audio by Riffusion's
own inversion (``spectrogram_image``).

Defaults follow riffusion-hobby's text-to-audio page (``riffusion/streamlit/tasks/
text_to_audio.py``): 30 steps, guidance 7.0, DPMSolverMultistepScheduler, seed 42, 512 x
512 images (5.12 s), no negative prompt. A 512-px image holds 5.11 s of audio, so longer
clips need a strategy, recorded in ``system.json``:

* ``crossfade`` (default): consecutive 512-px images, image k drawn with seed + k (as
  Riffusion increments the seed per clip), each inverted on its own and joined with an
  equal-power crossfade of ``crossfade_s``, then cut to ``seconds``;
* ``wide``: one image ``ceil(seconds * 100 / 8) * 8`` px wide (Riffusion's pages expose the
  width too), inverted whole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from musiccaps_kit.atomic import atomic_path
from musiccaps_kit.audio import decode, fit_length, resample, to_mono
from musiccaps_kit.baselines.spectrogram_image import (
    RIFFUSION,
    SpectrogramParams,
    audio_from_image,
    crossfade_join,
    image_from_mel,
    mel_amplitudes,
)
from musiccaps_kit.baselines.system_folder import BaselineError, SystemFolder
from musiccaps_kit.checksums import checksum_dir
from musiccaps_kit.data.catalog import Clip
from musiccaps_kit.data.sources.failures import Category

DEFAULT_MODEL = "riffusion/riffusion-model-v1"
SCHEDULERS = (
    "DPMSolverMultistepScheduler",
    "PNDMScheduler",
    "DDIMScheduler",
    "LMSDiscreteScheduler",
    "EulerDiscreteScheduler",
    "EulerAncestralDiscreteScheduler",
)
LONG_CLIPS = ("crossfade", "wide")
IMAGE_HEIGHT = 512
IMAGES_DIR = "images"


@dataclass(frozen=True)
class RiffusionSettings:
    model: str = DEFAULT_MODEL
    steps: int = 30
    guidance: float = 7.0
    scheduler: str = SCHEDULERS[0]
    seed: int = 42
    seconds: float = 10.0
    device: str = "cpu"
    batch_size: int = 1
    long_clips: str = "crossfade"
    crossfade_s: float = 0.25
    width: int = 512
    negative_prompt: str = ""
    post_filters: bool = True

    def __post_init__(self):
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)}")
        if self.long_clips not in LONG_CLIPS:
            raise ValueError(f"long clips: one of {', '.join(LONG_CLIPS)}")
        if self.width % 8 or self.width < 8:
            raise ValueError("the image width must be a positive multiple of 8")


def image_plan(settings: RiffusionSettings, params: SpectrogramParams) -> list[int]:
    """The width of each image a clip needs."""
    columns = 1000 // params.step_ms  # image columns per second
    if settings.long_clips == "wide":
        return [math.ceil(settings.seconds * columns / 8) * 8]
    piece = (settings.width - 1) * params.hop / params.sample_rate  # audio per image
    overlap = settings.crossfade_s
    count = max(1, math.ceil((settings.seconds - overlap) / (piece - overlap)))
    return [settings.width] * count


def load_pipeline(model: str, scheduler: str, device: str):
    """diffusers' ``StableDiffusionPipeline`` from a local folder (offline) or a hub handle
    (downloaded on first use), with the named scheduler; the safety checker is off, as in
    Riffusion (spectrograms are not photographs)."""
    import diffusers

    local = Path(model).is_dir()
    try:
        pipe = diffusers.StableDiffusionPipeline.from_pretrained(
            model, safety_checker=None, requires_safety_checker=False, local_files_only=local
        )
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot load the diffusion pipeline {model!r}: {e}") from None
    pipe.scheduler = getattr(diffusers, scheduler).from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def model_checksum(model: str) -> dict[str, Any]:
    """Where the weights came from and their sha256 (a local folder, or the hub snapshot
    the pipeline was loaded from)."""
    folder = Path(model)
    if not folder.is_dir():
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(model, local_files_only=True))
    return {"model": model, "weights_folder": str(folder), "weights_sha256": checksum_dir(folder)}


def _images(pipe, prompts: list[str], widths: list[int], settings: RiffusionSettings):
    """One image per (prompt, piece): piece k of every prompt drawn with seed + k."""
    import torch

    out: list[list[Image.Image]] = [[] for _ in prompts]
    for k, width in enumerate(widths):
        generators = [torch.Generator(device="cpu").manual_seed(settings.seed + k) for _ in prompts]
        result = pipe(
            prompt=prompts,
            negative_prompt=[settings.negative_prompt] * len(prompts)
            if settings.negative_prompt
            else None,
            num_inference_steps=settings.steps,
            guidance_scale=settings.guidance,
            generator=generators,
            width=width,
            height=IMAGE_HEIGHT,
        )
        for i, image in enumerate(result.images):
            out[i].append(image)
    return out


def audio_from_images(
    images: Sequence[Image.Image],
    settings: RiffusionSettings,
    params: SpectrogramParams = RIFFUSION,
) -> np.ndarray:
    """A clip's images -> its audio, ``settings.seconds`` long."""
    pieces = [
        audio_from_image(image, params, settings.seed + k, settings.post_filters)
        for k, image in enumerate(images)
    ]
    overlap = round(settings.crossfade_s * params.sample_rate)
    audio = crossfade_join(pieces, overlap) if len(pieces) > 1 else pieces[0]
    return fit_length(audio, round(settings.seconds * params.sample_rate))


def generate(
    clips: Sequence[Clip],
    out: str | Path,
    settings: RiffusionSettings | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """``mck baseline riffusion``: one WAV per clip from its caption, into a system folder;
    clips already written are kept (a rerun finishes a killed run)."""
    settings = settings or RiffusionSettings()
    params = RIFFUSION
    folder = SystemFolder(out)
    todo = [c for c in clips if not folder.done(c.ytid)]
    widths = image_plan(settings, params)
    pipe = load_pipeline(settings.model, settings.scheduler, settings.device) if todo else None
    bar = tqdm(total=len(todo), desc="riffusion", unit="clip", disable=not progress)
    for start in range(0, len(todo), settings.batch_size):
        batch = todo[start : start + settings.batch_size]
        images = _images(pipe, [c.caption for c in batch], widths, settings)
        for clip, clip_images in zip(batch, images, strict=True):
            for k, image in enumerate(clip_images):
                with atomic_path(folder.out / IMAGES_DIR / f"{clip.ytid}-{k}.png") as tmp:
                    image.save(tmp, format="PNG")
            audio = audio_from_images(clip_images, settings)
            folder.write_audio(clip.ytid, audio, params.sample_rate)
        bar.update(len(batch))
    bar.close()
    info = {
        "adapter": "riffusion",
        **model_checksum(settings.model),
        "settings": asdict(settings),
        "images_per_clip": widths,
        "spectrogram": params.recipe(),
        "prompts": {c.ytid: c.caption for c in clips},
    }
    return folder.finish(info, [c.ytid for c in clips])


def from_images(
    images_dir: str | Path,
    out: str | Path,
    seed: int = 0,
    post_filters: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """``mck baseline riffusion-images``: ``{id}.png`` Riffusion images -> ``{id}.wav``."""
    params = RIFFUSION
    paths = sorted(Path(images_dir).glob("*.png"))
    if not paths:
        raise ValueError(f"{images_dir}: no PNG images")
    folder = SystemFolder(out)
    for path in tqdm(paths, desc="images", unit="image", disable=not progress):
        if folder.done(path.stem):
            continue
        try:
            image = Image.open(path)
            audio = audio_from_image(image, params, seed, post_filters)
        except (OSError, ValueError) as e:
            folder.fail(path.stem, BaselineError(Category.BAD_MEDIA, f"{path.name}: {e}"))
            continue
        folder.write_audio(path.stem, audio, params.sample_rate)
    info = {
        "adapter": "riffusion-images",
        "images": str(Path(images_dir).resolve()),
        "settings": {"seed": seed, "post_filters": post_filters},
        "spectrogram": params.recipe(),
    }
    return folder.finish(info, [p.stem for p in paths])


def round_trip(wave: np.ndarray, rate: int, seed: int = 0, post_filters: bool = True):
    """Mono audio through Riffusion's representation and back (one image as wide as the
    clip): the quality ceiling of a perfect Riffusion model. Returns 44.1 kHz audio of the
    same duration."""
    params = RIFFUSION
    x = resample(wave, rate, params.sample_rate)
    image = image_from_mel(mel_amplitudes(x, params), params)
    audio = audio_from_image(image, params, seed, post_filters)
    return fit_length(audio, len(x))


def round_trip_folder(
    audio_dir: str | Path,
    out: str | Path,
    seed: int = 0,
    limit: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The audio files of a folder (the first ``limit`` by name, or all) through
    ``round_trip`` into a system folder."""
    from musiccaps_kit.data.sources.local import AUDIO_EXTENSIONS

    params = RIFFUSION
    paths = sorted(p for p in Path(audio_dir).iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)
    paths = paths[:limit]
    folder = SystemFolder(out)
    for path in tqdm(paths, desc="riffusion round trip", unit="clip", disable=not progress):
        if not folder.done(path.stem):
            wave, rate = decode(path)
            audio = round_trip(to_mono(wave), rate, seed)
            folder.write_audio(path.stem, audio, params.sample_rate)
    info = {
        "adapter": "riffusion-roundtrip",
        "source": str(Path(audio_dir).resolve()),
        "settings": {"seed": seed, "post_filters": True, "limit": limit},
        "spectrogram": params.recipe(),
    }
    return folder.finish(info, [p.stem for p in paths])
