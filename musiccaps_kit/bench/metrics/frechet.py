"""Fréchet distance between Gaussians fitted to embeddings (FAD), from mergeable statistics.

Statistics are float64 sums (count, sum x, sum x x^T), the shape of Google's FAD Beam
pipeline: they add up across clips, shards and workers, so the mean and covariance (with
n - 1) of any union of clips come from its parts without revisiting a frame.

    FAD = |mu_a - mu_b|^2 + Tr(S_a) + Tr(S_b) - 2 Tr((S_a S_b)^(1/2))

The trace of the square root is a sum of square roots of eigenvalues, never a matrix
square root: with S_a = L L^T (Cholesky), S_a S_b has the eigenvalues of the symmetric
L^T S_b L; when S_a is singular, S_a^(1/2) from ``eigh`` stands in for L. Tiny negative
eigenvalues from round-off are clipped to 0, so the result is real and never negative,
where ``scipy.linalg.sqrtm`` returns complex parts or a negative distance.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import linalg

from musiccaps_kit.atomic import atomic_path
from musiccaps_kit.bench.metrics.extrapolation import Extrapolation, extrapolate
from musiccaps_kit.bootstrap import bootstrap_interval


class RankDeficientWarning(UserWarning):
    """Fewer frames than dimensions: the covariance is singular and FAD is biased."""


@dataclass
class GaussianStats:
    """Mergeable first and second moments of a set of embedding frames (float64)."""

    count: int
    total: np.ndarray
    outer: np.ndarray

    @classmethod
    def empty(cls, dims: int) -> GaussianStats:
        return cls(0, np.zeros(dims), np.zeros((dims, dims)))

    @classmethod
    def of(cls, frames: np.ndarray) -> GaussianStats:
        """Statistics of a ``[frames, dims]`` array; NaN or infinity is an error."""
        x = np.asarray(frames, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"embeddings must be [frames, dims], got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("embeddings contain NaN or infinity")
        return cls(len(x), x.sum(axis=0), x.T @ x)

    @property
    def dims(self) -> int:
        return len(self.total)

    def __add__(self, other: GaussianStats) -> GaussianStats:
        if self.dims != other.dims:
            raise ValueError(f"cannot merge {self.dims}-d and {other.dims}-d statistics")
        return GaussianStats(
            self.count + other.count, self.total + other.total, self.outer + other.outer
        )

    @property
    def mean(self) -> np.ndarray:
        return self.total / self.count

    @property
    def cov(self) -> np.ndarray:
        """Sample covariance (divides by n - 1)."""
        if self.count < 2:
            raise ValueError(f"a covariance needs at least 2 frames, got {self.count}")
        mu = self.mean
        cov = (self.outer - self.count * np.outer(mu, mu)) / (self.count - 1)
        return (cov + cov.T) / 2

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, count=self.count, total=self.total, outer=self.outer)

    @classmethod
    def load(cls, path: str | Path) -> GaussianStats:
        with np.load(path) as z:
            return cls(int(z["count"]), z["total"], z["outer"])


def sum_stats(parts: list[GaussianStats]) -> GaussianStats:
    if not parts:
        raise ValueError("no statistics to merge")
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    """Tr((cov_a cov_b)^(1/2)): the eigenvalues of cov_a cov_b are those of the generalised
    symmetric problem ``cov_a cov_b v = w v`` (LAPACK's sygv: a Cholesky of cov_b, the
    reduction to standard form, one symmetric eigensolve), about 1.4x one ``eigvalsh`` of
    the same size. A singular cov_b (fewer frames than dimensions) has no Cholesky: then
    the square root of cov_a from its eigenvalues, and the eigenvalues of sqrt(a) b sqrt(a)."""
    try:
        values = linalg.eigh(
            cov_a, cov_b, type=2, eigvals_only=True, driver="gv", check_finite=False
        )
    except np.linalg.LinAlgError:
        root = _psd_sqrt(cov_a)
        inner = root @ cov_b @ root
        values = linalg.eigh((inner + inner.T) / 2, eigvals_only=True, check_finite=False)
    return float(np.sqrt(np.clip(values, 0, None)).sum())


def frechet_distance(
    mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray, cov_b: np.ndarray
) -> float:
    """The Fréchet distance between N(mu_a, cov_a) and N(mu_b, cov_b), finite and >= 0."""
    diff = mu_a - mu_b
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt_product(cov_a, cov_b)
    return max(float(value), 0.0)


def frechet_distance_sqrtm(
    mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray, cov_b: np.ndarray
) -> float:
    """The textbook formula with ``scipy.linalg.sqrtm`` (the reference, slow and fragile)."""
    root = linalg.sqrtm(cov_a @ cov_b)
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root).real)


def fad(a: GaussianStats, b: GaussianStats, mean_dtype=None) -> float:
    """FAD between two sets of statistics; warns when a set has fewer frames than dims.
    ``mean_dtype=np.float16``: each mean rounded as fadtk's ``np.mean`` of its float16
    cached frames returns it."""
    for name, stats in (("first", a), ("second", b)):
        if stats.count < stats.dims:
            warnings.warn(
                f"the {name} set has {stats.count} frames for {stats.dims} dimensions: its "
                "covariance is singular and the distance is biased upwards",
                RankDeficientWarning,
                stacklevel=2,
            )
    if mean_dtype is None:
        return frechet_distance(a.mean, a.cov, b.mean, b.cov)
    mean_a, mean_b = (m.astype(mean_dtype).astype(np.float64) for m in (a.mean, b.mean))
    return frechet_distance(mean_a, a.cov, mean_b, b.cov)


def fad_to_frames(reference: GaussianStats, frames: np.ndarray) -> float:
    """FAD of a set of frames against reference statistics. With fewer frames than
    dimensions (a clip's 3 musicnn frames against 200 dimensions), the frames' covariance
    is Y^T Y with Y the centred frames over sqrt(n - 1), and Tr((S_r S_f)^(1/2)) is the sum
    of the square roots of the eigenvalues of the n x n matrix Y S_r Y^T: the value of the
    d x d route, at the cost of an n x n problem."""
    x = np.asarray(frames, dtype=np.float64)
    n, dims = x.shape
    if n >= dims or n < 2:
        return fad(reference, GaussianStats.of(x))
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN or infinity")
    mu = x.mean(axis=0)
    y = (x - mu) / np.sqrt(n - 1)
    cov_r = reference.cov
    inner = y @ cov_r @ y.T
    values = linalg.eigh((inner + inner.T) / 2, eigvals_only=True, check_finite=False)
    diff = reference.mean - mu
    value = diff @ diff + np.trace(cov_r) + np.einsum("ij,ij->", y, y)
    return max(float(value - 2 * np.sqrt(np.clip(values, 0, None)).sum()), 0.0)


def fad_inf(
    reference: GaussianStats, frames: np.ndarray, steps: int = 25, min_n: int = 500, seed: int = 0
) -> Extrapolation:
    """fadtk's FAD-inf (``FrechetAudioDistance.score_inf``): FAD of draws of the system's
    frames (with replacement) against the reference statistics, extrapolated to n -> inf."""

    def score(pool: np.ndarray, draws: list[np.ndarray]) -> list[float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RankDeficientWarning)
            return [fad_to_frames(reference, pool[draw]) for draw in draws]

    return extrapolate(score, np.asarray(frames), steps, min_n, seed)


def per_clip_fad(
    reference: GaussianStats, clips: dict[str, GaussianStats | np.ndarray]
) -> dict[str, float]:
    """Each clip's own frames (or their statistics) against the reference statistics
    (fadtk's per-song score). A clip of one frame (a scene embedding: PaSST's) has no
    covariance and no score."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficientWarning)
        return {
            clip_id: fad(reference, c)
            if isinstance(c, GaussianStats)
            else fad_to_frames(reference, c)
            for clip_id, c in clips.items()
            if (c.count if isinstance(c, GaussianStats) else len(c)) >= 2
        }


def bootstrap_fad(
    reference: list[GaussianStats],
    system: list[GaussianStats],
    paired: bool,
    rounds: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    fixed_reference: GaussianStats | None = None,
    estimate: float | None = None,
) -> tuple[float, float]:
    """The interval of FAD (``musiccaps_kit.bootstrap``'s method) from per-clip statistics,
    around ``estimate`` (FAD of everything, when not given).

    Paired: ``reference[i]`` and ``system[i]`` are the same id, and each round draws ids
    once for both sides (as the metric pairs them); unpaired: each side is drawn on its
    own. ``fixed_reference`` (reference clips the system lacks, or statistics from a file)
    joins every round's reference unchanged.
    """
    fixed = fixed_reference

    def total(stats: list[GaussianStats], draw: np.ndarray) -> GaussianStats:
        counts = np.bincount(draw, minlength=len(stats))
        out = GaussianStats.empty(stats[0].dims)
        for i in np.flatnonzero(counts):
            c, clip = int(counts[i]), stats[i]
            out = out + GaussianStats(clip.count * c, clip.total * c, clip.outer * c)
        return out

    def with_fixed(stats: GaussianStats) -> GaussianStats:
        return stats if fixed is None else stats + fixed

    def statistic(*draws: np.ndarray) -> float:
        ref_draw, sys_draw = (draws[0], draws[0]) if paired else draws
        ref = with_fixed(total(reference, ref_draw)) if reference else fixed
        return fad(ref, total(system, sys_draw))

    sizes = (len(system),) if paired else (max(len(reference), 1), len(system))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficientWarning)
        if estimate is None:
            ref_all = with_fixed(sum_stats(reference)) if reference else fixed
            estimate = fad(ref_all, sum_stats(system))
        low, high = bootstrap_interval(estimate, statistic, sizes, rounds, confidence, seed, 0.0)
    return float(low), float(high)


def _gram_side(frames: list[np.ndarray], counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean and ``Y`` of weighted frame sets: ``cov = Y^T Y`` with ``Y`` the centred
    frames of each clip scaled by sqrt(count / (n - 1))."""
    keep = [(f, int(c)) for f, c in zip(frames, counts, strict=True) if c]
    n = sum(c * len(f) for f, c in keep)
    if n < 2:
        raise ValueError(f"a covariance needs at least 2 frames, got {n}")
    mu = sum(c * f.sum(axis=0, dtype=np.float64) for f, c in keep) / n
    y = np.concatenate([np.sqrt(c / (n - 1)) * (f - mu) for f, c in keep])
    return mu, y


def gram_fad(a_frames: list[np.ndarray], a_counts, b_frames: list[np.ndarray], b_counts) -> float:
    """FAD of two weighted frame sets through their Gram matrix. With fewer frames than
    dimensions, Tr((A B)^(1/2)) is the sum of the singular values of ``Y_a Y_b^T`` (an
    n_a x n_b matrix) instead of an eigenproblem of size d; the value is the same."""
    mu_a, ya = _gram_side(a_frames, np.asarray(a_counts))
    mu_b, yb = _gram_side(b_frames, np.asarray(b_counts))
    diff = mu_a - mu_b
    cross = np.linalg.svd(ya @ yb.T, compute_uv=False).sum()
    value = diff @ diff + np.einsum("ij,ij->", ya, ya) + np.einsum("ij,ij->", yb, yb) - 2 * cross
    return max(float(value), 0.0)


def bootstrap_fad_frames(
    reference: list[np.ndarray],
    system: list[np.ndarray],
    paired: bool,
    rounds: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    fixed_reference: list[np.ndarray] | None = None,
    estimate: float | None = None,
) -> tuple[float, float]:
    """``bootstrap_fad`` from the clips' frames (the same draws, the same interval, around
    ``estimate`` when given): when each side has fewer frames than dimensions (musicnn's 3
    frames per 10 s clip against 200 dimensions), every round is a small Gram problem
    instead of d x d eigensolves."""
    fixed = fixed_reference or []
    dims = system[0].shape[1]
    frames_a = sum(len(f) for f in reference) + sum(len(f) for f in fixed)
    frames_b = sum(len(f) for f in system)
    if max(frames_a, frames_b) >= dims:
        stats = [GaussianStats.of(f) for f in reference]
        extra = sum_stats([GaussianStats.of(f) for f in fixed]) if fixed else None
        sys_stats = [GaussianStats.of(f) for f in system]
        return bootstrap_fad(
            stats, sys_stats, paired, rounds, confidence, seed, extra, estimate=estimate
        )
    ones = np.ones(len(fixed), dtype=int)

    def statistic(*draws: np.ndarray) -> float:
        ref_draw, sys_draw = (draws[0], draws[0]) if paired else draws
        ref_counts = np.bincount(ref_draw, minlength=len(reference))
        sys_counts = np.bincount(sys_draw, minlength=len(system))
        return gram_fad(reference + fixed, np.concatenate([ref_counts, ones]), system, sys_counts)

    if estimate is None:
        everything = np.ones(len(reference) + len(fixed), dtype=int)
        estimate = gram_fad(reference + fixed, everything, system, np.ones(len(system), int))
    sizes = (len(system),) if paired else (len(reference), len(system))
    low, high = bootstrap_interval(estimate, statistic, sizes, rounds, confidence, seed, 0.0)
    return float(low), float(high)
