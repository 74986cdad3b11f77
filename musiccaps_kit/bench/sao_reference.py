"""stable-audio-metrics' precomputed references, so a system can be scored without the
reference audio, as the tool's ``*_no-audio.py`` examples do:

* reference probabilities (``load/passt_kld/*.pkl``): a pickled dict id -> float32 torch
  tensor [527] (softmax of PaSST's mean logits over 10 s windows every 5 s), for
  ``kld_passt_sao``. A pickle runs code when loaded; this one is read by an unpickler that
  admits only what such a file holds (a dict, ``OrderedDict``, tensors rebuilt by
  ``torch._utils._rebuild_tensor_v2`` from storages, whose bytes are loaded with
  ``torch.load(weights_only=True)``): anything else is refused, never executed.
* reference statistics (``load/openl3_fd/*.npz``: ``mu_ref``, ``sigma_ref``), for
  ``fd_openl3``.
"""

from __future__ import annotations

import collections
import io
import pickle
from pathlib import Path

import numpy as np

from musiccaps_kit.bench.metrics.frechet import GaussianStats

CLASSES = 527


class SaoReferenceError(ValueError):
    """A reference file that is not what stable-audio-metrics writes."""


class _TensorsOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        import torch

        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return torch._utils._rebuild_tensor_v2
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return lambda blob: torch.load(io.BytesIO(blob), weights_only=True)
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"refused {module}.{name}: only tensors are admitted")


def read_probabilities(path: str | Path) -> dict[str, np.ndarray]:
    """id (as text) -> float64 [527] probabilities from a stable-audio-metrics pickle; a file
    holding anything else, or a row that is not a probability distribution over AudioSet's
    527 classes, is a ``SaoReferenceError`` naming the file and the id."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = _TensorsOnly(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, OSError, RuntimeError) as e:
        raise SaoReferenceError(
            f"{path}: not a stable-audio-metrics probabilities file ({e})"
        ) from None
    if not isinstance(data, dict) or not data:
        raise SaoReferenceError(f"{path}: holds a {type(data).__name__}, not a dict of ids")
    out = {}
    for key, value in data.items():
        row = np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)
        if row.shape != (CLASSES,) or not np.isfinite(row).all() or (row < 0).any():
            raise SaoReferenceError(
                f"{path}: id {key!r} is not {CLASSES} finite probabilities (shape {row.shape})"
            )
        if abs(row.sum() - 1.0) > 1e-3:
            raise SaoReferenceError(f"{path}: id {key!r} sums to {row.sum():.4f}, not 1")
        out[str(key)] = row
    return out


def read_statistics(path: str | Path, dims: int) -> GaussianStats:
    """The Gaussian of a stable-audio-metrics ``mu_ref`` / ``sigma_ref`` file for ``dims``-d
    embeddings. The file keeps no frame count; two nominal frames give back the mean and
    covariance exactly (only they enter the Fréchet distance)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            mu, sigma = (
                np.asarray(data["mu_ref"], np.float64),
                np.asarray(data["sigma_ref"], np.float64),
            )
    except (KeyError, OSError, ValueError) as e:
        raise SaoReferenceError(f"{path}: not stable-audio-metrics statistics ({e})") from None
    if mu.shape != (dims,) or sigma.shape != (dims, dims):
        raise SaoReferenceError(
            f"{path}: statistics of {mu.shape[0] if mu.ndim else '?'}-d embeddings; this "
            f"OpenL3 gives {dims}-d (the released network: 1024 for 2 channels, 512 for 1)"
        )
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise SaoReferenceError(f"{path}: mu_ref or sigma_ref holds NaN or infinity")
    return GaussianStats(2, 2 * mu, sigma + 2 * np.outer(mu, mu))


def is_statistics(path: str | Path) -> bool:
    """Whether ``path`` looks like stable-audio-metrics statistics (an .npz with mu_ref)."""
    path = Path(path)
    if path.suffix != ".npz" or not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            return "mu_ref" in data.files
    except (OSError, ValueError):
        return False


class ReferenceProbabilities:
    """A reference made of stable-audio-metrics' probabilities instead of audio: it has ids
    (those of the pickle) and a distribution per id, and nothing to listen to."""

    is_records = False

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.probabilities = read_probabilities(self.path)
        self.excluded: list[str] = []

    def ids(self) -> set[str]:
        return set(self.probabilities)

    def exclude(self, ids) -> list[str]:
        held = sorted(set(ids) & self.ids())
        for clip_id in held:
            del self.probabilities[clip_id]
        self.excluded = held
        return held

    def warnings(self) -> list[dict[str, str]]:
        return []

    def source_rates(self, ids) -> list[int]:
        return []
