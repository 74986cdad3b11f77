"""Decode audio in-process, mix to mono, resample, and cut to an exact length.

Decoding uses libsndfile (WAV, FLAC, OGG/Vorbis, MP3) through ``soundfile`` and falls back
to FFmpeg's libraries through PyAV (M4A/AAC, Opus/WebM, ...): no subprocess per clip.
Resampling is libsoxr's HQ polyphase resampler; the name goes into every recipe because
the resampler measurably changes embedding-based metrics (Google's FAD notes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

RESAMPLER = "soxr-HQ"
DEFAULT_RATES = (16000, 24000)


class AudioError(Exception):
    """Audio that cannot be decoded or is unusable (empty, too short, non-finite)."""


@dataclass(frozen=True)
class SegmentRecipe:
    """How a clip becomes waveforms: the output rates and the tolerance for short input."""

    rates: tuple[int, ...] = DEFAULT_RATES
    resampler: str = RESAMPLER
    # A decoded segment may be padded with silence by at most this much; shorter is a failure.
    max_pad_s: float = 1.0

    def as_dict(self) -> dict:
        return {**asdict(self), "rates": list(self.rates), "mixdown": "mean of channels"}


@dataclass
class Segment:
    """A clip cut to exactly ``duration_s`` at each rate, with what it took to get there.

    ``file_seconds`` is the decoded file's length; ``pad_s`` the silence appended because the
    file ended early; ``trim_s`` what a pre-cut file held beyond ``duration_s`` (0 when the
    segment is a window of a longer recording).
    """

    audio: dict[int, np.ndarray]
    source_rate: int
    source_channels: int
    file_seconds: float
    pad_s: float
    trim_s: float

    @property
    def duration_s(self) -> float:
        """The segment's length (every rate holds the same)."""
        rate = max(self.audio)
        return len(self.audio[rate]) / rate


def decode(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode a whole file to float32 ``[channels, samples]`` and its sample rate."""
    import soundfile as sf  # imported here: the GPU check runs without the audio stack

    path = Path(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return np.ascontiguousarray(data.T), int(rate)
    except sf.LibsndfileError as sndfile_error:
        try:
            return _decode_with_av(path)
        except AudioError as av_error:
            raise AudioError(
                f"cannot decode {path.name}: libsndfile: {sndfile_error}; ffmpeg: {av_error}"
            ) from None


def _decode_with_av(path: Path) -> tuple[np.ndarray, int]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError("no audio stream")
            stream = container.streams.audio[0]
            # Planar float keeps the channels apart so that the mono mixdown is ours.
            resampler = av.AudioResampler(format="fltp")
            chunks = []
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            chunks.extend(out.to_ndarray() for out in resampler.resample(None))
            rate = stream.rate
    except av.FFmpegError as e:
        raise AudioError(str(e)) from None
    if not chunks:
        raise AudioError("no audio frames")
    return np.ascontiguousarray(np.concatenate(chunks, axis=1), dtype=np.float32), int(rate)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Mean of the channels of a ``[channels, samples]`` array."""
    return audio.mean(axis=0, dtype=np.float64).astype(np.float32)


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample a mono float32 signal with libsoxr HQ (identity when the rates match)."""
    if rate_in == rate_out:
        return audio.astype(np.float32, copy=False)
    import soxr  # imported here: the GPU check runs without the audio stack

    return soxr.resample(audio, rate_in, rate_out, quality="HQ").astype(np.float32, copy=False)


def fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    """Zero-pad or trim at the end to exactly ``n`` samples."""
    if len(audio) >= n:
        return audio[:n]
    return np.pad(audio, (0, n - len(audio)))


def load_segment(
    path: str | Path,
    offset_s: float,
    duration_s: float,
    recipe: SegmentRecipe,
    precut: bool = False,
) -> Segment:
    """Decode ``path`` and return ``[offset_s, offset_s + duration_s]`` at every recipe rate.

    ``precut`` says the file already is the clip (a yt-dlp section, a MusicCaps download):
    whatever it holds beyond ``duration_s`` is then recorded as trimmed.
    A segment that runs past the end of the file is zero-padded when the gap is at most
    ``recipe.max_pad_s``; longer gaps raise ``AudioError``, as do empty or non-finite audio.
    """
    audio, rate = decode(path)
    channels = audio.shape[0]
    start = int(round(offset_s * rate))
    wanted = int(round(duration_s * rate))
    mono = to_mono(audio[:, start : start + wanted])
    if mono.size == 0:
        raise AudioError(
            f"{Path(path).name}: no audio in [{offset_s:g}, {offset_s + duration_s:g}] s "
            f"(file is {audio.shape[1] / rate:.2f} s)"
        )
    if not np.isfinite(mono).all():
        raise AudioError(f"{Path(path).name}: decoded audio contains NaN or infinity")
    got_s = mono.size / rate
    pad_s = max(0.0, duration_s - got_s)
    if pad_s > recipe.max_pad_s:
        raise AudioError(
            f"{Path(path).name}: too short: {got_s:.2f} s of the {duration_s:g} s asked "
            f"(at most {recipe.max_pad_s:g} s may be padded)"
        )
    file_s = audio.shape[1] / rate
    trim_s = max(0.0, file_s - offset_s - duration_s) if precut else 0.0
    out = {r: fit_length(resample(mono, rate, r), int(round(duration_s * r))) for r in recipe.rates}
    return Segment(out, rate, channels, file_s, pad_s, trim_s)


def windows(wave: np.ndarray, size: int, hop: int) -> list[np.ndarray]:
    """Windows of ``size`` samples every ``hop``, plus one ending at the clip's end when
    the last would leave a tail out; the whole clip if it is shorter than one window."""
    if len(wave) <= size:
        return [wave]
    starts = list(range(0, len(wave) - size + 1, hop))
    if starts[-1] + size < len(wave):
        starts.append(len(wave) - size)
    return [wave[s : s + size] for s in starts]
