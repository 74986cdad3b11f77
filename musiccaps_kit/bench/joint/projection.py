"""A small joint text-audio model: frozen towers and trained linear projections.

Audio: a registered embedder (musicnn's penultimate features by default), standardised,
times a matrix into ``dims``; text: all-MiniLM-L6-v2, times a matrix into ``dims``.
The two matrices are trained with the symmetric InfoNCE loss of CLIP and MuLan on
caption-audio pairs, in seconds on CPU. It exercises the joint-model interface and
gives MCC a model until the cascade's MuLan is trained; its numbers are not MuLan's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.atomic import atomic_path
from musiccaps_kit.bench.clips import ClipSet
from musiccaps_kit.bench.embedders import make_embedder
from musiccaps_kit.bench.embedders.base import Embedder
from musiccaps_kit.bench.embedding_cache import Clips, EmbeddingCache, embed_clips
from musiccaps_kit.bench.joint import text_encoder
from musiccaps_kit.bench.joint.base import JointModel, register_joint
from musiccaps_kit.checksums import checksum_files
from musiccaps_kit.data import catalog

FORMAT = "musiccaps-kit/projection-joint/1"


@dataclass
class Projections:
    """The trained part of the model, with what it was trained on."""

    audio_embedder: str
    audio_options: dict[str, Any]
    audio_mean: np.ndarray
    audio_std: np.ndarray
    audio_matrix: np.ndarray
    text_matrix: np.ndarray
    training: dict[str, Any]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        meta = {
            "format": FORMAT,
            "audio_embedder": self.audio_embedder,
            "audio_options": self.audio_options,
            "training": self.training,
        }
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                meta=np.array(json.dumps(meta, sort_keys=True)),
                audio_mean=self.audio_mean,
                audio_std=self.audio_std,
                audio_matrix=self.audio_matrix,
                text_matrix=self.text_matrix,
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> Projections:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"projection joint model {path} not found")
        try:
            with np.load(path, allow_pickle=False) as blob:
                meta = json.loads(str(blob["meta"]))
                arrays = {k: blob[k] for k in ("audio_mean", "audio_std", "audio_matrix")}
                text_matrix = blob["text_matrix"]
        except (OSError, ValueError, KeyError) as e:
            raise ValueError(f"{path} is not a projection joint model: {e}") from None
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path} is not a {FORMAT} file")
        return cls(
            meta["audio_embedder"],
            meta["audio_options"],
            text_matrix=text_matrix,
            training=meta["training"],
            **arrays,
        )


def train_projections(
    audio_features: np.ndarray,
    text_features: np.ndarray,
    audio_embedder: str = "musicnn",
    audio_options: dict[str, Any] | None = None,
    dims: int = 32,
    steps: int = 300,
    learning_rate: float = 1e-2,
    temperature: float = 0.1,
    seed: int = 0,
) -> Projections:
    """Fit the two projections on paired rows (clip features, caption features).

    Full-batch Adam on the symmetric InfoNCE loss with a fixed temperature; deterministic
    for the same inputs and seed.
    """
    import torch

    if len(audio_features) != len(text_features) or len(audio_features) < 2:
        raise ValueError("need at least two caption-audio pairs, one caption per clip")
    mean = audio_features.mean(axis=0)
    std = audio_features.std(axis=0) + 1e-6
    generator = torch.Generator().manual_seed(seed)
    audio = torch.from_numpy(((audio_features - mean) / std).astype(np.float32))
    text = torch.from_numpy(text_features.astype(np.float32))
    audio_matrix = torch.nn.Parameter(
        torch.randn(audio.shape[1], dims, generator=generator) / audio.shape[1] ** 0.5
    )
    text_matrix = torch.nn.Parameter(
        torch.randn(text.shape[1], dims, generator=generator) / text.shape[1] ** 0.5
    )
    optimiser = torch.optim.Adam([audio_matrix, text_matrix], lr=learning_rate)
    targets = torch.arange(len(audio))
    losses = []
    for _ in range(steps):
        optimiser.zero_grad()
        a = torch.nn.functional.normalize(audio @ audio_matrix, dim=1)
        t = torch.nn.functional.normalize(text @ text_matrix, dim=1)
        logits = a @ t.T / temperature
        loss = (
            torch.nn.functional.cross_entropy(logits, targets)
            + torch.nn.functional.cross_entropy(logits.T, targets)
        ) / 2
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return Projections(
        audio_embedder,
        dict(audio_options or {}),
        mean.astype(np.float32),
        std.astype(np.float32),
        audio_matrix.detach().numpy(),
        text_matrix.detach().numpy(),
        {
            "pairs": len(audio),
            "dims": dims,
            "steps": steps,
            "learning_rate": learning_rate,
            "temperature": temperature,
            "seed": seed,
            "loss_first": losses[0],
            "loss_last": losses[-1],
        },
    )


def fit_projection(
    clips: Clips,
    captions: Mapping[str, str],
    out: str | Path,
    cache_dir: str | Path,
    audio_embedder: str = "musicnn",
    audio_options: dict[str, Any] | None = None,
    **training: Any,
) -> Projections:
    """Train the projections on every id that has both a clip and a caption; save to ``out``.

    Audio features are the mean of the embedder's frames per clip (cached like bench's).
    """
    ids = sorted(set(clips.ids()) & set(captions))
    embedder = make_embedder(audio_embedder, **(audio_options or {}))
    cache = EmbeddingCache(cache_dir, embedder)
    frames = embed_clips(cache, clips, ids, embedder.rate, "joint training", 16)
    audio = np.stack([frames[i].mean(axis=0) for i in ids])
    text = text_encoder.encode([captions[i] for i in ids])
    projections = train_projections(audio, text, audio_embedder, audio_options, **training)
    projections.save(out)
    return projections


def fit_projection_on_catalog(
    clips: str | Path,
    captions: str,
    out: str | Path,
    cache_dir: str | Path | None = None,
    **settings: Any,
) -> Projections:
    """``mck train projection``: fit on the clips of a folder (or records) that have a
    caption in the catalog ``captions``; the embedding cache defaults to beside ``out``."""
    by_id = {clip.ytid: clip.caption for clip in catalog.load(captions)}
    clip_set = ClipSet(clips)
    if len(clip_set.ids() & by_id.keys()) < 2:
        raise ValueError(f"{clips}: fewer than two clips have a caption in {captions}")
    cache_dir = cache_dir or Path(out).parent / "embeddings"
    return fit_projection(clip_set, by_id, out, cache_dir, **settings)


class ProjectedAudio(Embedder):
    """The audio tower: the base embedder's frames, standardised and projected."""

    name = "projection-audio"

    def __init__(self, base: Embedder, projections: Projections, checkpoint: Path):
        self.base, self.projections = base, projections
        self.rate = base.rate
        self._checksum = checksum_files([checkpoint])

    def embed(self, wave: np.ndarray) -> np.ndarray:
        return self.embed_many([wave])[0]

    def embed_many(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        p = self.projections
        return [
            ((frames - p.audio_mean) / p.audio_std) @ p.audio_matrix
            for frames in self.base.embed_many(waves)
        ]

    def weights_checksum(self) -> str:
        return self._checksum

    def settings(self) -> dict[str, Any]:
        return {
            "base": self.base.recipe(),
            "dims": int(self.projections.audio_matrix.shape[1]),
            "windowing": "the base embedder's; a clip is the mean of its frames",
        }


@register_joint("projection")
class ProjectionJoint(JointModel):
    """Load a trained ``Projections`` file given by ``checkpoint``."""

    name = "projection"

    def __init__(self, checkpoint: str | None = None):
        if not checkpoint:
            raise ValueError("the projection joint model needs a checkpoint (--mcc-checkpoint)")
        self.checkpoint = Path(checkpoint)
        self.projections = Projections.load(self.checkpoint)
        base = make_embedder(self.projections.audio_embedder, **self.projections.audio_options)
        self.audio = ProjectedAudio(base, self.projections, self.checkpoint)

    def text(self, captions: Sequence[str]) -> np.ndarray:
        return text_encoder.encode(captions) @ self.projections.text_matrix

    def text_recipe(self) -> dict[str, Any]:
        return {**text_encoder.recipe(), "projection_sha256": self.audio.weights_checksum()}
