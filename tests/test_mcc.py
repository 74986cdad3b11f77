"""MCC: the joint-model interface with a small model trained here on real clips and
captions, the LAION-CLAP adapter's conventions, and MCC through ``mck bench``."""

import csv
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from musiccaps_kit.bench.clips import ClipSet
from musiccaps_kit.bench.joint import make_joint_model
from musiccaps_kit.bench.joint.projection import Projections, fit_projection
from musiccaps_kit.bench.metrics.mcc import clip_embedding, cosine, mcc
from musiccaps_kit.bench.run import BenchSettings, run_bench
from musiccaps_kit.data.demo_set import caption_for, write_realmusic_catalog
from musiccaps_kit.resources import DEMO_AUDIO_DIR

FAKES = Path(__file__).parent / "fakes"


def _split(realmusic: Path):
    """Captions by id; held-out tracks (every fourth of each source) apart from training."""
    with open(realmusic / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    tracks = sorted({(r["source"], r["track"]) for r in rows})
    held = {t for i, t in enumerate(tracks) if i % 4 == 0}
    captions = {r["clip_id"]: caption_for(r) for r in rows}
    test = {r["clip_id"] for r in rows if (r["source"], r["track"]) in held}
    return captions, set(captions) - test, test


@pytest.fixture(scope="module")
def trained(realmusic, tmp_path_factory):
    root = tmp_path_factory.mktemp("joint")
    captions, train, test = _split(realmusic)
    clips = ClipSet(realmusic / "clips")
    path = root / "projection.npz"
    fit_projection(clips, {i: captions[i] for i in train}, path, root / "cache", steps=200)
    return path, clips, captions, test, root


def test_matched_captions_score_higher_than_shuffled_on_held_out_tracks(trained):
    path, clips, captions, test, root = trained
    model = make_joint_model("projection", checkpoint=str(path))
    ids = sorted(test)
    audio = {i: clip_embedding(model.audio(clips.audio(i, 16000), 16000)) for i in ids}
    text = dict(zip(ids, model.text([captions[i] for i in ids]), strict=True))
    matched = mcc(text, audio)
    rng = np.random.default_rng(0)
    shuffled_ids = list(rng.permutation(ids))
    shuffled = mcc({i: text[j] for i, j in zip(ids, shuffled_ids, strict=True)}, audio)
    assert all(-1 <= v <= 1 for v in [*matched.values(), *shuffled.values()])
    assert np.mean(list(matched.values())) > np.mean(list(shuffled.values())) + 0.1
    similarity = np.array([[cosine(text[t], audio[a]) for a in ids] for t in ids])
    ranks = (similarity > similarity.diagonal()[:, None]).sum(axis=1)
    assert np.mean(ranks < 5) > 2 * 5 / len(ids), "text-to-audio recall@5 beats chance"


def test_the_model_reloads_to_identical_embeddings_and_records_its_training(trained):
    path, clips, captions, _, _ = trained
    wave = clips.audio(sorted(captions)[0], 16000)
    first = make_joint_model("projection", checkpoint=str(path))
    again = make_joint_model("projection", checkpoint=str(path))
    np.testing.assert_array_equal(first.audio(wave, 16000), again.audio(wave, 16000))
    np.testing.assert_array_equal(first.text(["a waltz"]), again.text(["a waltz"]))
    training = Projections.load(path).training
    assert training["loss_last"] < training["loss_first"]
    recipe = first.recipe()
    assert recipe["audio"]["base"]["embedder"] == "musicnn"
    assert recipe["text"]["text_encoder"] == "all-MiniLM-L6-v2"


def test_mcc_through_bench_on_real_clips(trained, tmp_path):
    path, clips, captions, test, root = trained
    ref = tmp_path / "reference"
    ref.mkdir()
    for clip_id in sorted(test)[:6]:
        shutil.copy(clips.path / f"{clip_id}.flac", ref)
    catalog_csv = write_realmusic_catalog(clips.path.parent, tmp_path / "captions.csv")
    settings = BenchSettings(
        metrics=("mcc_projection",),
        joint_options={"projection": {"checkpoint": str(path)}},
        captions=str(catalog_csv),
        bootstrap_rounds=20,
    )
    result = run_bench(ref, {"same": ref}, settings, tmp_path / "cache")
    mcc_result = result["rows"][0]["results"]["mcc_projection"]
    assert mcc_result.n == 6 and -1 <= mcc_result.value <= 1
    assert mcc_result.ci[0] <= mcc_result.value <= mcc_result.ci[1]
    assert mcc_result.recipe["captions"] == str(catalog_csv)
    # the demo catalog has none of these ids: a clear error, not a NaN
    bad = BenchSettings(
        metrics=("mcc_projection",),
        joint_options=settings.joint_options,
        captions="demo",
    )
    with pytest.raises(ValueError, match="have no caption"):
        run_bench(ref, {"same": ref}, bad, tmp_path / "cache")


@pytest.fixture
def fake_clap(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(FAKES))
    import laion_clap

    rng = np.random.default_rng(0)
    checkpoint = tmp_path / "clap.npz"
    np.savez(checkpoint, audio=rng.normal(size=(64, 32)), text=rng.normal(size=(256, 32)))
    laion_clap.SEEN_LENGTHS.clear()
    yield laion_clap, checkpoint
    sys.modules.pop("laion_clap")


def test_clap_adapter_cuts_deterministic_10s_windows_at_48khz(fake_clap):
    laion_clap, checkpoint = fake_clap
    clap = make_joint_model("clap", checkpoint=str(checkpoint))
    clips = sorted(DEMO_AUDIO_DIR.glob("*.flac"))
    demo = ClipSet(DEMO_AUDIO_DIR)
    long = np.concatenate([demo.audio(p.stem, 24000) for p in clips[:3]])[: 25 * 24000]
    frames = clap.audio(long, 24000)
    assert frames.shape == (3, 32), "windows at 0, 10 and 15 s"
    assert laion_clap.SEEN_LENGTHS == [480000] * 3, "never cropped at random by the module"
    np.testing.assert_array_equal(frames, clap.audio(long, 24000))
    short = clap.audio(long[: 4 * 24000], 24000)
    assert short.shape == (1, 32) and laion_clap.SEEN_LENGTHS[-1] == 4 * 48000
    recipe = clap.recipe()
    assert recipe["audio"]["rate"] == 48000 and recipe["audio"]["checkpoint"] == str(checkpoint)
    assert len(recipe["audio"]["weights_sha256"]) == 64


def test_mcc_with_clap_through_bench(fake_clap, tmp_path):
    _, checkpoint = fake_clap
    ref = tmp_path / "reference"
    ref.mkdir()
    for path in sorted(DEMO_AUDIO_DIR.glob("*.flac"))[:4]:
        shutil.copy(path, ref)
    settings = BenchSettings(
        metrics=("mcc_clap",),
        joint_options={"clap": {"checkpoint": str(checkpoint)}},
        captions="demo",
        bootstrap_rounds=20,
    )
    result = run_bench(ref, {"same": ref}, settings, tmp_path / "cache")["rows"][0]["results"]
    assert result["mcc_clap"].n == 4
    assert all(-1 <= v <= 1 for v in result["mcc_clap"].per_clip.values())


def test_clap_needs_its_package_and_a_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="checkpoint"):
        make_joint_model("clap")
    with pytest.raises(FileNotFoundError):
        make_joint_model("clap", checkpoint=str(tmp_path / "missing.pt"))
    (tmp_path / "c.pt").write_bytes(b"x")
    with pytest.raises(ModuleNotFoundError, match="optional extra"):
        make_joint_model("clap", checkpoint=str(tmp_path / "c.pt"))
