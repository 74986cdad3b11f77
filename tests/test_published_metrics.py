"""The columns papers print since MusicGen, on real clips with tiny models of the real
classes loaded through the user's path: CLAP score (AudioCraft), FAD/KAD on CLAP and
EnCodec (fadtk/kadtk), a LAION-CLAP file converted, the named metric sets, the published
rows and protocols in the leaderboard, and the cached rerun that loads no model."""

import csv
import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from musiccaps_kit.bench.clips import ClipSet
from musiccaps_kit.bench.embedders import make_embedder
from musiccaps_kit.bench.embedders.clap import (
    ClapTower,
    clap_tower,
    fadtk_windows,
    int16_round_trip,
)
from musiccaps_kit.bench.embedders.laion_checkpoint import CheckpointError, load_laion_checkpoint
from musiccaps_kit.bench.metric_sets import resolve_metrics
from musiccaps_kit.bench.run import BenchSettings, run_bench
from musiccaps_kit.bench.settings import model_options
from musiccaps_kit.cli import main
from tests.tiny_hf import laion_checkpoint, tiny_clap, tiny_encodec

CLIPS = 4


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    # the EnCodec folder under the released model's name, as a download would be
    return tiny_clap(root / "clap"), tiny_encodec(root / "encodec_24khz"), root


@pytest.fixture(scope="module")
def clip_sets(realmusic, tmp_path_factory):
    """Four real clips (24 kHz FLAC) as the reference, the same clips with noise as a
    system, and a ytid,caption CSV from the clips' genre hints."""
    root = tmp_path_factory.mktemp("published")
    rows = list(csv.DictReader(open(realmusic / "manifest.csv")))[:: 125 // CLIPS][:CLIPS]
    ref, noisy = root / "reference", root / "noisy"
    ref.mkdir()
    noisy.mkdir()
    rng = np.random.default_rng(0)
    for row in rows:
        shutil.copy(realmusic / "clips" / f"{row['clip_id']}.flac", ref)
        wave, rate = sf.read(realmusic / "clips" / f"{row['clip_id']}.flac", dtype="float32")
        sf.write(
            noisy / f"{row['clip_id']}.flac", wave + 0.05 * rng.standard_normal(len(wave)), rate
        )
    captions = root / "captions.csv"
    with open(captions, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ytid", "caption"])
        for row in rows:
            writer.writerow([row["clip_id"], f"{row['genre_hint']} music from {row['source']}"])
    return ref, noisy, captions, [r["clip_id"] for r in rows]


def audiocraft_generated_audio(path, rate: int) -> np.ndarray:
    """MusicGen's evaluation path written out: normalize_audio(strategy="loudness",
    loudness_headroom_db=14) at the file's rate (RMS under 2e-3 left as is, BS.1770
    loudness, gain to -14 LUFS, clamp), then convert_audio (julius, then the channel mean)."""
    import julius
    import torch

    from musiccaps_kit.bench.loudness import bs1770_loudness

    wave, source = sf.read(path, dtype="float32", always_2d=True)
    x = torch.from_numpy(wave.T.copy())
    if x.pow(2).mean().sqrt().item() >= 2e-3:
        x = x * 10.0 ** ((-14 - bs1770_loudness(x.numpy(), source)) / 20.0)
    x = x.clamp(-1, 1)
    return julius.resample_frac(x, source, rate).mean(dim=0).numpy()


def test_clap_score_is_audiocrafts_cosine_on_each_clip(models, clip_sets, tmp_path):
    import torch
    from transformers import ClapFeatureExtractor, ClapModel, RobertaTokenizer

    clap, _, _ = models
    ref, _, captions, ids = clip_sets
    settings = BenchSettings(
        metrics=("clap_score",),
        embedder_options=model_options(clap_model=str(clap)),
        captions=str(captions),
        bootstrap_rounds=30,
    )
    result = run_bench(ref, {"same": ref}, settings, tmp_path / "cache")["rows"][0]["results"]
    score = result["clap_score"]
    # independently: the transformers classes called as AudioCraft's recipe says
    model = ClapModel.from_pretrained(clap).eval()
    extractor = ClapFeatureExtractor.from_pretrained(
        clap, truncation="rand_trunc", padding="repeatpad"
    )
    tokenizer = RobertaTokenizer.from_pretrained(clap)
    texts = {r["ytid"]: r["caption"] for r in csv.DictReader(open(captions))}
    expected = {}
    for clip_id in ids:
        wave = audiocraft_generated_audio(ref / f"{clip_id}.flac", 48000)[:480000]
        features = extractor([wave], sampling_rate=48000, return_tensors="pt")
        tokens = tokenizer(
            [texts[clip_id]],
            padding="max_length",
            truncation=True,
            max_length=77,
            return_tensors="pt",
        )
        with torch.no_grad():
            a = model.get_audio_features(input_features=features["input_features"].float())
            t = model.get_text_features(**tokens)
        a = getattr(a, "pooler_output", a)
        t = getattr(t, "pooler_output", t)
        expected[clip_id] = float(torch.nn.functional.cosine_similarity(a, t)[0])
    assert score.per_clip == pytest.approx(expected, abs=1e-5)
    assert score.value == pytest.approx(np.mean(list(expected.values())), abs=1e-6)
    assert score.ci[0] <= score.value <= score.ci[1]
    assert "AudioCraft" in score.recipe["protocol"] and len(score.recipe["weights_sha256"]) == 64
    # a folder of other weights: AudioCraft's recipe, not MusicGen's Table 1
    assert score.recipe["claim"]["header"] == "AudioCraft's recipe, other weights (clap)"
    assert score.recipe["claim"]["tables"] == []


def test_clap_score_crops_a_long_clip_as_laion_does_with_a_seed(models, clip_sets):
    from musiccaps_kit.bench.embedders.clap import WINDOW, ClapClips

    clap, _, _ = models
    ref, _, _, ids = clip_sets
    waves = [sf.read(ref / f"{i}.flac", dtype="float32")[0] for i in ids[:3]]
    long = np.concatenate([np.repeat(w, 2) for w in waves])[: int(2.5 * WINDOW)]  # 25 s
    short = np.repeat(waves[0], 2)[: WINDOW // 2]  # 5 s: repeat-padded
    clips = ClapClips(model=str(clap), seed=7)
    got = clips.embed_many([short, long])
    # laion_clap's rand_trunc, written out: one offset from NumPy's generator, seeded
    np.random.seed(7)
    start = np.random.randint(0, len(long) - WINDOW + 1)
    tower = clap_tower(str(clap), None)
    np.testing.assert_allclose(got[1][0], tower.audio([long[start : start + WINDOW]])[0], atol=1e-6)
    np.testing.assert_allclose(got[0][0], tower.audio([short])[0], atol=1e-6)
    assert np.array_equal(ClapClips(model=str(clap), seed=7).embed_many([long])[0], got[1])
    other = ClapClips(model=str(clap), seed=8).embed_many([long])[0]
    assert not np.allclose(other, got[1]) and "seeded with 7" in clips.settings()["windowing"]


def test_fadtk_clap_windows_and_quantisation():
    wave = np.linspace(-1.5, 1.5, 48000 * 10, dtype=np.float32)
    windows = fadtk_windows(wave)
    assert len(windows) == 10 and all(len(w) == 480000 for w in windows)
    assert windows[9][48000:].any() == 0 and windows[9][48000 - 1 :].any() is not False
    np.testing.assert_array_equal(windows[3][: 7 * 48000], wave[3 * 48000 :])
    assert not windows[3][7 * 48000 :].any()  # the tail is zero-padded
    q = int16_round_trip(np.array([1.7, 0.5, -0.00002, -1.0], dtype=np.float32))
    np.testing.assert_array_equal(q, np.float32([1.0, 16383 / 32767, 0.0, -1.0]))
    assert len(fadtk_windows(wave[:100])) == 1


def test_a_laion_checkpoint_converts_to_the_same_model(models, tmp_path):
    import torch

    clap, _, _ = models
    path = laion_checkpoint(clap, tmp_path / "music_like.pt")
    converted = load_laion_checkpoint(path)
    from transformers import ClapModel

    original = ClapModel.from_pretrained(clap).eval()
    for name, tensor in original.state_dict().items():
        torch.testing.assert_close(converted.state_dict()[name], tensor, rtol=0, atol=0)
    # LAION's text branch is RoBERTa's: LayerNorm eps 1e-5, not ClapTextConfig's 1e-12
    assert converted.config.text_config.layer_norm_eps == 1e-5
    assert ClapTower(str(path), tokenizer=str(clap)).recipe()["text_layer_norm_eps"] == 1e-5
    assert "1e-12 from the folder's config" in ClapTower(str(clap)).recipe()["text_layer_norm_eps"]
    rng = np.random.default_rng(1)
    waves = [rng.standard_normal(480000).astype(np.float32) * 0.1]
    by_file = ClapTower(str(path), tokenizer=str(clap)).audio(waves)
    # every tensor is equal (above); the outputs agree to float32 round-off
    np.testing.assert_allclose(by_file, ClapTower(str(clap)).audio(waves), rtol=0, atol=1e-6)
    # a truncated file and a foreign one: errors naming the file
    (tmp_path / "cut.pt").write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="cut.pt: not a readable"):
        load_laion_checkpoint(tmp_path / "cut.pt")
    torch.save({"state_dict": {"encoder.weight": torch.zeros(3)}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="other.pt: not a LAION-CLAP"):
        load_laion_checkpoint(tmp_path / "other.pt")


def test_encodec_frames_are_the_encoder_output(models, clip_sets):
    import torch
    from transformers import EncodecModel

    _, encodec, _ = models
    ref, _, _, ids = clip_sets
    embedder = make_embedder("encodec", model=str(encodec))
    wave = ClipSet(ref).audio(ids[0], 24000)
    frames = embedder(wave, 24000)
    assert frames.shape == (int(np.ceil(len(wave) / 320)), 128)
    with torch.no_grad():
        direct = EncodecModel.from_pretrained(encodec).encoder(torch.from_numpy(wave)[None, None])
    np.testing.assert_allclose(frames, direct[0].T.numpy(), rtol=1e-5, atol=1e-6)
    # a clip's frames do not depend on the clips batched with it
    batch = embedder.batch([wave, wave[:240000], wave], 24000)
    np.testing.assert_array_equal(batch[0], frames)
    assert batch[1].shape == (750, 128)


def test_pcm16_at_the_model_rate_reaches_the_model_bit_for_bit(tmp_path):
    rng = np.random.default_rng(2)
    for rate in (48000, 24000):
        k = rng.integers(-32768, 32767, rate * 2, dtype=np.int16)
        folder = tmp_path / str(rate)
        folder.mkdir()
        sf.write(folder / "clip.wav", k, rate, subtype="PCM_16")
        np.testing.assert_array_equal(ClipSet(folder).audio("clip", rate), k / np.float32(32768))


def test_named_sets_and_what_they_leave_out(models):
    clap, encodec, _ = models
    local = BenchSettings(
        embedder_options=model_options(clap_model=str(clap), encodec_model=str(encodec))
    )
    metrics, notes = resolve_metrics("kad", local)
    assert {"kad_musicnn", "kad_clap", "kad_encodec"} <= set(metrics)
    assert "kad_vggish" not in metrics
    assert any("kad_vggish" in n and "left out" in n for n in notes)
    # the published sets keep every column: its release is fetched by name (or named
    # missing, offline) rather than the column left out
    metrics, notes = resolve_metrics("musicgen,fadtk", BenchSettings())
    assert metrics == (
        "fad_vggish_audiocraft", "kld_passt", "clap_score", "fad_clap", "fad_encodec"
    )  # fmt: skip
    assert not notes
    assert resolve_metrics("kad", BenchSettings())[0] == ("kad_musicnn",)


def test_bench_cli_with_local_models_writes_published_columns(models, clip_sets, tmp_path):
    clap_folder, encodec, _ = models
    ref, noisy, captions, ids = clip_sets
    out, cache = tmp_path / "board", tmp_path / "cache"
    # the tiny CLAP as a LAION file under the released name: the protocols are claimed
    clap = laion_checkpoint(clap_folder, tmp_path / "music_audioset_epoch_15_esc_90.14.pt")
    args = [
        "bench", "--reference", str(ref), "--system", f"noisy={noisy}",
        "--metrics", "kad,fadtk,clap_score", "--clap-model", str(clap),
        "--clap-tokenizer", str(clap_folder),
        "--encodec-model", str(encodec), "--captions", str(captions),
        "--out", str(out), "--cache-dir", str(cache), "--bootstrap", "20",
    ]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    board = json.loads((out / "leaderboard.json").read_text())
    metrics = board["rows"][0]["metrics"]
    assert {
        "kad_musicnn",
        "kad_clap",
        "kad_encodec",
        "fad_clap",
        "fad_encodec",
        "clap_score",
    } <= set(metrics)
    for name in ("kad_clap", "kad_encodec", "fad_clap", "fad_encodec"):
        assert set(metrics[name]["inf"]) == {"value", "slope", "r2"}
        lo, hi = metrics[name]["ci"]
        assert lo <= metrics[name]["value"] <= hi
    assert metrics["fad_clap"]["recipe"]["protocol"] == "fadtk 1.1.0 clap-laion-music"
    assert metrics["kad_clap"]["recipe"]["frames_system"] == CLIPS * 10  # 10 windows a clip
    # each header names its tool and loader, claimed with the released weights
    assert board["columns"]["kad_encodec"]["protocol"] == "as kadtk encodec-emb (1 s pooling)"
    assert board["columns"]["fad_clap"]["protocol"] == "as fadtk clap-laion-music"
    assert board["columns"]["clap_score"]["protocol"] == "as MusicGen Table 1"
    # kadtk has no musicnn loader: its formula on our frames, no claim beyond that
    assert board["columns"]["kad_musicnn"]["protocol"].startswith("kadtk's KAD on this toolkit")
    assert metrics["kad_encodec"]["recipe"]["frames_system"] == CLIPS * 10  # pooled to 1 s
    assert metrics["fad_encodec"]["recipe"]["frames_system"] == CLIPS * 750
    clap_column = board["columns"]["clap_score"]
    assert clap_column["checkpoint"] == "music_audioset_epoch_15_esc_90.14.pt"
    assert len(clap_column["sha256"]) == 12 and "loudness -14 LUFS" in clap_column["audio_path"]
    assert [r["system"] for r in board["musicgen_table1"]["rows"]][0] == "Riffusion"
    html = (out / "report.html").read_text()
    assert "as MusicGen Table 1" in html and "MusicGen 3.3B" in html
    markdown = (out / "leaderboard.md").read_text()
    assert "| MusicGen 1.5B (MusicGen, reported) |" in markdown  # in the CLAP column: 0.32
    assert "0.32" in markdown.split("| MusicGen 1.5B (MusicGen, reported) |")[1].split("\n")[0]
    rows = list(csv.DictReader(open(out / "per_clip.csv")))
    assert sorted(r["id"] for r in rows if r["metric"] == "clap_score") == sorted(ids)
    # a second run on the same cache: every embedding cached, no model is built
    from musiccaps_kit.bench.columns.clap_score import clap_clips
    from musiccaps_kit.bench.columns.job import cached_model

    cached_model.cache_clear()
    clap_clips.cache_clear()
    clap_tower.cache_clear()
    again = CliRunner().invoke(main, [*args[:-6], "--out", str(tmp_path / "again"), *args[-4:]])
    assert again.exit_code == 0, again.output
    assert clap_tower(str(clap), str(clap_folder))._parts is None
    assert cached_model("embedder", "encodec", (("model", str(encodec)),))._model is None
    assert cached_model("embedder", "musicnn", ())._net is None
    second = json.loads((tmp_path / "again" / "leaderboard.json").read_text())
    assert second["rows"][0]["metrics"]["kad_clap"]["value"] == metrics["kad_clap"]["value"]


def test_bad_models_and_captions_are_clear_errors(models, clip_sets, tmp_path):
    clap, encodec, _ = models
    ref, noisy, captions, ids = clip_sets
    base = ["bench", "--reference", str(ref), "--system", f"noisy={noisy}", "--bootstrap", "10"]
    cases = [
        (["--metrics", "fad_clap", "--clap-model", str(tmp_path / "nope")], "no such folder"),
        (["--metrics", "fad_clap", "--clap-model", str(encodec)], "holds a 'encodec' model"),
        (["--metrics", "fad_encodec", "--encodec-model", str(clap)], "holds a 'clap' model"),
        (["--metrics", "fad_clap", "--clap-model", str(tmp_path / "x.pt")], "no such file"),
    ]
    for extra, message in cases:
        result = CliRunner().invoke(main, [*base, *extra, "--out", str(tmp_path / "o")])
        assert result.exit_code == 1 and message in result.output, result.output
        assert "Traceback" not in result.output
    partial = tmp_path / "captions.csv"
    partial.write_text("ytid,caption\n" + f"{ids[0]},a caption\n")
    result = CliRunner().invoke(
        main,
        [*base, "--metrics", "clap_score", "--clap-model", str(clap), "--captions", str(partial),
         "--out", str(tmp_path / "o2")],
    )  # fmt: skip
    assert result.exit_code == 1 and "have no caption" in result.output and ids[1] in result.output


def test_vggish_on_the_pytorch_front_end_is_not_put_beside_the_papers():
    from musiccaps_kit.bench.leaderboard import protocol, reported_rows, to_json

    # one name, one recipe: MusicLM's Google FAD and MusicGen's AudioCraft FAD apart
    both = ["fad_vggish", "fad_vggish_audiocraft"]
    result = {"reference": "ref", "reference_clips": 0, "rows": [], "metrics": both}
    google = to_json(result, {"embedder_options": {"vggish": {"frontend": "google2019"}}})
    ported = to_json(result, {"embedder_options": {"vggish": {"frontend": "nonoverlapping"}}})
    assert google["columns"]["fad_vggish"]["protocol"] == "as MusicLM Table 1"
    assert google["columns"]["fad_vggish_audiocraft"]["protocol"] == "as MusicGen Table 1"
    for metric in both:
        assert "not comparable" in ported["columns"][metric]["protocol"]
    rows = reported_rows(google)
    assert any(cells.get("fad_vggish_audiocraft") == "3.4" for _, cells in rows)  # MusicGen's
    assert any(cells.get("fad_vggish") == "4.0" for _, cells in rows)  # MusicLM's
    assert not any(cells for _, cells in reported_rows(ported))
    assert protocol("kld_musicnn") == "stand-in: not comparable"
