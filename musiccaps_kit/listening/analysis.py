"""The listening study's statistics, as the paper reports them and a little more.

* Wins per source: ratings where it was preferred (strongly or weakly); no preference
  counts for nobody (Table 1).
* The pairwise preference matrix (Fig. 7) and win percentages, overall and per opponent
  (Fig. 8); a percentage's denominator is every comparison the source was in, ties too.
* Per pair of sources, a Wilcoxon signed-rank test on the +2..-2 scores towards the
  first source (A/B order undone), ``zero_method`` and ``method`` stated, Bonferroni over
  the K(K-1)/2 pairs (statsmodels, ``method='bonferroni'``), alpha 0.01 by default. A pair
  whose ratings are all ties has no test; it enters the family with p = 1 and says so.
* Extra columns: a two-sided binomial sign test on wins (ties dropped), Bonferroni too,
  and Bradley-Terry strengths (ties dropped, 0.5 pseudo-wins each way per pair so a
  source that never wins keeps a finite strength) with seeded bootstrap intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from musiccaps_kit.bootstrap import METHOD, bootstrap_interval
from musiccaps_kit.listening.ratings import score_towards, winner

ZERO_METHODS = ("wilcox", "pratt", "zsplit")


@dataclass(frozen=True)
class AnalysisSettings:
    alpha: float = 0.01
    zero_method: str = "wilcox"
    method: str = "asymptotic"
    bootstrap_rounds: int = 1000
    confidence: float = 0.95
    seed: int = 0

    def __post_init__(self):
        for name in ("alpha", "confidence"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ValueError(f"{name} must be in (0, 1), not {value}")


def _check(rows: list[dict[str, Any]], sources: Sequence[str] | None) -> list[str]:
    seen = sorted({r["source_a"] for r in rows} | {r["source_b"] for r in rows})
    if not rows:
        raise ValueError("no ratings to analyse")
    if sources is None:
        sources = seen
    unknown = sorted(set(seen) - set(sources))
    if unknown:
        raise ValueError(f"ratings name sources the study does not have: {', '.join(unknown)}")
    if len(sources) < 2:
        raise ValueError("a comparison needs at least two sources")
    rated = {frozenset((r["source_a"], r["source_b"])) for r in rows}
    for i, a in enumerate(sources):
        for b in sources[i + 1 :]:
            if frozenset((a, b)) not in rated:
                raise ValueError(f"the pair {a} vs {b} has no ratings: nothing to test")
    return list(sources)


def _wilcoxon(scores: np.ndarray, settings: AnalysisSettings) -> tuple[float | None, float, str]:
    from scipy.stats import wilcoxon

    if not np.any(scores):
        return None, 1.0, f"all {len(scores)} ratings are ties: no test (p = 1 in the family)"
    result = wilcoxon(scores, zero_method=settings.zero_method, method=settings.method)
    return float(result.statistic), float(result.pvalue), ""


def bradley_terry(wins: np.ndarray, prior: float = 0.5, iterations: int = 10000) -> np.ndarray:
    """Strengths (summing to 1) from ``wins[i, j]`` = times i beat j, by Hunter's MM
    algorithm, with ``prior`` pseudo-wins each way for every pair that was compared."""
    compared = (wins + wins.T) > 0
    w = wins + prior * compared
    games = w + w.T
    p = np.full(len(w), 1 / len(w))
    if not games.any():  # every comparison a tie: nothing tells the sources apart
        return p
    for _ in range(iterations):
        denominator = (games / (p[:, None] + p[None, :])).sum(axis=1)
        # a source in no decisive comparison keeps its strength
        updated = np.where(denominator > 0, w.sum(axis=1) / np.maximum(denominator, 1e-300), p)
        updated /= updated.sum()
        if np.max(np.abs(updated - p)) < 1e-12:
            return updated
        p = updated
    return p


def _win_matrix(rows: list[dict[str, Any]], index: dict[str, int]) -> np.ndarray:
    wins = np.zeros((len(index), len(index)))
    for row in rows:
        best = winner(row)
        if best is not None:
            other = row["source_b"] if best == row["source_a"] else row["source_a"]
            wins[index[best], index[other]] += 1
    return wins


def analyze(
    rows: list[dict[str, Any]],
    sources: Sequence[str] | None = None,
    settings: AnalysisSettings = AnalysisSettings(),
) -> dict[str, Any]:
    """Everything the paper reports from a set of ratings (see the module's docstring)."""
    from scipy.stats import binomtest
    from statsmodels.stats.multitest import multipletests

    if settings.zero_method not in ZERO_METHODS:
        raise ValueError(f"zero_method must be one of {ZERO_METHODS}")
    names = _check(rows, sources)
    index = {s: i for i, s in enumerate(names)}
    wins = _win_matrix(rows, index)
    counts = np.zeros_like(wins)
    for row in rows:
        i, j = index[row["source_a"]], index[row["source_b"]]
        counts[i, j] += 1
        counts[j, i] += 1
    comparisons = counts.sum(axis=1)

    pairs = [(a, b) for k, a in enumerate(names) for b in names[k + 1 :]]
    tests = []
    for a, b in pairs:
        mine = [r for r in rows if {r["source_a"], r["source_b"]} == {a, b}]
        scores = np.array([score_towards(r, a) for r in mine])
        statistic, p, note = _wilcoxon(scores, settings)
        wins_a, wins_b = int(wins[index[a], index[b]]), int(wins[index[b], index[a]])
        sign_p = binomtest(wins_a, wins_a + wins_b).pvalue if wins_a + wins_b else 1.0
        tests.append(
            {
                "a": a,
                "b": b,
                "n": len(mine),
                "mean_score_a": float(scores.mean()),
                "wins_a": wins_a,
                "wins_b": wins_b,
                "ties": len(mine) - wins_a - wins_b,
                "wilcoxon_statistic": statistic,
                "p": p,
                "sign_test_p": float(sign_p),
                "note": note,
            }
        )
    family = len(pairs)
    for key, adjusted_key in (("p", "p_bonferroni"), ("sign_test_p", "sign_test_p_bonferroni")):
        reject, adjusted, _, _ = multipletests(
            [t[key] for t in tests], alpha=settings.alpha, method="bonferroni"
        )
        for t, r, q in zip(tests, reject, adjusted, strict=True):
            t[adjusted_key] = float(q)
            if key == "p":
                t["significant"] = bool(r) and not t["note"]

    strengths = bradley_terry(wins)
    low, high = bootstrap_interval(
        strengths,
        lambda draw: bradley_terry(_win_matrix([rows[k] for k in draw], index)),
        len(rows),
        settings.bootstrap_rounds,
        settings.confidence,
        settings.seed,
    )

    return {
        "sources": names,
        "ratings": len(rows),
        "ties": int(len(rows) - wins.sum()),
        "wins": {s: int(wins[index[s]].sum()) for s in names},
        "comparisons": {s: int(comparisons[index[s]]) for s in names},
        "pairwise_wins": {a: {b: int(wins[index[a], index[b]]) for b in names} for a in names},
        "pairwise_ratings": {a: {b: int(counts[index[a], index[b]]) for b in names} for a in names},
        "win_percent": {
            a: {
                "overall": 100 * float(wins[index[a]].sum() / comparisons[index[a]]),
                "vs": {
                    b: 100 * float(wins[index[a], index[b]] / counts[index[a], index[b]])
                    for b in names
                    if b != a
                },
            }
            for a in names
        },
        "tests": tests,
        # the ratings themselves (order shown, raw answer), so that other tools (mck
        # bench --listening) can resample raters and clips
        "rating_rows": [
            {k: row.get(k) for k in ("rater", "clip_id", "source_a", "source_b", "answer")}
            for row in rows
        ],
        "bradley_terry": {
            s: {"strength": float(strengths[i]), "ci": [float(low[i]), float(high[i])]}
            for s, i in index.items()
        },
        "settings": {
            **asdict(settings),
            "test": "scipy.stats.wilcoxon on +2..-2 scores towards a, per pair",
            "correction": "Bonferroni (statsmodels multipletests, method='bonferroni')",
            "family_size": family,
            "per_test_threshold": settings.alpha / family,
            "sign_test": "scipy.stats.binomtest on wins, ties dropped, two-sided",
            "bradley_terry": "MM algorithm, ties dropped, 0.5 pseudo-wins each way per pair",
            "interval": f"{METHOD}, ratings resampled, seed {settings.seed}",
        },
    }
