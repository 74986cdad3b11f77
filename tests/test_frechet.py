import warnings

import numpy as np
import pytest

from musiccaps_kit.bench.metrics.frechet import (
    GaussianStats,
    RankDeficientWarning,
    bootstrap_fad,
    fad,
    fad_inf,
    frechet_distance,
    frechet_distance_sqrtm,
    per_clip_fad,
    sum_stats,
)


def _pair(rng, dims, frames):
    mix = rng.standard_normal((dims, dims)) / np.sqrt(dims)
    a = rng.standard_normal((frames, dims)) @ mix
    b = rng.standard_normal((frames, dims)) @ (mix * 1.3) + 0.2
    return a, b


@pytest.mark.parametrize("dims", [8, 64, 256])
def test_matches_the_sqrtm_formula_on_well_conditioned_statistics(dims):
    a, b = _pair(np.random.default_rng(dims), dims, 20 * dims)
    sa, sb = GaussianStats.of(a), GaussianStats.of(b)
    ours = fad(sa, sb)
    reference = frechet_distance_sqrtm(sa.mean, sa.cov, sb.mean, sb.cov)
    assert ours == pytest.approx(reference, rel=1e-6)
    np.testing.assert_allclose(sa.cov, np.cov(a.T), rtol=1e-9, atol=1e-12)


def test_rank_deficient_statistics_stay_finite_and_non_negative():
    rng = np.random.default_rng(1)
    dims = 64
    a = rng.standard_normal((20, dims))  # 20 frames, 64 dims: singular covariances
    with pytest.warns(RankDeficientWarning, match="20 frames for 64 dimensions"):
        same = fad(GaussianStats.of(a), GaussianStats.of(a))
    assert np.isfinite(same) and 0 <= same < 1e-6
    b = rng.standard_normal((20, dims)) * 1e-9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficientWarning)
        value = fad(GaussianStats.of(a), GaussianStats.of(b))
    assert np.isfinite(value) and value >= 0
    # b is almost zero: the distance is essentially a's spread plus the mean gap.
    sa = GaussianStats.of(a)
    assert value == pytest.approx(sa.mean @ sa.mean + np.trace(sa.cov), rel=1e-3)


def test_identical_sets_score_zero_even_where_sqrtm_goes_negative():
    rng = np.random.default_rng(2)
    low_rank = rng.standard_normal((300, 5)) @ rng.standard_normal((5, 128))
    s = GaussianStats.of(low_rank)
    assert frechet_distance(s.mean, s.cov, s.mean, s.cov) >= 0
    assert frechet_distance(s.mean, s.cov, s.mean, s.cov) < 1e-6


def test_statistics_merge_across_parts_and_round_trip_through_npz(tmp_path):
    rng = np.random.default_rng(3)
    frames = rng.standard_normal((500, 16))
    whole = GaussianStats.of(frames)
    merged = sum_stats([GaussianStats.of(part) for part in np.array_split(frames, 7)])
    assert merged.count == 500
    np.testing.assert_allclose(merged.cov, whole.cov, rtol=1e-12)
    merged.save(tmp_path / "stats.npz")
    loaded = GaussianStats.load(tmp_path / "stats.npz")
    np.testing.assert_array_equal(loaded.outer, merged.outer)
    with pytest.raises(ValueError, match="NaN"):
        GaussianStats.of(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="cannot merge"):
        whole + GaussianStats.empty(3)


def test_fad_inf_bootstrap_and_per_clip_are_seeded_and_sensible():
    rng = np.random.default_rng(4)
    dims = 8
    ref = GaussianStats.of(rng.standard_normal((4000, dims)))
    frames = [rng.standard_normal((20, dims)) + 0.5 for _ in range(60)]
    clips = [GaussianStats.of(f) for f in frames]
    pooled = np.concatenate(frames)
    inf1, inf2 = fad_inf(ref, pooled, min_n=40, seed=7), fad_inf(ref, pooled, min_n=40, seed=7)
    assert inf1 == inf2
    # The biased FAD of all clips exceeds the extrapolated value; the bias shrinks with n.
    assert inf1.value < fad(ref, sum_stats(clips))
    assert inf1.slope > 0
    assert abs(inf1.value - dims * 0.25) < 0.5  # true distance: |0.5|^2 per dimension
    # the reference as fixed statistics (as from a file); the clips resampled
    low, high = bootstrap_fad([], clips, False, rounds=50, seed=3, fixed_reference=ref)
    assert (low, high) == bootstrap_fad([], clips, False, rounds=50, seed=3, fixed_reference=ref)
    assert low < fad(ref, sum_stats(clips)) < high
    scores = per_clip_fad(ref, {f"c{i}": c for i, c in enumerate(clips[:3])})
    assert set(scores) == {"c0", "c1", "c2"} and all(v > 0 for v in scores.values())


def test_the_gram_path_equals_the_covariance_path():
    from musiccaps_kit.bench.metrics.frechet import bootstrap_fad_frames, gram_fad

    rng = np.random.default_rng(11)
    ref = [rng.normal(size=(3, 64)) for _ in range(10)]
    gen = [rng.normal(size=(3, 64)) * 1.3 + 0.2 for _ in range(10)]
    counts = rng.integers(0, 3, 10)
    counts[:2] = 1
    weighted = [
        GaussianStats(s.count * c, s.total * c, s.outer * c)
        for s, c in zip([GaussianStats.of(f) for f in ref], counts, strict=True)
        if c
    ]
    expected = fad(sum_stats(weighted), sum_stats([GaussianStats.of(f) for f in gen]))
    # fewer frames than dimensions: both paths work on rank-deficient covariances, where
    # the d x d eigensolve clips near-zero eigenvalues; they agree to 1e-7 relative
    assert gram_fad(ref, counts, gen, np.ones(10, int)) == pytest.approx(expected, rel=1e-7)
    stats = ([GaussianStats.of(f) for f in ref], [GaussianStats.of(f) for f in gen])
    for paired in (True, False):
        by_stats = bootstrap_fad(*stats, paired, rounds=40, seed=5)
        by_frames = bootstrap_fad_frames(ref, gen, paired, rounds=40, seed=5)
        assert by_frames == pytest.approx(by_stats, rel=1e-7)


@pytest.mark.parametrize("frames", [3, 40, 300])
def test_fad_to_frames_is_the_covariance_route(frames):
    from musiccaps_kit.bench.metrics.frechet import fad_to_frames

    rng = np.random.default_rng(frames)
    ref = GaussianStats.of(rng.standard_normal((500, 64)) @ rng.standard_normal((64, 64)))
    x = rng.standard_normal((frames, 64)) * 1.2 + 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficientWarning)
        expected = fad(ref, GaussianStats.of(x))
    assert fad_to_frames(ref, x) == pytest.approx(expected, rel=1e-8)
    scores = per_clip_fad(ref, {"a": x, "b": GaussianStats.of(x), "lonely": x[:1]})
    assert set(scores) == {"a", "b"} and scores["a"] == pytest.approx(scores["b"], rel=1e-8)
