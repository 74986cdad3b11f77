"""PaSST in plain torch against the formulas it implements (Kaldi mel banks, the STFT),
checkpoints in the released format through the real loader, and KL-PaSST by AudioCraft's
recipe on real clips."""

import csv
import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from musiccaps_kit.bench.clips import ClipSet
from musiccaps_kit.bench.embedders import passt_network as P
from musiccaps_kit.bench.embedders.passt import PasstPieces, PasstScene
from musiccaps_kit.bench.metric_sets import resolve_metrics
from musiccaps_kit.bench.run import BenchSettings, run_bench
from musiccaps_kit.bench.settings import model_options
from musiccaps_kit.cli import main
from tests.test_published_metrics import audiocraft_generated_audio

SMALL = P.PasstConfig(width=64, depth=2)


def kaldi_banks_written_out(bins=128, n_fft=1024, rate=32000, low=0.0, high=15000.0):
    """torchaudio.compliance.kaldi.get_mel_banks, the Kaldi formula, bin by bin."""

    def mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)

    delta = (mel(high) - mel(low)) / (bins + 1)
    out = np.zeros((bins, n_fft // 2))
    for b in range(bins):
        left, center, right = (mel(low) + (b + k) * delta for k in range(3))
        for i in range(n_fft // 2):
            m = mel(rate / n_fft * i)
            if left < m < right:
                out[b, i] = (
                    (m - left) / (center - left) if m <= center else (right - m) / (right - center)
                )
    return out


def test_the_mel_banks_are_kaldis():
    ours = P.kaldi_mel_banks()
    assert ours.shape == (128, 513) and not ours[:, 512].any()  # the padded Nyquist column
    np.testing.assert_allclose(ours[:, :512], kaldi_banks_written_out(), atol=1e-6)


def test_the_stft_is_numpys_on_the_same_frames(realmusic):
    wave = ClipSet(realmusic / "clips").audio("wesnoth-00-0", P.RATE)[: P.RATE]
    power = P.build(SMALL).power(torch.from_numpy(wave)[None])[0].numpy()
    emphasised = wave[1:] - 0.97 * wave[:-1]
    padded = np.pad(emphasised.astype(np.float64), 512, mode="reflect")
    n = np.arange(800)
    window = np.zeros(1024)
    window[112:912] = 0.5 - 0.5 * np.cos(2 * np.pi * n / 799)  # symmetric Hann, centred
    frames = [padded[s : s + 1024] * window for s in range(0, len(padded) - 1023, 320)]
    expected = np.abs(np.fft.rfft(frames, axis=1)).T ** 2
    assert power.shape == expected.shape == (513, P.frames(P.RATE))
    np.testing.assert_allclose(power, expected, rtol=2e-3, atol=1e-4 * expected.max())


def test_full_size_shapes_are_the_released_files():
    for seconds, patches in ((10, 99), (20, 200)):
        state = P.build(P.PasstConfig(time_patches=patches)).state_dict()
        assert len(state) == 159
        assert tuple(state["time_new_pos_embed"].shape) == (1, 768, 1, patches)
        assert tuple(state["freq_new_pos_embed"].shape) == (1, 768, 12, 1)
        assert tuple(state["new_pos_embed"].shape) == (1, 2, 768)
        assert tuple(state["head.1.weight"].shape) == (527, 768)
        assert tuple(state["blocks.11.attn.qkv.weight"].shape) == (2304, 768)
        assert P.config_of(state, "x").seconds == seconds
    assert P.time_patches(10 * P.RATE) == 99 and P.time_patches(20 * P.RATE) == 199


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("passt") / "passt-small.pt"
    torch.save(P.build(SMALL).state_dict(), path)
    return path


def test_both_torch_file_formats_load_and_bad_files_are_named(checkpoint, tmp_path):
    state = torch.load(checkpoint, weights_only=True)
    legacy = tmp_path / "legacy.pt"
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    x = torch.randn(2, 5 * P.RATE) * 0.1
    with torch.no_grad():
        a, b = P.load(checkpoint)(x), P.load(legacy)(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert a[0].shape == (2, 527) and a[1].shape == (2, 64)
    (tmp_path / "cut.pt").write_bytes(checkpoint.read_bytes()[:3000])
    with pytest.raises(P.PasstCheckpointError, match="cut.pt: not a readable"):
        P.load(tmp_path / "cut.pt")
    torch.save({k: v for k, v in state.items() if k != "norm.bias"}, tmp_path / "short.pt")
    with pytest.raises(P.PasstCheckpointError, match="short.pt: no tensor norm.bias"):
        P.load(tmp_path / "short.pt")
    bad = dict(state, **{"cls_token": torch.zeros(1, 1, 32)})
    torch.save(bad, tmp_path / "shape.pt")
    with pytest.raises(P.PasstCheckpointError, match=r"cls_token has shape \(1, 1, 32\)"):
        P.load(tmp_path / "shape.pt")
    torch.save({"encoder.weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(P.PasstCheckpointError, match="other.pt"):
        PasstScene(checkpoint=str(tmp_path / "other.pt"))


def test_pieces_follow_audiocraft(checkpoint):
    pieces = PasstPieces(checkpoint=str(checkpoint))
    assert [len(p) for p in pieces.pieces(np.zeros(25 * P.RATE))] == [320000, 320000, 160000]
    # a last piece of 4,800 samples or fewer is dropped, one of 4,801 kept
    assert len(pieces.pieces(np.zeros(10 * P.RATE + 4800))) == 1
    assert len(pieces.pieces(np.zeros(10 * P.RATE + 4801))) == 2
    scene = PasstScene(checkpoint=str(checkpoint))
    assert scene(np.zeros(3 * P.RATE, np.float32), P.RATE).shape == (1, 527 + 64)


@pytest.fixture(scope="module")
def sets(realmusic, tmp_path_factory):
    """Three real clips as the reference (one of them stretched to 25 s by repetition);
    the system: the same clips, louder and with noise."""
    root = tmp_path_factory.mktemp("kl")
    ref, system = root / "reference", root / "system"
    ref.mkdir()
    system.mkdir()
    rows = list(csv.DictReader(open(realmusic / "manifest.csv")))[::50][:3]
    rng = np.random.default_rng(0)
    for k, row in enumerate(rows):
        wave, rate = sf.read(realmusic / "clips" / f"{row['clip_id']}.flac", dtype="float32")
        if k == 0:
            wave = np.tile(wave, 3)[: 25 * rate]
        sf.write(ref / f"{row['clip_id']}.wav", wave, rate, subtype="FLOAT")
        noisy = 0.8 * wave + 0.05 * rng.standard_normal(len(wave)).astype(np.float32)
        sf.write(system / f"{row['clip_id']}.wav", noisy, rate, subtype="FLOAT")
    return ref, system, [r["clip_id"] for r in rows]


def audiocraft_reference_audio(path) -> np.ndarray:
    """AudioCraft's convert_audio written out: julius to 32 kHz, then the channel mean."""
    import julius

    wave, rate = sf.read(path, dtype="float32", always_2d=True)
    return julius.resample_frac(torch.from_numpy(wave.T.copy()), rate, P.RATE).mean(0).numpy()


def test_kld_passt_is_audiocrafts_mean_over_pieces(checkpoint, sets, tmp_path):
    ref, system, ids = sets
    options = model_options(passt_checkpoint=str(checkpoint))
    settings = BenchSettings(metrics=("kld_passt",), embedder_options=options, bootstrap_rounds=40)
    rows = run_bench(ref, {"same": ref, "noisy": system}, settings, tmp_path / "cache")["rows"]
    levelled, noisy = (row["results"]["kld_passt"] for row in rows)
    quiet = BenchSettings(**{**settings.__dict__, "loudness": False})
    same = run_bench(ref, {"same": ref}, quiet, tmp_path / "cache")["rows"][0]["results"]
    same = same["kld_passt"]
    # identical clips: sum p (log p - log(p + 1e-6)) = -527e-6 for a flat distribution
    assert same.value == pytest.approx(-527e-6, rel=0.02) and same.value < 0
    # MusicGen's loudness step makes the "same" system another input (-14 LUFS)
    assert levelled.value > 1e-4 and "loudness" in str(levelled.recipe["input_audio"]["system"])
    assert same.recipe["pieces"] == 3 + 1 + 1  # the 25 s clip: 10 + 10 + 5 s
    # independently: AudioCraft's formula, every piece weighed alike
    net = P.load(checkpoint)
    kls = {}
    for clip_id in ids:
        a = audiocraft_reference_audio(ref / f"{clip_id}.wav")
        b = audiocraft_generated_audio(system / f"{clip_id}.wav", P.RATE)
        kls[clip_id] = []
        for s in range(0, len(a), 10 * P.RATE):
            if len(a[s : s + 10 * P.RATE]) <= 4800:
                continue  # AudioCraft drops pieces of 0.15 s or less
            with torch.no_grad():
                pa = net(torch.from_numpy(a[s : s + 10 * P.RATE])[None])[0].softmax(-1)
                pb = net(torch.from_numpy(b[s : s + 10 * P.RATE])[None])[0].softmax(-1)
            kl = torch.nn.functional.kl_div((pb + 1e-6).log(), pa, reduction="none").sum()
            kls[clip_id].append(float(kl))
    everything = [v for values in kls.values() for v in values]
    # (float32 softmax in torch there, float64 here: 1e-7 apart on values near 1e-4)
    assert noisy.value == pytest.approx(np.mean(everything), rel=1e-3, abs=1e-6)
    expected = {i: np.mean(v) for i, v in kls.items()}
    assert noisy.per_clip == pytest.approx(expected, rel=1e-3, abs=1e-6)
    assert noisy.value != pytest.approx(np.mean([np.mean(v) for v in kls.values()]), rel=1e-3)
    assert noisy.ci[0] <= noisy.value <= noisy.ci[1]
    assert set(noisy.extra) == {"kld_qp", "kld_both"}
    assert noisy.extra["kld_both"] == pytest.approx(noisy.value + noisy.extra["kld_qp"])


def test_a_shorter_system_clip_is_zero_padded_to_the_reference(checkpoint, sets, tmp_path):
    ref, _, ids = sets
    short = tmp_path / "short"
    short.mkdir()
    wave, rate = sf.read(ref / f"{ids[1]}.wav", dtype="float32")
    sf.write(short / f"{ids[1]}.wav", wave[: 6 * rate], rate, subtype="FLOAT")
    settings = BenchSettings(
        metrics=("kld_passt",),
        embedder_options=model_options(passt_checkpoint=str(checkpoint)),
        bootstrap_rounds=10,
    )
    result = run_bench(ref, {"short": short}, settings, tmp_path / "cache")["rows"][0]
    net = P.load(checkpoint)
    a = audiocraft_reference_audio(ref / f"{ids[1]}.wav")
    b = np.zeros_like(a)
    b[: 6 * P.RATE] = audiocraft_generated_audio(short / f"{ids[1]}.wav", P.RATE)
    with torch.no_grad():
        pa, pb = (net(torch.from_numpy(x)[None])[0].softmax(-1) for x in (a, b))
    expected = torch.nn.functional.kl_div((pb + 1e-6).log(), pa, reduction="none").sum()
    value = result["results"]["kld_passt"].value
    assert value == pytest.approx(float(expected), rel=1e-3, abs=1e-6)


def test_bench_cli_with_a_passt_checkpoint(checkpoint, sets, tmp_path):
    ref, system, ids = sets
    out = tmp_path / "board"
    args = ["bench", "--reference", str(ref), "--system", f"noisy={system}", "--passt-checkpoint",
            str(checkpoint), "--metrics", "kld_passt,fad_passt,kad_passt", "--bootstrap", "20",
            "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "leaderboard.json").read_text())["rows"][0]["metrics"]
    assert set(metrics["kld_passt"]) >= {"value", "ci", "kld_qp", "kld_both", "recipe"}
    assert (
        metrics["fad_passt"]["recipe"]["protocol"] == "kadtk 1.1.0 passt-base-10s scene embedding"
    )
    assert metrics["kad_passt"]["recipe"]["frames_system"] == 3  # one vector per clip
    per_clip = [r for r in csv.DictReader(open(out / "per_clip.csv")) if r["metric"] == "kld_passt"]
    assert sorted(r["id"] for r in per_clip) == sorted(ids)
    musicgen = BenchSettings(embedder_options=model_options(passt_checkpoint=str(checkpoint)))
    assert resolve_metrics("musicgen", musicgen)[0] == (
        "fad_vggish_audiocraft", "kld_passt", "clap_score"
    )  # fmt: skip
    unpaired = tmp_path / "unpaired"
    unpaired.mkdir()
    shutil.copy(system / f"{ids[0]}.wav", unpaired / "elsewhere.wav")
    result = CliRunner().invoke(
        main, [*args[:4], f"other={unpaired}", *args[5:-1], str(tmp_path / "o")]
    )
    assert result.exit_code == 0 and "kld_passt skipped" in result.output, result.output
    missing = CliRunner().invoke(main, [*args[:6], str(tmp_path / "none.pt"), *args[7:]])
    assert missing.exit_code == 1 and "none.pt: no such file" in missing.output
