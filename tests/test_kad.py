"""KAD against kadtk's published formula written out here, the blocked paths against the
full ones, KAD-inf, per-clip KAD and the bootstrap."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from musiccaps_kit.bench.metrics.kad import (
    bootstrap_kad,
    kad,
    kad_inf,
    median_pairwise_distance,
    per_clip_kad,
)


def kadtk_formula(x: np.ndarray, y: np.ndarray) -> float:
    """kadtk 1.1.0 ``calc_kernel_audio_distance`` as its README and paper state it, in
    float64 NumPy: bandwidth = lower median of the system's pairwise distances, Gaussian
    kernel exp(-d2 / (2 bw^2 + 1e-8)), unbiased MMD^2 (diagonals out), times 100."""
    distances = np.sort(pdist(y))
    bandwidth = distances[(len(distances) - 1) // 2]
    gamma = 1 / (2 * bandwidth**2 + 1e-8)

    def mean_kernel(a, b, drop_diagonal):
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        k = np.exp(-gamma * d2)
        if drop_diagonal:
            return (k.sum() - np.trace(k)) / (len(a) * (len(a) - 1))
        return k.mean()

    return 100 * (mean_kernel(x, x, True) + mean_kernel(y, y, True) - 2 * mean_kernel(x, y, False))


def _sets(seed, m=240, n=180, d=16, shift=0.3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, d)).astype(np.float32)
    y = (rng.standard_normal((n, d)) * 1.1 + shift).astype(np.float32)
    return x, y


@pytest.mark.parametrize("shift", [0.0, 0.3, 1.5])
def test_kad_is_kadtks_formula(shift):
    x, y = _sets(1, shift=shift)
    expected = kadtk_formula(x.astype(np.float64), y.astype(np.float64))
    assert kad(x, y) == pytest.approx(expected, rel=1e-4, abs=1e-5)
    # float64 kernels; the bandwidth stays float32 (kadtk's median_pairwise_distance)
    assert kad(x, y, precision="float64") == pytest.approx(expected, rel=1e-6, abs=1e-8)


def test_the_bandwidth_is_the_lower_median_of_the_system_frames():
    _, y = _sets(2, n=9)  # 36 distances: the lower of the two middle ones
    expected = np.sort(pdist(y.astype(np.float64)))[17]
    assert median_pairwise_distance(y) == pytest.approx(expected, rel=1e-6)
    x, _ = _sets(3)
    # the reference's frames do not enter the bandwidth
    assert kad(x, y) == pytest.approx(kad(x, y, bandwidth=median_pairwise_distance(y)), rel=1e-7)


def test_blocks_give_what_the_full_matrices_give():
    x, y = _sets(4, m=700, n=530)
    full = kad(x, y)
    assert kad(x, y, block=128) == pytest.approx(full, rel=1e-5, abs=1e-6)
    # the exact two-pass median over blocks is the same order statistic as pdist's
    for n in (530, 529):  # an odd and an even number of pairs
        frames = y[:n]
        expected = np.sort(pdist(frames.astype(np.float64)))[(n * (n - 1) // 2 - 1) // 2]
        assert median_pairwise_distance(frames, block=100) == pytest.approx(expected, rel=1e-6)


def test_a_set_against_itself_is_slightly_negative_as_in_kadtk():
    x, y = _sets(5)
    same = kad(x, x)
    # x against itself: the cross term keeps the diagonal (k = 1) that the others drop,
    # so KAD = -200 (1 - mean off-diagonal k) / m: negative, and small for large m
    d2 = ((x[:, None, :].astype(float) - x[None, :, :]) ** 2).sum(-1)
    distances = np.sort(pdist(x.astype(float)))
    k = np.exp(-d2 / (2 * distances[(len(distances) - 1) // 2] ** 2 + 1e-8))
    mean_k = (k.sum() - len(x)) / (len(x) * (len(x) - 1))
    assert same == pytest.approx(-200 * (1 - mean_k) / len(x), rel=1e-4)
    assert same < 0 < kad(x, y)


def test_bad_input_is_refused():
    x, y = _sets(7)
    with pytest.raises(ValueError, match="NaN"):
        kad(x, np.where(np.arange(16) == 3, np.nan, y))
    with pytest.raises(ValueError, match="16-d and 8-d"):
        kad(x, y[:, :8])
    with pytest.raises(ValueError, match="at least 2 frames"):
        kad(x, y[:1])


def test_kad_inf_follows_kadtk_score_inf():
    x, y = _sets(8, m=400, n=900, shift=0.5)
    first, again = (
        kad_inf(x, y, steps=6, min_n=200, seed=3),
        kad_inf(x, y, steps=6, min_n=200, seed=3),
    )
    assert first == again
    assert [n for n, _ in first.points] == [int(n) for n in np.linspace(200, 900, 6)]
    # KAD has no sample-size bias: the extrapolated value stays near the full-set value
    assert first.value == pytest.approx(kad(x, y), rel=0.15)
    assert set(first.as_dict()) == {"value", "slope", "r2"}


def test_per_clip_kad_is_each_clip_against_the_whole_reference():
    x, y = _sets(9, n=60)
    clips = {"a": y[:30], "b": y[30:], "lonely": y[:1]}
    scores = per_clip_kad(x, clips)
    assert set(scores) == {"a", "b"}  # one frame: n(n - 1) = 0, no KAD
    assert scores["a"] == pytest.approx(kadtk_formula(x.astype(float), y[:30].astype(float)), 1e-4)


@pytest.mark.parametrize("paired", [True, False])
def test_bootstrap_is_seeded_contains_the_estimate_and_matches_the_estimate(paired):
    rng = np.random.default_rng(10)
    reference = [rng.standard_normal((12, 8)).astype(np.float32) for _ in range(15)]
    system = [(f + 0.4 + rng.standard_normal(f.shape) * 0.2).astype(np.float32) for f in reference]
    pooled_x, pooled_y = np.concatenate(reference), np.concatenate(system)
    estimate = kad(pooled_x, pooled_y, precision="float64")
    low, high = bootstrap_kad(reference, system, paired, rounds=60, seed=2)
    assert (low, high) == bootstrap_kad(reference, system, paired, rounds=60, seed=2)
    assert low <= estimate <= high and high > low
    # the per-clip kernel sums reproduce the pooled KAD exactly when every clip is drawn once
    low0, high0 = bootstrap_kad(reference, system, paired, rounds=10, seed=0, estimate=None)
    assert low0 <= estimate <= high0
    fixed_low, fixed_high = bootstrap_kad(
        [], system, False, rounds=30, seed=1, fixed_reference=reference
    )
    assert fixed_low <= estimate <= fixed_high


def test_per_clip_kernel_sums_give_the_kad_of_any_multiset_of_clips():
    from musiccaps_kit.bench.metrics.kad import ClipKernelSums, _gamma

    rng = np.random.default_rng(11)
    reference = [rng.standard_normal((n, 6)).astype(np.float32) for n in (5, 9, 3, 7)]
    system = [(rng.standard_normal((n, 6)) + 0.3).astype(np.float32) for n in (4, 8, 6)]
    bandwidth = 2.5
    xx = ClipKernelSums(reference, None, _gamma(bandwidth))
    yy = ClipKernelSums(system, None, _gamma(bandwidth))
    xy = ClipKernelSums(reference, system, _gamma(bandwidth))
    for ref_counts, sys_counts in (([1, 1, 1, 1], [1, 1, 1]), ([2, 0, 1, 3], [0, 2, 1])):
        wx, wy = np.array(ref_counts, float), np.array(sys_counts, float)
        from_sums = 100 * (
            xx.mean_off_diagonal(wx) + yy.mean_off_diagonal(wy) - 2 * xy.mean_cross(wx, wy)
        )
        # the pooled multiset: a clip drawn twice is there twice (its copies' pairs count)
        x = np.concatenate(
            [f for f, c in zip(reference, ref_counts, strict=True) for _ in range(c)]
        )
        y = np.concatenate([f for f, c in zip(system, sys_counts, strict=True) for _ in range(c)])
        assert from_sums == pytest.approx(kad(x, y, bandwidth, precision="float64"), rel=1e-5)
