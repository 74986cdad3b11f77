"""Which metric agrees with listeners: a synthetic study where one metric ranks the systems
as the listeners do and another in reverse, then the whole path from `mck listen analyze`
to `mck bench --listening` on real clips."""

import json
import random
import shutil

import pytest
from click.testing import CliRunner

from musiccaps_kit.bench.agreement import agreement, load_study
from musiccaps_kit.bench.degrade import degrade_folder
from musiccaps_kit.cli import main
from musiccaps_kit.listening.ratings import write_csv
from musiccaps_kit.resources import DEMO_AUDIO_DIR

# listeners prefer clean over light noise over heavy noise
PREFERENCE = ["clean", "light", "heavy"]


def _ratings(seed: int = 0, n: int = 60) -> list[dict]:
    """Each pair rated n times by 6 raters on 10 clips; the preferred system wins 80 % of
    decided ratings, a few ties, random A/B order."""
    rng = random.Random(seed)
    rows = []
    for i, better in enumerate(PREFERENCE):
        for worse in PREFERENCE[i + 1 :]:
            for k in range(n):
                a, b = (better, worse) if rng.random() < 0.5 else (worse, better)
                roll = rng.random()
                winner = None if roll < 0.1 else better if roll < 0.8 else worse
                answer = "none" if winner is None else f"{'A' if winner == a else 'B'}_weak"
                rows.append(
                    {
                        "rater": f"r{k % 6}",
                        "clip_id": f"clip{k % 10}",
                        "source_a": a,
                        "source_b": b,
                        "answer": answer,
                    }
                )
    return rows


def test_a_metric_ranking_like_listeners_scores_plus_one_and_the_reverse_minus_one():
    study = {"sources": PREFERENCE, "rating_rows": _ratings()}
    values = {
        "fad_x": {"clean": 1.0, "light": 2.0, "heavy": 5.0, "not-rated": 0.1},
        "mcc_x": {"clean": 0.1, "light": 0.2, "heavy": 0.3},
        "kad_x": {"clean": 1.0},
    }
    lower = {"fad_x": True, "mcc_x": False, "kad_x": True}
    out = agreement(values, lower, study, rounds=200, seed=3)
    assert out["fad_x"]["tau"] == pytest.approx(1.0)
    assert out["fad_x"]["systems"] == sorted(PREFERENCE)  # the unrated system is left out
    assert out["mcc_x"]["tau"] == pytest.approx(-1.0)
    for metric in ("fad_x", "mcc_x"):
        low, high = out[metric]["ci"]
        assert -1 <= low <= out[metric]["tau"] <= high <= 1
    assert "skipped" in out["kad_x"]
    assert out == agreement(values, lower, study, rounds=200, seed=3)


def test_a_study_without_its_ratings_is_refused(tmp_path):
    path = tmp_path / "listening.json"
    path.write_text(json.dumps({"sources": PREFERENCE, "wins": {}}))
    with pytest.raises(ValueError, match="no ratings inside"):
        load_study(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not a readable listening.json"):
        load_study(path)


def test_bench_with_a_listening_study_end_to_end(tmp_path):
    ratings = write_csv(_ratings(), tmp_path / "ratings.csv")
    analyzed = CliRunner().invoke(
        main, ["listen", "analyze", "--ratings", str(ratings), "--out", str(tmp_path / "study"),
               "--bootstrap", "20"],
    )  # fmt: skip
    assert analyzed.exit_code == 0, analyzed.output
    ref = tmp_path / "reference"
    ref.mkdir()
    for path in sorted(DEMO_AUDIO_DIR.glob("*.flac"))[::6]:
        shutil.copy(path, ref)
    light = degrade_folder(ref, tmp_path / "light", "noise", 30)
    heavy = degrade_folder(ref, tmp_path / "heavy", "noise", 5)
    out = tmp_path / "board"
    result = CliRunner().invoke(
        main,
        ["bench", "--reference", str(ref), "--system", f"clean={ref}", "--system",
         f"light={light}", "--system", f"heavy={heavy}", "--metrics", "fad_musicnn",
         "--listening", str(tmp_path / "study" / "listening.json"), "--bootstrap", "30",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    board = json.loads((out / "leaderboard.json").read_text())
    fad = board["agreement"]["metrics"]["fad_musicnn"]
    assert fad["tau"] == pytest.approx(1.0) and fad["systems"] == sorted(PREFERENCE)
    assert "kendalltau" in board["agreement"]["recipe"]["tau"]
    assert "id='agreement'" in (out / "report.html").read_text()
    assert "Which metric agrees with the listeners" in (out / "leaderboard.md").read_text()
