"""Text to music through the cascade: caption -> MuLan text tokens M_T -> semantic ->
coarse -> fine -> codec decoder.

Each stage generates in windows of its training crop: the first window from the
conditioning alone, each later one continuing from the last half of the one before (the
paper's 15 s stride with a 15 s prefix for 30 s crops), so any length can be generated.
Story mode is a list of (caption, seconds): every window takes the conditioning of the
caption active where its new tokens start, and the audio stays continuous because each
window continues the tokens before it. Stages trained with melody tokens take a melody
(its tokens join M in every window's conditioning).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from musiccaps_kit.atomic import atomic_path
from musiccaps_kit.audio import decode, resample, to_mono
from musiccaps_kit.checksums import checksum_files
from musiccaps_kit.data.catalog import Clip
from musiccaps_kit.models.loaders import load_codec, load_melody, load_mulan, load_stages
from musiccaps_kit.models.stage import generate as sample
from musiccaps_kit.models.tokens import (
    ACOUSTIC,
    ACOUSTIC_RATE,
    MELODY,
    MULAN,
    SEMANTIC,
    SEMANTIC_RATE,
)


@dataclass(frozen=True)
class Sampling:
    """Temperatures per stage (paper: 1.0, 0.95, 0.4), top-k (0: off), seed, KV cache."""

    semantic_temperature: float = 1.0
    coarse_temperature: float = 0.95
    fine_temperature: float = 0.4
    top_k: int = 0
    seed: int = 0
    use_cache: bool = True


def continue_stream(
    model,
    total: int,
    window: int,
    prefix: Callable[[int, int, np.ndarray], np.ndarray],
    per_frame: int,
    ranges: list[tuple[int, int]],
    temperature: float,
    sampling: Sampling,
    generator: torch.Generator,
    bar: tqdm | None = None,
) -> np.ndarray:
    """``[total, per_frame]`` token ids, generated window by window.

    ``prefix(start, length, known)`` builds the prompt of the window ``[start, start +
    length)`` given the ids already generated in it (``known``, ``[frames, per_frame]``).
    """
    out = np.zeros((0, per_frame), dtype=np.int64)
    start, context = 0, max(window // 2, 1)
    while len(out) < total:
        length = min(window, total - start)
        known = out[start:]
        prompt = torch.from_numpy(prefix(start, length, known)).long()[None]
        new = length - len(known)
        ids = sample(
            model,
            prompt,
            new * per_frame,
            ranges,
            temperature,
            sampling.top_k,
            generator,
            sampling.use_cache,
        )
        out = np.concatenate([out, ids[0].numpy().reshape(new, per_frame)])
        if bar is not None:
            bar.update(new)
        start = max(len(out) - context, 0)
    return out


class Cascade:
    """Trained stages plus the MuLan and codec whose tokens they were trained on."""

    def __init__(self, stages: str | Path, mulan: str | Path | None = None, codec=None):
        bundle = load_stages(stages)
        self.models, self.vocab, self.crops = (
            bundle["models"],
            bundle["vocabulary"],
            bundle["crops"],
        )
        made_by = bundle["tokenizer"]["checkpoints"]
        paths = {
            MULAN: mulan or made_by[MULAN]["path"],
            ACOUSTIC: codec or made_by[ACOUSTIC]["path"],
        }
        for name, path in paths.items():
            if checksum_files([Path(path)]) != made_by[name]["sha256"]:
                raise ValueError(
                    f"{path} is not the {name} model the stages' training tokens came from"
                )
        self.mulan = load_mulan(paths[MULAN])
        self.codec = load_codec(paths[ACOUSTIC])
        self.melody_windows = bundle["melody_windows"]
        self.melody_model = None
        if self.melody_windows:
            self.melody_model = load_melody(made_by[MELODY]["path"])

    def melody_at_rate(self, wave: np.ndarray, rate: int) -> np.ndarray:
        """A decoded melody resampled to the melody model's rate (refused when the stages
        were trained without melody tokens)."""
        if self.melody_model is None:
            raise ValueError("these stages were trained without melody tokens")
        return resample(to_mono(wave), rate, self.melody_model.rate)

    def melody_conditioning(self, wave: np.ndarray | None) -> np.ndarray:
        """Melody token ids of a melody at the melody model's rate (hummed, whistled,
        played), as many windows as the stages were trained with (the last repeated when
        the melody is shorter)."""
        if self.melody_model is None:
            if wave is not None:
                raise ValueError("these stages were trained without melody tokens")
            return np.zeros(0, dtype=np.int64)
        if wave is None:
            raise ValueError("these stages were trained with melody tokens: give a melody")
        tokens = self.melody_model.tokens(wave).numpy()
        picked = [tokens[min(i, len(tokens) - 1)] for i in range(self.melody_windows)]
        return self.vocab.melody_ids(np.stack(picked))

    def conditioning(self, caption: str) -> np.ndarray:
        """M_T: the MuLan text embedding's 12 tokens, as vocabulary ids."""
        from musiccaps_kit.bench.joint import text_encoder

        sentence = torch.from_numpy(text_encoder.encode([caption]))
        with torch.no_grad():
            tokens = self.mulan.tokens(self.mulan.text_embedding(sentence))[0].numpy()
        return self.vocab.mulan(tokens)

    def generate(
        self,
        story: list[tuple[str, float]],
        sampling: Sampling = Sampling(),
        progress: bool = True,
        melody: np.ndarray | None = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Audio at the codec's rate for ``story`` (one or more (caption, seconds)), and
        the token streams (semantic tokens, None without a semantic stage; acoustic codes);
        ``melody`` (at the melody model's rate) for stages trained with melody tokens."""
        if not story or any(seconds <= 0 for _, seconds in story):
            raise ValueError("give at least one (caption, seconds) with seconds > 0")
        generator = torch.Generator().manual_seed(sampling.seed)
        tune = self.melody_conditioning(melody)
        conditions = [np.concatenate([self.conditioning(c), tune]) for c, _ in story]
        ends = np.cumsum([seconds for _, seconds in story])

        def m_at(frame: int, rate: int) -> np.ndarray:
            return conditions[
                min(int(np.searchsorted(ends, frame / rate, side="right")), len(story) - 1)
            ]

        v, crops = self.vocab, self.crops
        frames_s = round(ends[-1] * SEMANTIC_RATE)
        frames_a = 2 * frames_s

        def run(stage: str, total: int, prefix, per_frame: int, temperature: float):
            with tqdm(total=total, desc=stage, disable=not progress, leave=False) as bar:
                return continue_stream(
                    self.models[stage],
                    total,
                    getattr(crops, stage),
                    prefix,
                    per_frame,
                    v.ranges(stage),
                    temperature,
                    sampling,
                    generator,
                    bar,
                )

        def semantic_prefix(start: int, length: int, known: np.ndarray) -> np.ndarray:
            return np.concatenate([m_at(start + len(known), SEMANTIC_RATE), known.reshape(-1)])

        def coarse_prefix(start: int, length: int, known: np.ndarray) -> np.ndarray:
            parts = [m_at(start + len(known), ACOUSTIC_RATE)]
            if crops.semantic_stage:
                parts.append(semantic[start // 2 : (start + length + 1) // 2, 0])
            return np.concatenate([*parts, known.reshape(-1)])

        def fine_prefix(start: int, length: int, known: np.ndarray) -> np.ndarray:
            cond = coarse[start : start + length].reshape(-1)
            return np.concatenate(
                [m_at(start + len(known), ACOUSTIC_RATE), cond, known.reshape(-1)]
            )

        semantic = np.zeros((frames_s, 1), dtype=np.int64)
        if crops.semantic_stage:
            semantic = run("semantic", frames_s, semantic_prefix, 1, sampling.semantic_temperature)
        coarse = run("coarse", frames_a, coarse_prefix, len(v.coarse), sampling.coarse_temperature)
        fine = run("fine", frames_a, fine_prefix, len(v.fine), sampling.fine_temperature)
        codes = np.concatenate(
            [v.acoustic_codes(coarse, v.coarse), v.acoustic_codes(fine, v.fine)], axis=1
        )
        with torch.no_grad():
            audio = self.codec.decode(torch.from_numpy(codes)[None])[0].numpy()
        semantic_tokens = semantic[:, 0] - v.semantic_offset if crops.semantic_stage else None
        tokens = {SEMANTIC: semantic_tokens, ACOUSTIC: codes}
        return audio, tokens


def write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    """Write a WAV file atomically: an interrupted run never leaves half a clip."""
    with atomic_path(path) as tmp:
        sf.write(tmp, audio, rate, format="WAV")


def generate_files(
    stages: str | Path,
    out: Path,
    *,
    story: list[tuple[str, float]] | None = None,
    clips: list[Clip] | None = None,
    seconds: float = 10.0,
    sampling: Sampling = Sampling(),
    mulan: str | Path | None = None,
    codec: str | Path | None = None,
    melody: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """``mck generate``: one WAV file ``out`` for a caption or a story, or a folder ``out``
    with ``{id}.wav`` for every catalog clip's caption (a system folder for ``mck bench``).

    The melody file is decoded before any model loads, so a bad file fails fast; in a
    folder, clips already written are kept unless ``overwrite``.
    """
    if (story is None) == (clips is None):
        raise ValueError("give either a story (one or more captions) or catalog clips")
    tune = decode(melody) if melody else None
    cascade = Cascade(stages, mulan, codec)
    rate = cascade.codec.rate
    tune = cascade.melody_at_rate(*tune) if tune is not None else None
    if story is not None:
        audio, _ = cascade.generate(story, sampling, progress, tune)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_wav(out, audio, rate)
        return {"files": 1, "kept": 0, "seconds": len(audio) / rate, "out": out}
    out.mkdir(parents=True, exist_ok=True)
    todo = [c for c in clips if overwrite or not (out / f"{c.ytid}.wav").exists()]
    for clip in tqdm(todo, desc="generate", unit="clip", disable=not progress):
        audio, _ = cascade.generate([(clip.caption, seconds)], sampling, False, tune)
        write_wav(out / f"{clip.ytid}.wav", audio, rate)
    return {"files": len(clips), "kept": len(clips) - len(todo), "seconds": seconds, "out": out}
