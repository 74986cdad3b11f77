"""Kernel Audio Distance (KAD) as kadtk 1.1.0 computes it (``kadtk/kad.py``), in blocks.

KAD is the unbiased MMD^2 between the reference frames x ([m, d], kadtk's "baseline") and
the system frames y ([n, d], kadtk's "eval"), frames of all clips pooled, scaled by 100:

    KAD = 100 * ( sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (n (n - 1))
                  - 2 * mean_{i, j} k(x_i, y_j) )

with the Gaussian kernel k = exp(-gamma * d2), gamma = 1 / (2 * bandwidth^2 + 1e-8), squared
distances from Gram matrices (|a|^2 + |b|^2 - 2 a.b) and, when no bandwidth is given, the
bandwidth is ``torch.median(torch.pdist(y))`` in float32 (the lower median, over the
*system's* frames). Computed in float32 unless asked otherwise, as kadtk. It has no
sample-size bias and no Gaussian assumption, and it can be slightly negative.

kadtk holds the full (m + n)^2 matrices; here sets larger than ``BLOCK`` frames are summed
block by block, and the median of more than ``BLOCK`` frames' distances is found exactly in
two passes over blocks (a histogram, then the one bin that holds it), so memory stays at
a few blocks whatever the set size. Everything runs in torch on the bench's device
(``bench.device``: a GPU when chosen), with the same blocks and float32 arithmetic as on the
CPU; only the sums come back to the host.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from musiccaps_kit.bench import device
from musiccaps_kit.bench.metrics.extrapolation import Extrapolation, extrapolate
from musiccaps_kit.bootstrap import bootstrap_interval

SCALE = 100  # kadtk's SCALE_FACTOR
EPS = 1e-8  # kadtk's eps in gamma = 1 / (2 bandwidth^2 + eps)
BLOCK = 4096  # frames per block: larger sets are never held as full matrices


def _torch():
    import torch

    return torch


def _tensor(frames, precision):
    torch = _torch()
    x = torch.as_tensor(np.asarray(frames, dtype=np.float32), device=device.current())
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"KAD needs [frames, dims] with at least 2 frames, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("embeddings contain NaN or infinity")
    return x.to(precision)


def _blocks(n: int, block: int) -> list[tuple[int, int]]:
    return [(s, min(s + block, n)) for s in range(0, n, block)]


def _pair_squared_distances(y, sq, a: tuple[int, int], b: tuple[int, int]):
    """Squared distances between frames of blocks a and b (from the Gram matrix, clamped
    at 0), each unordered pair once."""
    d2 = _squared_distances(y[a[0] : a[1]], y[b[0] : b[1]], sq[a[0] : a[1]], sq[b[0] : b[1]])
    d2 = d2.clamp_(min=0)
    return d2[_torch().ones_like(d2, dtype=_torch().bool).triu_(1)] if a == b else d2.reshape(-1)


def median_pairwise_distance(frames, block: int = BLOCK, seed: int = 0) -> float:
    """kadtk's bandwidth: the lower median of the pairwise Euclidean distances, float32.

    Up to ``block`` frames: ``torch.median(torch.pdist(y))``, as kadtk. Above: the same
    order statistic without holding all n(n-1)/2 distances (from Gram matrices, so within
    1e-6 of pdist's direct differences): a sample of pairs brackets it, one pass over
    blocks counts the pairs below the bracket and keeps those inside, and the k-th value
    is read from those; should the bracket miss (about 1 in 10^6), it widens and repeats."""
    torch = _torch()
    y = _tensor(frames, torch.float32)
    n = len(y)
    if n <= block:
        return float(torch.median(torch.pdist(y)).item())
    total = n * (n - 1) // 2
    k = (total - 1) // 2  # torch.median's lower median: the k-th smallest, from 0
    sq = _square_norms(y)
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, n, (2, 200_000))
    keep = i != j
    i, j = (torch.as_tensor(v[keep], device=y.device) for v in (i, j))
    sample = (
        torch.cat(  # in chunks: 200,000 difference vectors at once would be 400 MB
            [
                ((y[i[c : c + 8192]] - y[j[c : c + 8192]]) ** 2).sum(1)
                for c in range(0, len(i), 8192)
            ]
        )
        .sort()
        .values
    )
    q = len(sample) / 2
    margin = 5 * (len(sample) / 4) ** 0.5 + 50  # five binomial standard deviations
    low = float(sample[max(int(q - margin), 0)])
    high = float(sample[min(int(q + margin), len(sample) - 1)])
    pairs = [(a, b) for t, a in enumerate(_blocks(n, block)) for b in _blocks(n, block)[t:]]
    while True:
        below, inside = 0, []
        for a, b in pairs:
            d2 = _pair_squared_distances(y, sq, a, b)
            below += int((d2 < low).sum())
            inside.append(d2[(d2 >= low) & (d2 <= high)])
        values = torch.sort(torch.cat(inside)).values
        if below <= k < below + len(values):
            return float(values[k - below].sqrt().item())
        low, high = (0.0, high) if k < below else (low, float("inf"))


def _gamma(bandwidth: float) -> float:
    return 1.0 / (2 * bandwidth**2 + EPS)


def _squared_distances(a, b, sq_a, sq_b):
    """|a|^2 + |b|^2 - 2 a.b between two blocks (kadtk's d2, from the Gram matrix)."""
    torch = _torch()
    return torch.addmm(sq_a.unsqueeze(1) + sq_b.unsqueeze(0), a, b.T, alpha=-2)


def _kernel_block(a, b, sq_a, sq_b, gamma: float):
    """exp(-gamma * d2) between two blocks."""
    return _squared_distances(a, b, sq_a, sq_b).mul_(-gamma).exp_()


def _square_norms(x):
    return (x * x).sum(1)


def _kernel_sums(a, b, gammas: Sequence[float], same: bool, block: int = BLOCK) -> np.ndarray:
    """For each gamma, the sum of exp(-gamma d2) over all pairs of a and b (``same``: a is
    b, the diagonal left out). Each block's distances are computed once for every gamma."""
    sq_a, sq_b = _square_norms(a), _square_norms(b)
    totals = np.zeros(len(gammas))
    for i, (s0, s1) in enumerate(_blocks(len(a), block)):
        columns = _blocks(len(b), block)[i:] if same else _blocks(len(b), block)
        for t0, t1 in columns:
            d2 = _squared_distances(a[s0:s1], b[t0:t1], sq_a[s0:s1], sq_b[t0:t1])
            for g, gamma in enumerate(gammas):
                k = (d2 * -gamma).exp_()
                if same and s0 == t0:
                    totals[g] += float(k.sum()) - float(k.diagonal().sum())
                else:
                    totals[g] += float(k.sum()) * (2 if same else 1)
    return totals


def _kernel_sum(a, b, gamma: float, same: bool, block: int = BLOCK) -> float:
    return float(_kernel_sums(a, b, [gamma], same, block)[0])


def _kad_against(x, xx_mean: float, y, gamma: float, block: int) -> float:
    """KAD of y against x when x's own term (at this gamma) is known."""
    m, n = len(x), len(y)
    yy = _kernel_sum(y, y, gamma, True, block) / (n * (n - 1))
    xy = _kernel_sum(x, y, gamma, False, block) / (m * n)
    return SCALE * (xx_mean + yy - 2 * xy)


def _kad_many(reference, systems: list, block: int = BLOCK) -> list[float]:
    """KAD of each system frame set against one reference, each with its own bandwidth
    (kadtk's rule): the reference's own term for every bandwidth in one pass over it."""
    torch = _torch()
    x = _tensor(reference, torch.float32)
    ys = [_tensor(y, torch.float32) for y in systems]
    gammas = [_gamma(median_pairwise_distance(y, block)) for y in ys]
    m = len(x)
    xx = _kernel_sums(x, x, gammas, True, block) / (m * (m - 1))
    return [
        _kad_against(x, xx[i], y, g, block) for i, (y, g) in enumerate(zip(ys, gammas, strict=True))
    ]


def _kad_full(x, y, gamma: float) -> float:
    """kadtk's ``calc_kernel_audio_distance`` step for step (full matrices)."""
    torch = _torch()
    m, n = len(x), len(y)
    xx = x @ x.T
    x_sq = torch.diagonal(xx)
    k_xx = torch.exp(-gamma * (x_sq.unsqueeze(1) + x_sq.unsqueeze(0) - 2 * xx))
    k_xx = k_xx - torch.diag(torch.diagonal(k_xx))
    yy = y @ y.T
    y_sq = torch.diagonal(yy)
    k_yy = torch.exp(-gamma * (y_sq.unsqueeze(1) + y_sq.unsqueeze(0) - 2 * yy))
    k_yy = k_yy - torch.diag(torch.diagonal(k_yy))
    k_xy = torch.exp(-gamma * (x_sq.unsqueeze(1) + y_sq.unsqueeze(0) - 2 * (x @ y.T)))
    value = k_xx.sum() / (m * (m - 1)) + k_yy.sum() / (n * (n - 1)) - 2 * k_xy.mean()
    return float(value * SCALE)


def kad(
    reference,
    system,
    bandwidth: float | None = None,
    precision: str = "float32",
    block: int = BLOCK,
) -> float:
    """KAD between reference frames (kadtk's x) and system frames (kadtk's y)."""
    torch = _torch()
    dtype = getattr(torch, precision)
    x, y = _tensor(reference, dtype), _tensor(system, dtype)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"cannot compare {x.shape[1]}-d and {y.shape[1]}-d embeddings")
    if bandwidth is None:
        bandwidth = median_pairwise_distance(system, block)
    gamma = _gamma(bandwidth)
    m, n = len(x), len(y)
    if max(m, n) <= block:
        return _kad_full(x, y, gamma)
    return _kad_against(x, _kernel_sum(x, x, gamma, True, block) / (m * (m - 1)), y, gamma, block)


def kad_inf(reference, system, steps: int = 25, min_n: int = 500, seed: int = 0) -> Extrapolation:
    """kadtk's ``score_inf``: KAD of draws of the system's frames against the whole
    reference, the bandwidth taken from each draw, extrapolated to n -> inf."""

    def score(pool: np.ndarray, draws: list[np.ndarray]) -> list[float]:
        return _kad_many(reference, [pool[d] for d in draws])

    return extrapolate(score, np.asarray(system, dtype=np.float32), steps, min_n, seed)


def per_clip_kad(reference, clips: dict[str, np.ndarray]) -> dict[str, float]:
    """kadtk's ``score_individual``: each clip's frames (y, with their own bandwidth)
    against the whole reference. A clip of one frame has no KAD (n(n - 1) = 0) and is left
    out."""
    kept = {clip_id: frames for clip_id, frames in clips.items() if len(frames) >= 2}
    return dict(zip(kept, _kad_many(reference, list(kept.values())), strict=True)) if kept else {}


class ClipKernelSums:
    """Kernel sums between the clips of two frame sets at one bandwidth, so that the KAD of
    any multiset of clips (a bootstrap draw) is a weighted sum instead of a new pass over
    the frames. ``within[a, b]`` sums k over the frames of clips a and b; ``diagonal[a]``
    sums k(f, f) over clip a's frames (kadtk leaves out the diagonal of the pooled matrix;
    a clip drawn twice keeps its cross-copy pairs, as the pooled matrix of the draw does)."""

    def __init__(self, left: Sequence[np.ndarray], right: Sequence[np.ndarray] | None, gamma):
        torch = _torch()
        self.gamma = gamma
        on = device.current()
        a = torch.as_tensor(np.concatenate(left), dtype=torch.float32, device=on)
        self.left_sizes = np.array([len(f) for f in left])
        owner_a = self._owners(self.left_sizes)
        if right is None:
            b, owner_b, self.right_sizes = a, owner_a, self.left_sizes
        else:
            b = torch.as_tensor(np.concatenate(right), dtype=torch.float32, device=on)
            self.right_sizes = np.array([len(f) for f in right])
            owner_b = self._owners(self.right_sizes)
        sums = torch.zeros(
            len(self.left_sizes), len(self.right_sizes), dtype=torch.float64, device=on
        )
        diagonal = torch.zeros(len(self.left_sizes), dtype=torch.float64, device=on)
        sq_a, sq_b = _square_norms(a), _square_norms(b)
        for s0, s1 in _blocks(len(a), BLOCK):
            for t0, t1 in _blocks(len(b), BLOCK):
                k = _kernel_block(a[s0:s1], b[t0:t1], sq_a[s0:s1], sq_b[t0:t1], gamma).double()
                # the block's kernel summed by (left clip, right clip): rows, then columns
                rows = torch.zeros(len(sums), t1 - t0, dtype=torch.float64, device=on)
                rows.index_add_(0, owner_a[s0:s1], k)
                sums.index_add_(1, owner_b[t0:t1], rows)
                if right is None and s0 == t0:
                    diagonal.index_add_(0, owner_a[s0:s1], k.diagonal())
        self.within, self.diagonal = sums.cpu().numpy(), diagonal.cpu().numpy()

    @staticmethod
    def _owners(sizes: np.ndarray):
        """Each frame's clip index."""
        return _torch().as_tensor(np.repeat(np.arange(len(sizes)), sizes), device=device.current())

    def mean_off_diagonal(self, counts: np.ndarray) -> float:
        """The mean of k over distinct frame pairs of one weighted set."""
        frames = float(counts @ self.left_sizes)
        total = counts @ self.within @ counts - counts @ self.diagonal
        return float(total / (frames * (frames - 1)))

    def mean_cross(self, left_counts: np.ndarray, right_counts: np.ndarray) -> float:
        frames = float(left_counts @ self.left_sizes) * float(right_counts @ self.right_sizes)
        return float(left_counts @ self.within @ right_counts / frames)


def bootstrap_kad(
    reference: list[np.ndarray],
    system: list[np.ndarray],
    paired: bool,
    rounds: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    fixed_reference: list[np.ndarray] | None = None,
    estimate: float | None = None,
    bandwidth: float | None = None,
) -> tuple[float, float]:
    """The interval of KAD from the project's bootstrap, clips resampled as FAD's are:
    paired (``reference[i]`` and ``system[i]`` share an id, drawn once for both) or each
    side on its own; ``fixed_reference`` clips join every round unchanged. The bandwidth
    stays at the whole system's value (or ``bandwidth``) in every round, so each round is
    exact arithmetic on per-clip kernel sums. KAD can be negative: no floor."""
    fixed = list(fixed_reference or [])
    ref_clips = reference + fixed
    if bandwidth is None:
        bandwidth = median_pairwise_distance(np.concatenate(system))
    gamma = _gamma(bandwidth)
    xx = ClipKernelSums(ref_clips, None, gamma)
    yy = ClipKernelSums(system, None, gamma)
    xy = ClipKernelSums(ref_clips, system, gamma)
    ones = np.ones(len(fixed))

    def value(ref_counts: np.ndarray, sys_counts: np.ndarray) -> float:
        wx = np.concatenate([ref_counts, ones]).astype(np.float64)
        wy = sys_counts.astype(np.float64)
        both = xx.mean_off_diagonal(wx) + yy.mean_off_diagonal(wy) - 2 * xy.mean_cross(wx, wy)
        return SCALE * both

    def statistic(*draws: np.ndarray) -> float:
        if paired:
            ref_draw = sys_draw = draws[0]
        elif reference:
            ref_draw, sys_draw = draws
        else:  # the whole reference is fixed
            ref_draw, sys_draw = np.zeros(0, dtype=int), draws[0]
        return value(
            np.bincount(ref_draw, minlength=len(reference)),
            np.bincount(sys_draw, minlength=len(system)),
        )

    if estimate is None:
        estimate = value(np.ones(len(reference)), np.ones(len(system)))
    sizes = (len(system),) if paired or not reference else (len(reference), len(system))
    low, high = bootstrap_interval(estimate, statistic, sizes, rounds, confidence, seed)
    return float(low), float(high)
