"""Embeddings cached on disk, keyed by audio content, embedder recipe and weights.

The key of a clip's embedding is sha256(waveform bytes and rate) under a folder named by
the hash of the embedder's recipe, which includes its weights checksum: a rerun computes
nothing twice, and a changed file, setting or checkpoint never reuses stale values.
An index maps a source's fingerprint (path, size, modification time) and rate to that
key, so a rerun does not even decode the clips it has seen.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from musiccaps_kit.atomic import atomic_path, remove_stale_temporaries, write_text
from musiccaps_kit.audio import AudioError, fit_length
from musiccaps_kit.bench.audio_paths import AudioPath
from musiccaps_kit.bench.embedders.base import Embedder
from musiccaps_kit.data.clip_cache import recipe_key
from musiccaps_kit.timing import Timings


def audio_key(wave: np.ndarray, rate: int) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(wave, dtype="<f4").tobytes())
    digest.update(str(rate).encode())
    return digest.hexdigest()


def read_entry(path: Path) -> np.ndarray | None:
    """A cached array, or None when it is missing or unreadable (then it is removed with a
    warning and computed again)."""
    if not path.is_file():
        return None
    try:
        return np.load(path)
    except (OSError, ValueError, EOFError) as e:
        warnings.warn(
            f"{path}: unreadable embedding cache entry ({e}); computing it again", stacklevel=3
        )
        path.unlink(missing_ok=True)
        return None


class EmbeddingCache:
    """``root/{recipe hash}/{audio hash}.npy`` for one embedder; ``hits``/``misses`` count."""

    def __init__(self, root: str | Path, embedder: Embedder):
        self.embedder = embedder
        self.folder = Path(root) / recipe_key(embedder.recipe())
        self.hits = self.misses = 0
        remove_stale_temporaries(self.folder)

    def _index(self, fingerprint: str, rate: int, path: str) -> Path:
        return self.folder / "index" / f"{fingerprint}-{rate}-{path}.json"

    def lookup(self, fingerprint: str, rate: int, path: str) -> tuple[np.ndarray, dict] | None:
        """The frames and the clip's shape for a source seen before (same rate, same audio
        path), without decoding it."""
        index = self._index(fingerprint, rate, path)
        if not index.is_file():
            return None
        try:
            entry = json.loads(index.read_text())
        except ValueError:
            return None
        frames = read_entry(self.folder / f"{entry['key']}.npy")
        if frames is None:
            return None
        self.hits += 1
        return frames, entry["shape"]

    def remember(
        self, fingerprint: str, rate: int, path: str, wave: np.ndarray, shape: dict
    ) -> None:
        entry = {"key": audio_key(wave, rate), "shape": shape}
        write_text(self._index(fingerprint, rate, path), json.dumps(entry))

    def __call__(self, wave: np.ndarray, rate: int) -> np.ndarray:
        return self.many([wave], rate)[0]

    def many(self, waves: Sequence[np.ndarray], rate: int) -> list[np.ndarray]:
        """Frames for each clip: cached ones read, the others embedded in one batch."""
        paths = [self.folder / f"{audio_key(wave, rate)}.npy" for wave in waves]
        cached = [read_entry(path) for path in paths]
        todo = [i for i, frames in enumerate(cached) if frames is None]
        self.hits += len(paths) - len(todo)
        self.misses += len(todo)
        computed = dict(zip(todo, self.embedder.batch([waves[i] for i in todo], rate), strict=True))
        for i, frames in computed.items():
            with atomic_path(paths[i]) as tmp, open(tmp, "wb") as f:
                np.save(f, frames)
        return [computed[i] if i in computed else cached[i] for i in range(len(paths))]


class Clips(Protocol):
    """Clips by id (``bench.clips.ClipSet`` is one)."""

    def ids(self) -> set[str]: ...

    def audio(self, clip_id: str, rate: int, path: AudioPath) -> np.ndarray: ...


class ClipError(ValueError):
    """A clip that cannot be embedded, named with where it comes from."""


def embed_clips(
    cache: EmbeddingCache,
    clips: Clips,
    ids: Sequence[str],
    rate: int,
    label: str,
    batch: int,
    timings: Timings | None = None,
    path: AudioPath | None = None,
    fit: Mapping[str, int] | None = None,
) -> dict[str, np.ndarray]:
    """Frames per id, decoding and embedding ``batch`` clips at a time, with a progress bar;
    each clip reaches the model by ``path`` (default: the embedder's own tool's path), cut
    or zero-padded to ``fit[id]`` samples when ``fit`` is given (AudioCraft's KL fits the
    generated clip to the reference's length).
    Clips seen before (same source file, rate and path) come from the cache without decoding.
    A clip that fails (undecodable, NaN, too short for the model) stops the run with an
    error naming its id and file; what was embedded before it stays in the cache."""
    timings = timings or Timings()
    path = path or cache.embedder.audio_path
    fit = fit or {}

    def index_name(clip_id: str) -> str:
        return path.name + (f"-fit{fit[clip_id]}" if clip_id in fit else "")

    def audio(clip_id: str) -> np.ndarray:
        wave = clips.audio(clip_id, rate, path)
        return fit_length(wave, fit[clip_id]) if clip_id in fit else wave

    frames: dict[str, np.ndarray] = {}
    indexed = hasattr(clips, "fingerprint")
    desc = f"{label} ({cache.embedder.name})"
    with tqdm(total=len(ids), desc=desc, unit="clip", leave=False) as bar:
        for start in range(0, len(ids), batch):
            chunk = list(ids[start : start + batch])
            prints = {i: clips.fingerprint(i) for i in chunk} if indexed else {}
            todo = []
            with timings.phase("cache reads"):
                for clip_id in chunk:
                    found = (
                        cache.lookup(prints[clip_id], rate, index_name(clip_id))
                        if indexed
                        else None
                    )
                    if found is None:
                        todo.append(clip_id)
                    else:
                        frames[clip_id] = found[0]
                        clips.remember(clip_id, found[1], path)
            try:
                with timings.phase("decode"):
                    waves = [audio(i) for i in todo]
                with timings.phase("embed"):
                    frames.update(zip(todo, cache.many(waves, rate), strict=True))
            except (ValueError, AudioError):
                _name_the_culprit(cache, clips, todo, rate, label, path)
                raise
            if indexed:
                for clip_id, wave in zip(todo, waves, strict=True):
                    shape = clips.shape(clip_id, path)
                    cache.remember(prints[clip_id], rate, index_name(clip_id), wave, shape)
            bar.update(len(chunk))
    return frames


def _name_the_culprit(cache, clips: Clips, chunk, rate: int, label: str, path) -> None:
    for clip_id in chunk:
        try:
            cache.many([clips.audio(clip_id, rate, path)], rate)
        except (ValueError, AudioError) as e:
            where = clips.describe(clip_id) if hasattr(clips, "describe") else clip_id
            raise ClipError(f"{label}: clip {clip_id} ({where}): {e}") from None


def cached_text_embeddings(
    root: str | Path, recipe: dict, texts: Sequence[str], embed: Callable[[list[str]], np.ndarray]
) -> np.ndarray:
    """``[len(texts), dims]`` text embeddings, cached like audio ones: under the hash of the
    text tower's recipe (weights included), one ``.npy`` per text's sha256. Only texts not
    seen before reach ``embed``, so a fully cached run builds no model."""
    folder = Path(root) / "text" / recipe_key(recipe)
    paths = [folder / f"{hashlib.sha256(t.encode()).hexdigest()}.npy" for t in texts]
    rows = [read_entry(path) for path in paths]
    todo = [i for i, row in enumerate(rows) if row is None]
    if todo:
        for i, row in zip(todo, embed([texts[i] for i in todo]), strict=True):
            with atomic_path(paths[i]) as tmp, open(tmp, "wb") as f:
                np.save(f, row)
            rows[i] = row
    return np.stack(rows)
