"""The Beam embedding/statistics pipeline agrees with the in-process bench on real clips."""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from musiccaps_kit.bench.clips import ClipSet
from musiccaps_kit.bench.degrade import degrade_folder
from musiccaps_kit.bench.embedders import make_embedder
from musiccaps_kit.bench.embedding_cache import EmbeddingCache
from musiccaps_kit.bench.metrics.frechet import GaussianStats, fad, sum_stats
from musiccaps_kit.bench.run import BenchSettings, run_bench
from musiccaps_kit.cli import main
from musiccaps_kit.pipelines.embed_stats import MergeStats, run
from musiccaps_kit.resources import DEMO_AUDIO_DIR


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("beam")
    ref = root / "reference"
    ref.mkdir()
    for path in sorted(DEMO_AUDIO_DIR.glob("*.flac"))[:10]:
        shutil.copy(path, ref)
    return root, ref, degrade_folder(ref, root / "noisy", "noise", 10)


@pytest.fixture(scope="module")
def beam_ref(sets):
    root, ref, _ = sets
    return run(ref, "musicnn", root / "stats-ref", root / "cache-beam", batch_size=3)


def test_beam_statistics_equal_the_in_process_ones(sets, beam_ref):
    root, ref, _ = sets
    beam_stats = beam_ref
    clips = ClipSet(ref)
    cache = EmbeddingCache(root / "cache-local", make_embedder("musicnn"))
    local = sum_stats([GaussianStats.of(cache(clips.audio(i, 16000), 16000)) for i in clips.ids()])
    assert beam_stats.count == local.count == 30  # 10 clips x 3 patches
    np.testing.assert_allclose(beam_stats.total, local.total, rtol=1e-12)
    np.testing.assert_allclose(beam_stats.outer, local.outer, rtol=1e-12, atol=1e-9)
    recipe = json.loads((root / "stats-ref" / "stats.json").read_text())
    assert recipe["n_clips"] == 10 and recipe["recipe"]["embedder"] == "musicnn"


def test_fad_from_beam_statistics_equals_the_bench(sets):
    root, ref, noisy = sets
    result = run_bench(
        ref,
        {"noisy": noisy},
        BenchSettings(metrics=("fad_musicnn",), bootstrap_rounds=10),
        root / "cache-bench",
    )
    bench_value = result["rows"][0]["results"]["fad_musicnn"].value
    runner = CliRunner()
    for name, folder in (("ref", ref), ("noisy", noisy)):
        out = runner.invoke(
            main,
            [
                "stats",
                "--clips",
                str(folder),
                "--out",
                str(root / f"cli-{name}"),
                "--cache-dir",
                str(root / "cache-bench"),
                "--direct_num_workers=2",
            ],
        )
        assert out.exit_code == 0, out.output
    out = runner.invoke(main, ["fad", str(root / "cli-ref"), str(root / "cli-noisy")])
    assert out.exit_code == 0, out.output
    assert float(out.output.split()[1]) == pytest.approx(bench_value, rel=1e-6)


def test_merging_is_order_free_and_refuses_mixed_recipes(sets, beam_ref, tmp_path):
    rng = np.random.default_rng(0)
    parts = [GaussianStats.of(rng.normal(size=(5, 4))) for _ in range(6)]
    combine = MergeStats()
    left = combine.merge_accumulators([combine.add_input(None, p) for p in parts[:3]])
    right = combine.merge_accumulators([None, *(combine.add_input(None, p) for p in parts[3:])])
    merged = combine.extract_output(combine.merge_accumulators([right, left]))
    np.testing.assert_allclose(merged.outer, sum_stats(parts).outer, rtol=1e-12)
    root = sets[0]
    other = tmp_path / "other"
    other.mkdir()
    (other / "stats.json").write_text(json.dumps({"recipe": {"embedder": "vggish"}}))
    shutil.copy(root / "stats-ref" / "stats.npz", other)
    out = CliRunner().invoke(main, ["fad", str(root / "stats-ref"), str(other)])
    assert out.exit_code != 0 and "different embedder recipes" in out.output
    assert fad(merged, merged) == pytest.approx(0, abs=1e-9)


def test_a_bench_reads_what_the_beam_pipeline_embedded(sets, beam_ref, monkeypatch):
    """Workers of `mck stats` (a Beam cluster) fill the cache the bench reads: the bench
    then embeds nothing."""
    from musiccaps_kit.bench.columns.job import cached_model
    from musiccaps_kit.bench.embedders.musicnn import Musicnn

    root, ref, noisy = sets
    run(noisy, "musicnn", root / "stats-noisy", root / "cache-beam", batch_size=3)
    cached_model.cache_clear()

    def refuse(self, waves):
        raise AssertionError("the bench embedded a clip the pipeline had embedded")

    monkeypatch.setattr(Musicnn, "embed_many", refuse)
    settings = BenchSettings(metrics=("fad_musicnn",), bootstrap_rounds=10)
    result = run_bench(ref, {"noisy": noisy}, settings, root / "cache-beam")
    assert result["rows"][0]["results"]["fad_musicnn"].n == 10
