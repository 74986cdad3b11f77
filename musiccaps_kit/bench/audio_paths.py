"""How a clip's file becomes a model's input, step by step as each evaluation tool does it.

A column named after a tool must hear what the tool's model hears: the same level step,
resampler, channel mix and 16-bit step, in the tool's order. The steps, in the order they
apply:

1. ``loudness``: AudioCraft's ``normalize_audio(strategy="loudness")`` (-14 LUFS, energy
   floor, clamp), on all channels at the file's own rate (AudioCraft measures the generated
   audio at the model's rate; for a user's file that is the file's rate).
2. ``peak_db`` at the source (``peak_stage="source"``): stable-audio-metrics' FD-openl3
   peak-normalises the file as loaded, all channels together, before resampling;
3. channel mix before resampling (``mix="before"``: the mean of the channels, as this
   toolkit, fadtk/kadtk and librosa's ``mono=True`` do), after (``"after"``: each channel
   resampled, then the mean, as AudioCraft's ``convert_audio``), or none (``"keep"``: the
   channels go to the model, ``[channels, samples]``);
4. the resampler (``resamplers``), straight from the file's rate to the model's;
5. ``peak_db`` at the model's rate (``peak_stage="model"``): stable-audio-metrics' KL and
   CLAP (``pyloudnorm.normalize.peak`` after ``librosa.load(sr=...)``), AudioCraft's
   ``audio_write(strategy="peak")`` before FAD;
6. ``pcm16``: the 16-bit file the tool writes and reads back: ``"libsndfile"`` (fadtk and
   kadtk save the resampled audio through torchaudio's soundfile backend and read it as
   int16 / 32768: done here through libsndfile itself, whose version sets the rounding) or
   ``"ffmpeg"`` (AudioCraft pipes float32 to ffmpeg's ``pcm_s16le``: ``clip(rint(x * 32768))``,
   read back / 32768).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from musiccaps_kit.audio import RESAMPLER
from musiccaps_kit.bench.loudness import PEAK_STYLES, audiocraft_loudness, peak_normalize
from musiccaps_kit.bench.resamplers import (
    JULIUS,
    LIBROSA_SOXR,
    TORCHAUDIO_HANN,
    TORCHAUDIO_KAISER,
    resample_with,
)

PCM16 = (None, "libsndfile", "ffmpeg")


@dataclass(frozen=True)
class AudioPath:
    name: str
    tool: str
    resampler: str = RESAMPLER
    mix: str = "before"
    loudness: bool = False
    peak_db: float | None = None
    pcm16: str | None = None
    peak_stage: str = "model"
    peak_style: str = "pyloudnorm"

    def __post_init__(self):
        if (
            self.mix not in ("before", "after", "keep")
            or self.pcm16 not in PCM16
            or self.peak_stage not in ("source", "model")
            or self.peak_style not in PEAK_STYLES
        ):
            raise ValueError(f"audio path {self.name}: {self}")

    def apply(self, samples: np.ndarray, rate: int, target: int) -> tuple[np.ndarray, list[str]]:
        """Float32 at ``target`` (mono; ``[channels, samples]`` for ``mix="keep"``) from
        float32 ``[channels, samples]`` at ``rate``, and notes on what a level step left as
        it was (a silent or unmeasurable clip)."""
        x = np.atleast_2d(np.asarray(samples, dtype=np.float32))
        notes = []
        if self.loudness:
            x, change = audiocraft_loudness(x, rate)
            if change.left_as_is:
                notes.append(f"loudness step: left as is ({change.left_as_is})")
        if self.peak_db is not None and self.peak_stage == "source":
            x = self._peak(x, notes)
        if self.mix == "before":
            x = x.mean(axis=0, dtype=np.float64).astype(np.float32)
        x = resample_with(self.resampler, x, rate, target)
        if self.mix == "after":
            x = x.mean(axis=0, dtype=np.float32)
        if self.peak_db is not None and self.peak_stage == "model":
            x = self._peak(x, notes)
        if self.pcm16 == "libsndfile":
            x = libsndfile_round_trip(x, target)
        elif self.pcm16 == "ffmpeg":
            x = (np.clip(np.rint(x.astype(np.float64) * 32768), -32768, 32767) / 32768).astype(
                np.float32
            )
        return np.ascontiguousarray(x, dtype=np.float32), notes

    def _peak(self, x: np.ndarray, notes: list[str]) -> np.ndarray:
        x, change = peak_normalize(x, self.peak_db, self.peak_style)
        if change.left_as_is:
            notes.append(f"peak step: left as is ({change.left_as_is})")
        return x

    def summary(self) -> str:
        """The steps in a few words, for a column's header notes."""
        steps = ["loudness -14 LUFS"] if self.loudness else []
        peak = [f"peak {self.peak_db:g} dBFS"] if self.peak_db is not None else []
        if self.peak_stage == "source":
            steps += peak
        steps.append(self.resampler)
        if self.mix == "keep":
            steps.append("channels kept")
        if self.peak_stage == "model":
            steps += peak
        if self.pcm16:
            steps.append(f"16-bit ({self.pcm16})")
        return " + ".join(steps)

    def describe(self) -> dict[str, Any]:
        """The steps, for recipes."""
        steps = []
        if self.loudness:
            steps.append(
                "AudioCraft normalize_audio(strategy='loudness', loudness_headroom_db=14): "
                "BS.1770-4 loudness (torchaudio's) at the file's own rate, RMS under 2e-3 "
                "left as is, gain to -14 LUFS, clamp to [-1, 1]"
            )
        peak = f"peak normalised to {self.peak_db} dBFS ({self.peak_style}'s arithmetic)"
        if self.peak_db is not None and self.peak_stage == "source":
            steps.append(peak + ", all channels together, at the file's rate")
        mix = "mean of the channels"
        if self.mix == "before":
            steps += [mix, f"resampled with {self.resampler}"]
        elif self.mix == "after":
            steps += [f"each channel resampled with {self.resampler}", mix]
        else:
            steps.append(f"each channel resampled with {self.resampler}, channels kept")
        if self.peak_db is not None and self.peak_stage == "model":
            steps.append(peak)
        if self.pcm16 == "libsndfile":
            import soundfile

            steps.append(
                "written as a 16-bit WAV through libsndfile "
                f"{soundfile.__libsndfile_version__} and read back as int16 / 32768"
            )
        elif self.pcm16 == "ffmpeg":
            steps.append("16-bit as ffmpeg's pcm_s16le writes it (clip(rint(x * 32768))) / 32768")
        return {"name": self.name, "as": self.tool, "steps": steps}


def libsndfile_round_trip(wave: np.ndarray, rate: int) -> np.ndarray:
    """``wave`` written as a 16-bit WAV by libsndfile (in memory) and read as int16 / 32768."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, wave, rate, subtype="PCM_16", format="WAV")
    buffer.seek(0)
    pcm, _ = sf.read(buffer, dtype="int16")
    return (pcm / 32768.0).astype(np.float32)


# this toolkit's own: decoded, mixed to mono, soxr HQ straight to the model's rate
SOXR = AudioPath("soxr", "musiccaps-kit")
# fadtk 1.1.0 (fad.py load_audio) and kadtk 1.1.0 (emb_loader.py load_audio)
FADTK = AudioPath("fadtk", "fadtk/kadtk 1.1.0", TORCHAUDIO_KAISER, pcm16="libsndfile")
# AudioCraft's metrics (convert_audio); the generated side after MusicGen's loudness step
AUDIOCRAFT = AudioPath("audiocraft", "AudioCraft 1.3.0", JULIUS, mix="after")
AUDIOCRAFT_GENERATED = AudioPath(
    "audiocraft-loudness", "AudioCraft 1.3.0 (MusicGen's evaluate)", JULIUS, "after", True
)
# AudioCraft's FrechetAudioDistanceMetric: convert_audio to 16 kHz, audio_write(peak, wav)
AUDIOCRAFT_FAD = AudioPath(
    "audiocraft-fad", "AudioCraft 1.3.0 FAD files", JULIUS, "after", peak_db=-1.0,
    pcm16="ffmpeg", peak_style="audiocraft",
)  # fmt: skip
AUDIOCRAFT_FAD_GENERATED = AudioPath(
    "audiocraft-fad-loudness", "AudioCraft 1.3.0 FAD files (MusicGen's evaluate)", JULIUS,
    "after", True, -1.0, "ffmpeg", peak_style="audiocraft",
)  # fmt: skip
# stable-audio-metrics: KL-PaSST and CLAP load with librosa (sr, mono=True: soxr HQ), then
# pyloudnorm.normalize.peak(audio, -1.0); FD-openl3 loads at the file's rate with its
# channels, peak-normalises, then soxr.resample to the evaluation rate
SAO = AudioPath("sao", "stable-audio-metrics", peak_db=-1.0)
SAO_OPENL3 = AudioPath(
    "sao-openl3", "stable-audio-metrics openl3_fd", mix="keep", peak_db=-1.0, peak_stage="source"
)
# MuQ-MuLan's evaluation scripts: librosa.load(path, sr=24000) (channel mean, soxr HQ,
# librosa's length fix)
LIBROSA_MONO = AudioPath("librosa-mono", "librosa.load(sr=...)", LIBROSA_SOXR)
# audiobox_aesthetics 0.0.4 AesPredictor: torchaudio.load, channel mean, then
# torchaudio.functional.resample to 16 kHz; no level step
AUDIOBOX = AudioPath("audiobox", "audiobox-aesthetics 0.0.4", TORCHAUDIO_HANN)
