"""The listening-study statistics against scipy and statsmodels, a synthetic study with a
known ordering, and the paper's Table 1 wins from a ratings file built to match them."""

import json
import random

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import binomtest, wilcoxon
from statsmodels.stats.multitest import multipletests

from musiccaps_kit.cli import main
from musiccaps_kit.listening.analysis import AnalysisSettings, analyze, bradley_terry
from musiccaps_kit.listening.ratings import read_csv, score_towards, write_csv
from musiccaps_kit.resources import PAPER_TABLE1

# Per pair (first, second): wins of first, wins of second, no preference; 200 ratings each,
# so every source is in 600 comparisons and the wins add up to the paper's Table 1.
TABLE1_PAIRS = {
    ("Riffusion", "Mubert"): (90, 70, 40),
    ("Riffusion", "MusicLM"): (40, 130, 30),
    ("Riffusion", "MusicCaps"): (28, 150, 22),
    ("Mubert", "MusicLM"): (17, 150, 33),
    ("Mubert", "MusicCaps"): (10, 170, 20),
    ("MusicLM", "MusicCaps"): (32, 152, 16),
}


def _rows(pairs: dict, seed: int = 0) -> list[dict]:
    """Ratings as a rater would give them: random A/B order, strong or weak at random."""
    rng = random.Random(seed)
    rows = []
    for (x, y), (wins_x, wins_y, ties) in pairs.items():
        outcomes = ["x"] * wins_x + ["y"] * wins_y + ["="] * ties
        for n, outcome in enumerate(outcomes):
            a, b = (x, y) if rng.random() < 0.5 else (y, x)
            strength = rng.choice(["strong", "weak"])
            if outcome == "=":
                answer = "none"
            else:
                preferred = x if outcome == "x" else y
                answer = f"{'A' if preferred == a else 'B'}_{strength}"
            rows.append(
                {
                    "rater": f"rater-{n % 10}",
                    "clip_id": f"clip{n:07d}",
                    "source_a": a,
                    "source_b": b,
                    "answer": answer,
                }
            )
    rng.shuffle(rows)
    return rows


def test_the_paper_table1_wins_from_a_ratings_file(tmp_path):
    path = write_csv(_rows(TABLE1_PAIRS), tmp_path / "table1.csv")
    out = tmp_path / "analysis"
    result = CliRunner().invoke(
        main, ["listen", "analyze", "--ratings", str(path), "--out", str(out), "--bootstrap", "50"]
    )
    assert result.exit_code == 0, result.output
    analysis = json.loads((out / "listening.json").read_text())
    paper = json.loads(PAPER_TABLE1.read_text())
    expected = {row["system"].replace(" (reference)", ""): row["wins"] for row in paper["rows"]}
    assert (
        analysis["wins"]
        == expected
        == {"Riffusion": 158, "Mubert": 97, "MusicLM": 312, "MusicCaps": 472}
    )
    assert analysis["ratings"] == 1200 and analysis["ties"] == 161
    assert set(analysis["comparisons"].values()) == {600}
    assert analysis["settings"]["family_size"] == 6
    assert analysis["settings"]["per_test_threshold"] == pytest.approx(0.01 / 6)
    assert (out / "fig7_pairwise.png").stat().st_size > 10_000
    assert (out / "fig8_win_percent.png").stat().st_size > 10_000
    assert "| MusicCaps | 472 | 600 |" in (out / "listening.md").read_text()


@pytest.mark.parametrize("zero_method", ["wilcox", "pratt", "zsplit"])
def test_tests_match_scipy_and_statsmodels_called_directly(zero_method):
    rows = _rows(TABLE1_PAIRS, seed=1)
    settings = AnalysisSettings(zero_method=zero_method, bootstrap_rounds=10)
    result = analyze(rows, settings=settings)
    assert result["settings"]["zero_method"] == zero_method
    assert result["settings"]["method"] == "asymptotic"
    raw_p, sign_p = [], []
    for t in result["tests"]:
        mine = [r for r in rows if {r["source_a"], r["source_b"]} == {t["a"], t["b"]}]
        scores = [score_towards(r, t["a"]) for r in mine]
        direct = wilcoxon(scores, zero_method=zero_method, method="asymptotic")
        assert t["p"] == pytest.approx(direct.pvalue, rel=1e-12)
        assert t["wilcoxon_statistic"] == pytest.approx(direct.statistic)
        wins_a = sum(s > 0 for s in scores)
        wins_b = sum(s < 0 for s in scores)
        assert (t["wins_a"], t["wins_b"]) == (wins_a, wins_b)
        assert t["sign_test_p"] == pytest.approx(binomtest(wins_a, wins_a + wins_b).pvalue)
        raw_p.append(direct.pvalue)
        sign_p.append(t["sign_test_p"])
    reject, adjusted, _, _ = multipletests(raw_p, alpha=0.01, method="bonferroni")
    assert [t["p_bonferroni"] for t in result["tests"]] == pytest.approx(list(adjusted))
    assert [t["significant"] for t in result["tests"]] == list(reject)
    _, sign_adjusted, _, _ = multipletests(sign_p, method="bonferroni")
    assert [t["sign_test_p_bonferroni"] for t in result["tests"]] == pytest.approx(
        list(sign_adjusted)
    )


def test_a_synthetic_study_recovers_the_known_ordering():
    rng = np.random.default_rng(3)
    quality = {"worst": 0.0, "poor": 0.7, "fair": 1.4, "good": 2.1, "best": 2.8}
    names = list(quality)
    rows = []
    for n in range(2000):
        x, y = rng.choice(names, 2, replace=False)
        p_x = 1 / (1 + np.exp(quality[y] - quality[x]))
        u = rng.random()
        answer = "none" if abs(u - p_x) < 0.08 else ("A_weak" if u < p_x else "B_weak")
        rows.append(
            {
                "source_a": x,
                "source_b": y,
                "answer": answer,
                "rater": str(n % 7),
                "clip_id": f"c{n}",
            }
        )
    result = analyze(rows, settings=AnalysisSettings(bootstrap_rounds=100))
    strengths = result["bradley_terry"]
    assert sorted(names, key=lambda s: strengths[s]["strength"]) == names
    assert sorted(names, key=lambda s: result["win_percent"][s]["overall"]) == names
    extremes = next(t for t in result["tests"] if {t["a"], t["b"]} == {"worst", "best"})
    assert extremes["significant"]
    for s in names:
        low, high = strengths[s]["ci"]
        assert low <= strengths[s]["strength"] <= high


def test_bradley_terry_matches_the_closed_form_for_two_sources():
    strengths = bradley_terry(np.array([[0.0, 30.0], [10.0, 0.0]]), prior=0)
    assert strengths[0] / strengths[1] == pytest.approx(3.0, rel=1e-6)


def test_inconsistent_input_is_a_clear_message(tmp_path):
    rows = _rows(TABLE1_PAIRS)
    with pytest.raises(ValueError, match="sources the study does not have: Riffusion"):
        analyze(rows, ["Mubert", "MusicLM", "MusicCaps"])
    without = [r for r in rows if {r["source_a"], r["source_b"]} != {"Mubert", "MusicLM"}]
    with pytest.raises(ValueError, match="Mubert vs MusicLM has no ratings"):
        analyze(without)
    ties = _rows({("X", "Y"): (0, 0, 12), ("X", "Z"): (8, 2, 1), ("Y", "Z"): (5, 5, 0)})
    result = analyze(ties, settings=AnalysisSettings(bootstrap_rounds=10))
    tied = next(t for t in result["tests"] if {t["a"], t["b"]} == {"X", "Y"})
    assert tied["p"] == 1.0 and "all 12 ratings are ties" in tied["note"]
    assert not tied["significant"]
    assert not any(np.isnan(t["p_bonferroni"]) for t in result["tests"])
    bad = tmp_path / "bad.csv"
    bad.write_text("rater,clip_id,source_a,source_b,answer\nr1,c1,X,Y,A_strong\nr1,c2,X,Y,maybe\n")
    with pytest.raises(ValueError, match="line 3: answer 'maybe'"):
        read_csv(bad)
    out = CliRunner().invoke(
        main, ["listen", "analyze", "--ratings", str(bad), "--out", str(tmp_path / "o")]
    )
    assert out.exit_code != 0 and "line 3" in out.output


def test_all_ties_give_valid_json_and_finite_strengths(tmp_path):
    ties = _rows({("X", "Y"): (0, 0, 20)})
    ratings = write_csv(ties, tmp_path / "ties.csv")
    out = CliRunner().invoke(
        main, ["listen", "analyze", "--ratings", str(ratings), "--out", str(tmp_path / "o")]
    )
    assert out.exit_code == 0, out.output
    text = (tmp_path / "o" / "listening.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    result = json.loads(text)
    assert result["bradley_terry"]["X"]["strength"] == result["bradley_terry"]["Y"]["strength"]
    assert result["bradley_terry"]["X"]["ci"] == [0.5, 0.5]
    assert np.isfinite(bradley_terry(np.zeros((3, 3)))).all()


def test_bad_analysis_inputs_are_refused_clearly(tmp_path):
    rows = _rows({("X", "Y"): (6, 2, 2)})
    for row in rows:
        row["study"] = "s1"
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + (write_csv(rows, tmp_path / "plain.csv")).read_bytes())
    out = tmp_path / "out"
    ok = CliRunner().invoke(
        main, ["listen", "analyze", "--ratings", str(bom), "--study", "s1", "--out", str(out)]
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads((out / "listening.json").read_text())["ratings"] == 10
    for alpha in ("5", "-1", "0"):
        bad = CliRunner().invoke(
            main, ["listen", "analyze", "--ratings", str(bom), "--alpha", alpha, "--out", str(out)]
        )
        assert bad.exit_code == 2 and "--alpha" in bad.output
    with pytest.raises(ValueError, match="alpha must be in"):
        AnalysisSettings(alpha=5)
    missing = f"sqlite:///{tmp_path / 'typo.db'}"
    for args in (
        ["listen", "analyze", "--ratings", missing, "--out", str(out)],
        ["listen", "export", "--db", missing, "--out", str(tmp_path / "e.csv")],
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1 and "no ratings database at" in result.output
    assert not (tmp_path / "typo.db").exists()
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        "rater,clip_id,source_a,source_b,answer,comments\n"
        "r1,c1,X,Y,A_strong,ok\nr1,c2,X,Y,A_weak,caf\xe9\n".encode("latin-1")
    )
    result = CliRunner().invoke(
        main, ["listen", "analyze", "--ratings", str(latin), "--out", str(out)]
    )
    assert result.exit_code == 1 and f"{latin}: line 3 is not UTF-8" in result.output
