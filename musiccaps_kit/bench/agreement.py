"""Which metric ranks systems as listeners do: Kendall's tau between the systems ordered by
a metric (its better direction taken into account) and by the listening study's win rate.

+1: the metric ranks the systems exactly as the listeners' win rates do; -1: in reverse.
tau is scipy's tau-b (ties in either ranking handled). The interval is the project's
bootstrap over the study: each round draws raters and clips with replacement, a rating
weighs (draws of its rater) x (draws of its clip), and the win rates are recomputed; the
metric values stay at their estimates. A round whose win rates all tie has no tau and
counts as 0. The study is the ``listening.json`` that ``mck listen analyze`` writes; its
source names are the bench's ``--system`` names.
"""

from __future__ import annotations

import json
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.bootstrap import METHOD, bootstrap_interval
from musiccaps_kit.listening.ratings import SCORE_TOWARDS_A


def load_study(path: str | Path) -> dict[str, Any]:
    """A ``listening.json``; one without the ratings (written before they were kept) or not
    JSON at all is a ``ValueError`` naming the file."""
    path = Path(path)
    try:
        study = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"--listening {path}: not a readable listening.json ({e})") from None
    ratings = study.get("rating_rows") if isinstance(study, dict) else None
    if not ratings:
        raise ValueError(
            f"--listening {path}: no ratings inside; run `mck listen analyze` again to write "
            "a listening.json that keeps them"
        )
    for i, row in enumerate(ratings, start=1):
        if row.get("answer") not in SCORE_TOWARDS_A or not row.get("source_a"):
            raise ValueError(f"--listening {path}: rating {i} has no valid answer or sources")
    return study


def _kendall(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import kendalltau

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tau = kendalltau(x, y).statistic
    return float(tau) if np.isfinite(tau) else 0.0


class _Study:
    """The ratings as arrays: which systems each compares, who won, by which rater, on
    which clip; win rates for any weights."""

    def __init__(self, ratings: list[dict[str, Any]], systems: list[str]):
        index = {s: i for i, s in enumerate(systems)}
        kept = [r for r in ratings if r["source_a"] in index and r["source_b"] in index]
        self.a = np.array([index[r["source_a"]] for r in kept], dtype=int)
        self.b = np.array([index[r["source_b"]] for r in kept], dtype=int)
        score = np.array([SCORE_TOWARDS_A[r["answer"]] for r in kept])
        self.a_wins, self.b_wins = score > 0, score < 0
        raters = sorted({str(r.get("rater")) for r in kept})
        clips = sorted({str(r.get("clip_id")) for r in kept})
        self.rater = np.array([raters.index(str(r.get("rater"))) for r in kept], dtype=int)
        self.clip = np.array([clips.index(str(r.get("clip_id"))) for r in kept], dtype=int)
        self.sizes = (len(raters), len(clips))
        self.count = len(systems)
        self.ratings = len(kept)

    def win_rates(self, weights: np.ndarray) -> np.ndarray:
        """Wins (strong or weak) over comparisons per system, ties in the denominator."""
        wins = np.bincount(self.a, weights * self.a_wins, self.count)
        wins += np.bincount(self.b, weights * self.b_wins, self.count)
        shown = np.bincount(self.a, weights, self.count) + np.bincount(self.b, weights, self.count)
        return np.divide(wins, shown, out=np.zeros(self.count), where=shown > 0)


def _drawn_tau(data: _Study, goodness: np.ndarray, raters: np.ndarray, clips: np.ndarray) -> float:
    """tau in one bootstrap round: a rating weighs its rater's draws times its clip's."""
    rater_counts = np.bincount(raters, minlength=data.sizes[0])
    clip_counts = np.bincount(clips, minlength=data.sizes[1])
    weights = (rater_counts[data.rater] * clip_counts[data.clip]).astype(np.float64)
    return _kendall(goodness, data.win_rates(weights))


def agreement(
    values: dict[str, dict[str, float]],
    lower_is_better: dict[str, bool],
    study: dict[str, Any],
    rounds: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """``values[metric][system]`` against the study: per metric ``{"tau", "ci", "systems"}``
    over the systems both have, or ``{"skipped": why}`` where fewer than two are shared."""
    out: dict[str, dict[str, Any]] = {}
    for metric, by_system in values.items():
        sources = set(study.get("sources") or [])
        sources |= {r["source_a"] for r in study["rating_rows"]}
        systems = sorted(s for s in by_system if s in sources)
        if len(systems) < 2:
            out[metric] = {"skipped": f"{len(systems)} of its systems are in the study"}
            continue
        sign = -1.0 if lower_is_better[metric] else 1.0
        goodness = sign * np.array([by_system[s] for s in systems])
        data = _Study(study["rating_rows"], systems)
        if not data.ratings:
            out[metric] = {"skipped": "no rating compares two of its systems"}
            continue
        tau = _kendall(goodness, data.win_rates(np.ones(data.ratings)))
        statistic = partial(_drawn_tau, data, goodness)
        low, high = bootstrap_interval(tau, statistic, data.sizes, rounds, confidence, seed)
        out[metric] = {
            "tau": tau,
            "ci": [max(float(low), -1.0), min(float(high), 1.0)],
            "systems": systems,
            "ratings": data.ratings,
        }
    return out


def recipe(rounds: int, confidence: float, seed: int) -> dict[str, str]:
    return {
        "tau": "scipy.stats.kendalltau (tau-b): metric order (better first) vs win rate",
        "win_rate": "wins (strong or weak) / comparisons, ties in the denominator",
        "interval": f"{confidence:.0%} {METHOD}, clipped to [-1, 1]",
        "bootstrap": f"{rounds} rounds over raters and clips (weights multiply), seed {seed}",
    }
