"""The Stable Audio protocol (stable-audio-metrics): OpenL3 against openl3's network as
openl3 defines it (tf-keras) and kapre's mel front end written out, resampy's kaiser_best
written out, KL-PaSST's windows and direction, the CLAP score with fusion, the tool's
pickled probabilities read safely, and `mck bench --metrics sao` on real clips (stereo,
44.1 and 48 kHz, over 20 s)."""

from __future__ import annotations

import csv
import json
import math
import pickle
import shutil

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
from click.testing import CliRunner

from musiccaps_kit.bench.embedders import openl3_network as O
from musiccaps_kit.bench.embedders import passt_network as P
from musiccaps_kit.bench.embedders.openl3 import OpenL3
from musiccaps_kit.bench.embedders.passt import PasstSao, sao_windows
from musiccaps_kit.bench.resamplers import resampy_kaiser_best
from musiccaps_kit.bench.sao_reference import SaoReferenceError, read_probabilities
from musiccaps_kit.cli import main
from tests.openl3_keras import save_keras_openl3

SMALL = (8, 8, 16, 16, 32, 32, 64, 64)
SHARED_PKL = "song_describer-nosinging__collectmean__reference_probabilities.pkl"


@pytest.fixture(scope="module")
def clips(realmusic):
    rows = list(csv.DictReader(open(realmusic / "manifest.csv")))[7::30][:4]
    waves = [
        sf.read(realmusic / "clips" / f"{r['clip_id']}.flac", dtype="float32")[0] for r in rows
    ]
    return [r["clip_id"] for r in rows], waves


# --- resampy's kaiser_best --------------------------------------------------------------


def resampy_written_out(x, sr_orig, sr_new, outputs):
    """resampy 0.2.2's kaiser_best, sample by sample: the filter rebuilt from its recipe
    (np.kaiser), the time register added up, both wings interpolated from the table, the
    sum kept in the input's dtype."""
    zeros, bits, rolloff = 64, 512, 0.9475937167399596
    n = bits * zeros
    half = (np.kaiser(2 * n + 1, 14.769656459379492)[n:] * rolloff
            * np.sinc(rolloff * np.linspace(0, zeros, n + 1)))  # fmt: skip
    ratio = sr_new / sr_orig
    if ratio < 1:
        half = half * ratio
    delta = np.r_[np.diff(half), 0.0]
    scale, step = min(1.0, ratio), int(min(1.0, ratio) * bits)
    out, register = {}, 0.0
    for t in range(max(outputs) + 1):
        if t in outputs:
            start, y = int(register), x.dtype.type(0)
            for side in (0, 1):
                frac = scale * (register - start)
                frac = scale - frac if side else frac
                offset, eta = int(frac * bits), frac * bits - int(frac * bits)
                room = start + 1 if side == 0 else len(x) - start - 1
                for k in range(min(room, (len(half) - offset) // step)):
                    weight = half[offset + k * step] + eta * delta[offset + k * step]
                    y = x.dtype.type(
                        float(y) + weight * float(x[start - k if side == 0 else start + k + 1])
                    )
            out[t] = y
        register += 1.0 / ratio
    return out


def test_resampy_kaiser_best_is_its_loop(clips):
    x = clips[1][0][:22050]
    x44 = soxr.resample(x, 24000, 44100)
    ours = resampy_kaiser_best(x44, 44100, 48000)
    assert len(ours) == int(len(x44) * 48000 / 44100) and ours.dtype == np.float32
    picks = [0, 1, 17, len(ours) // 2, len(ours) - 1]
    for t, y in resampy_written_out(x44, 44100, 48000, picks).items():
        assert ours[t] == y  # bit for bit
    down = resampy_kaiser_best(soxr.resample(x, 24000, 96000), 96000, 48000)
    for t, y in resampy_written_out(
        soxr.resample(x, 24000, 96000), 96000, 48000, [3, 9000]
    ).items():
        assert down[t] == y


# --- OpenL3 -----------------------------------------------------------------------------


def kapre_mel256_written_out(window):
    """kapre 0.3.7 get_melspectrogram_layer(n_fft=2048, hop_length=242, n_mels=256,
    sample_rate=48000, pad_end=True) + openl3's kapre_v0_1_4_magnitude_to_decibel, in NumPy
    float64: tf.signal.stft framing (pad_end), periodic Hann, |rfft|, librosa's mel."""
    import librosa

    x = np.pad(np.asarray(window, np.float64), (0, 198 * 242 + 2048 - 48000))
    frames = np.stack([x[i * 242 : i * 242 + 2048] for i in range(199)])
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2048) / 2048)
    magnitude = np.abs(np.fft.rfft(frames * hann, axis=1))
    bank = librosa.filters.mel(sr=48000, n_fft=2048, n_mels=256).astype(np.float64)
    db = 10 * np.log10(np.maximum(magnitude @ bank.T, 1e-10))
    return np.maximum(db - db.max(), -80.0).T  # [256, 199]


def test_the_front_end_is_kapres_mel256(clips):
    import librosa

    np.testing.assert_allclose(
        O.mel_bank(), librosa.filters.mel(sr=48000, n_fft=2048, n_mels=256), rtol=1e-6, atol=1e-10
    )
    at48k = resampy_kaiser_best(soxr.resample(clips[1][0], 24000, 44100), 44100, 48000)
    windows = O.windows(at48k, 0.5)
    assert windows.shape == (20, 48000)  # 10 s: centred, 1 s every 0.5 s
    assert not windows[0][:24000].any() and np.array_equal(windows[0][24000:], at48k[:24000])
    spec = O.build().spectrogram(torch.from_numpy(windows[[0, 7]])).numpy()[:, 0]
    for got, window in zip(spec, windows[[0, 7]], strict=True):
        np.testing.assert_allclose(got, kapre_mel256_written_out(window), atol=1e-8)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("openl3")
    path = root / "openl3_audio_mel256_music.h5"
    model = save_keras_openl3(path, SMALL, seed=1)
    return path, model


def test_the_network_is_openl3s_definition(weights, tmp_path):
    path, keras_model = weights
    net = O.load(path)
    rng = np.random.default_rng(0)
    spec = rng.uniform(-80, 0, (3, 256, 199, 1)).astype(np.float32)
    expected = keras_model.predict(spec, verbose=0)
    with torch.inference_mode():
        got = net.network(torch.from_numpy(spec.transpose(0, 3, 1, 2).copy())).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    # the same arrays as .npz by Keras layer name load to the same network
    import h5py

    arrays = {}
    with h5py.File(path) as f:
        for layer in f:
            for name in f[layer].attrs.get("weight_names", []):
                name = name.decode() if isinstance(name, bytes) else name
                arrays[name] = np.asarray(f[layer][name])
    npz = tmp_path / "openl3_audio_mel256_music.npz"
    np.savez(npz, **arrays)
    with torch.inference_mode():
        again = O.load(npz).network(torch.from_numpy(spec.transpose(0, 3, 1, 2).copy())).numpy()
    np.testing.assert_array_equal(again, got)


def test_other_openl3_files_are_refused(weights, tmp_path):
    path, _ = weights
    for name, message in (
        ("openl3_audio_mel256_env.h5", "the mel256 env network"),
        ("openl3_audio_mel128_music.h5", "the mel128 music network"),
        ("weights.h5", "names none"),
    ):
        shutil.copy(path, tmp_path / name)
        with pytest.raises(O.OpenL3WeightsError, match=message):
            OpenL3(str(tmp_path / name))
    (tmp_path / "cut" / "openl3_audio_mel256_music.h5").parent.mkdir()
    (tmp_path / "cut" / "openl3_audio_mel256_music.h5").write_bytes(path.read_bytes()[:4000])
    with pytest.raises(O.OpenL3WeightsError, match="not a readable weights file"):
        O.load(tmp_path / "cut" / "openl3_audio_mel256_music.h5")
    import h5py

    old = tmp_path / "old" / "openl3_audio_mel256_music.h5"
    old.parent.mkdir()
    shutil.copy(path, old)
    with h5py.File(old, "a") as f:  # kapre 0.1's front end kept its DFT kernels as weights
        group = f.create_group("melspectrogram_1")
        group.attrs["weight_names"] = [b"melspectrogram_1/dft_real_kernels:0"]
        group.create_dataset("melspectrogram_1/dft_real_kernels:0", data=np.zeros((2, 2)))
    with pytest.raises(O.OpenL3WeightsError, match="kapre 0.1 front-end weights"):
        O.load(old)
    half = tmp_path / "half" / "openl3_audio_mel256_music.npz"
    half.parent.mkdir()
    np.savez(half, **{"conv2d_1/kernel:0": np.zeros((3, 3, 1, 8), np.float32)})
    with pytest.raises(O.OpenL3WeightsError, match="8 of each"):
        O.load(half)


def test_openl3_embeds_left_and_right_as_stable_audio_metrics(weights, clips, tmp_path):
    path, _ = weights
    wave = clips[1][0]
    stereo = OpenL3(str(path), rate=44100, channels=2)
    x44 = soxr.resample(wave, 24000, 44100)
    mono = stereo(x44, 44100)
    assert mono.shape == (20, 2 * SMALL[-1])  # 1,024 for the released network
    np.testing.assert_array_equal(mono[:, : SMALL[-1]], mono[:, SMALL[-1] :])  # duplicated
    pair = stereo.batch([np.stack([x44, 0.3 * np.roll(x44, 441)])], 44100)[0]
    assert pair.shape == (20, 2 * SMALL[-1]) and not np.array_equal(
        pair[:, : SMALL[-1]], pair[:, SMALL[-1] :]
    )
    half = SMALL[-1]
    np.testing.assert_array_equal(pair[:, :half], mono[:, :half])  # L alone is the mono file
    one = OpenL3(str(path), rate=44100, channels=1)(x44, 44100)
    assert one.shape == (20, half)
    # a clip at another rate is brought to the evaluation rate with soxr first, as the tool does
    x48 = soxr.resample(wave, 24000, 48000)
    np.testing.assert_array_equal(
        stereo(x48, 48000), stereo(soxr.resample(x48, 48000, 44100), 44100)
    )
    # the network's arrays written as .npz by Keras names load back to the same network
    copy = O.load(O.save_npz(O.load(path), tmp_path / "openl3_audio_mel256_music.npz"))
    spec = torch.randn(2, 1, 256, 199)
    with torch.inference_mode():
        np.testing.assert_array_equal(
            copy.network(spec).numpy(), O.load(path).network(spec).numpy()
        )


# --- KL-PaSST as stable-audio-metrics ----------------------------------------------------


@pytest.fixture(scope="module")
def passt10(tmp_path_factory):
    torch.manual_seed(5)
    root = tmp_path_factory.mktemp("passt10")
    path = root / "passt-s-f128-p16-s10-ap.476-swa.pt"
    torch.save(P.build(P.PasstConfig(width=64, depth=2)).state_dict(), path)
    path20 = root / "passt-s-f128-20sec-p16-s10-ap.474-swa.pt"
    torch.save(P.build(P.PasstConfig(width=64, depth=2, time_patches=200)).state_dict(), path20)
    return path, path20


def sao_windows_written_out(audio):
    """passt_kld.return_probabilities' loop, as written in stable-audio-metrics."""
    step, size = int((10 - 5) * 32000), int(10 * 32000)
    out = []
    for i in range(0, max(step, len(audio) - step), step):
        window = audio[i : i + size]
        if len(window) < size and len(window) > int(size * 0.15):
            tmp = np.zeros(size)
            tmp[: len(window)] = window
            window = tmp
        out.append(window.astype(np.float32))
    return out


def tool_probabilities(net, path):
    """passt_kld's probabilities of one file, as the tool computes them."""
    import librosa
    import torch.nn.functional as F

    audio, _ = librosa.load(path, sr=32000, mono=True)  # the tool's load (soxr HQ)
    audio = audio * np.float32(10 ** (-1 / 20) / np.max(np.abs(audio)))  # pyloudnorm peak
    with torch.no_grad():
        logits = [net(torch.from_numpy(w)[None])[0][0] for w in sao_windows_written_out(audio)]
    return F.softmax(torch.stack(logits).mean(0), dim=0)


def test_the_windows_are_the_tools(clips, passt10):
    x = soxr.resample(clips[1][0], 24000, 32000)
    long = np.tile(x, 3)[: int(20.5 * 32000)]
    for wave, count in ((x, 1), (long, 4), (x[: int(7.3 * 32000)], 1), (x[:40000], 1)):
        ours, theirs = sao_windows(wave), sao_windows_written_out(wave)
        assert len(ours) == len(theirs) == count
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(a, b)
    assert len(sao_windows(x[:40000])[0]) == 40000  # under 15 % of 10 s: passed as it is
    with pytest.raises(Exception, match="the 20 s PaSST"):
        PasstSao(str(passt10[1]))


def test_kld_passt_sao_is_the_tools_kl_and_reads_its_pickles(clips, passt10, tmp_path):
    import torch.nn.functional as F

    from musiccaps_kit.bench.run import BenchSettings, run_bench
    from musiccaps_kit.bench.settings import model_options

    ids, waves = clips
    ref, system = tmp_path / "ref", tmp_path / "sys"
    ref.mkdir()
    system.mkdir()
    for clip_id, wave in zip(ids, waves, strict=True):
        sf.write(ref / f"{clip_id}.wav", wave, 24000, subtype="FLOAT")
        sf.write(system / f"{clip_id}.wav", np.roll(wave, 12000) * 0.5, 24000, subtype="FLOAT")
    # both PaSST options given: the 10 s file is the one used, whichever option holds it
    options = model_options(
        passt_checkpoint=str(passt10[1]), passt_embedding_checkpoint=str(passt10[0])
    )
    settings = BenchSettings(
        metrics=("kld_passt_sao",), embedder_options=options, bootstrap_rounds=20
    )
    result = run_bench(ref, {"sys": system}, settings, tmp_path / "cache")["rows"][0]
    kl = result["results"]["kld_passt_sao"]
    net = P.load(passt10[0])
    expected, tool_pickle = {}, {}
    for clip_id in ids:
        p_ref, p_sys = (
            tool_probabilities(net, ref / f"{clip_id}.wav"),
            tool_probabilities(net, system / f"{clip_id}.wav"),
        )
        tool_pickle[clip_id] = p_ref
        expected[clip_id] = float(F.kl_div((p_ref + 1e-6).log(), p_sys, reduction="sum"))
    assert kl.per_clip == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert kl.value == pytest.approx(np.mean(list(expected.values())), rel=1e-4)
    assert kl.recipe["claim"]["header"].startswith("as stable-audio-metrics")
    # the reference as the tool's pickle (torch tensors pickled, as passt_kld stores them)
    pkl = tmp_path / "reference_probabilities.pkl"
    pkl.write_bytes(pickle.dumps(tool_pickle))
    from_pickle = run_bench(pkl, {"sys": system}, settings, tmp_path / "cache")["rows"][0]
    assert from_pickle["results"]["kld_passt_sao"].per_clip == pytest.approx(kl.per_clip, abs=1e-6)


def test_a_hostile_pickle_is_refused_never_run(tmp_path, realmusic):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    hostile = tmp_path / "evil.pkl"
    hostile.write_bytes(pickle.dumps({"id": Evil()}))
    with pytest.raises(SaoReferenceError, match="refused io.open: only tensors are admitted"):
        read_probabilities(hostile)
    assert not marker.exists()
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(SaoReferenceError, match="not a dict"):
        read_probabilities(tmp_path / "list.pkl")
    (tmp_path / "short.pkl").write_bytes(pickle.dumps({"a": torch.ones(10)}))
    with pytest.raises(SaoReferenceError, match="id 'a' is not 527"):
        read_probabilities(tmp_path / "short.pkl")
    shared = realmusic.parent / "data" / "stable-audio-metrics" / SHARED_PKL
    probs = read_probabilities(shared)  # the tool's own SDD no-singing file
    assert len(probs) == 586 and all(abs(p.sum() - 1) < 1e-5 for p in probs.values())


def test_the_tools_sdd_pickle_as_the_reference(clips, passt10, realmusic, tmp_path):
    """The tool's no-audio SDD example: its reference probabilities (computed by the tool with
    the released PaSST on the real SDD audio) against generated files named by caption id."""
    import torch.nn.functional as F

    shared = realmusic.parent / "data" / "stable-audio-metrics" / SHARED_PKL
    p_ref = read_probabilities(shared)
    caption_ids = sorted(p_ref)[:3]
    ids, waves = clips
    system = tmp_path / "generated"
    system.mkdir()
    for caption_id, wave in zip(caption_ids, waves, strict=False):
        sf.write(system / f"{caption_id}.wav", wave, 24000, subtype="FLOAT")
    sf.write(system / "not-a-caption.wav", waves[-1], 24000, subtype="FLOAT")
    args = ["bench", "--reference", str(shared), "--system", f"gen={system}", "--metrics",
            "kld_passt_sao", "--passt-checkpoint", str(passt10[0]), "--bootstrap", "10",
            "--out", str(tmp_path / "board")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    row = json.loads((tmp_path / "board" / "leaderboard.json").read_text())["rows"][0]
    assert row["n_common"] == 3 and row["extra_ids"] == ["not-a-caption"]
    kl = row["metrics"]["kld_passt_sao"]
    net = P.load(passt10[0])
    expected = []
    for caption_id in caption_ids:
        p_sys = tool_probabilities(net, system / f"{caption_id}.wav")
        p = torch.from_numpy(p_ref[caption_id])
        expected.append(float(F.kl_div((p + 1e-6).log(), p_sys, reduction="sum")))
    assert kl["n"] == 3 and kl["value"] == pytest.approx(np.mean(expected), rel=1e-4)


# --- CLAP score with fusion -------------------------------------------------------------


@pytest.fixture(scope="module")
def fusion_clap(tmp_path_factory):
    from tests.tiny_hf import laion_checkpoint, tiny_fusion_clap

    root = tmp_path_factory.mktemp("fusion")
    pt = laion_checkpoint(tiny_fusion_clap(root / "folder"), root / "630k-audioset-fusion-best.pt")
    return root / "folder", pt


def test_clap_sao_with_fusion(fusion_clap, clips, tmp_path):
    from transformers import ClapFeatureExtractor, ClapModel

    from musiccaps_kit.bench.embedders.clap import ClapSao, ClapWindows, int16_round_trip
    from musiccaps_kit.bench.embedders.laion_checkpoint import load_laion_checkpoint

    folder, pt = fusion_clap
    converted = load_laion_checkpoint(pt)
    original = ClapModel.from_pretrained(folder).eval()
    assert converted.config.audio_config.enable_fusion
    fused = [k for k in original.state_dict() if "fusion_model" in k]
    assert fused and all(
        torch.equal(converted.state_dict()[k], original.state_dict()[k]) for k in fused
    )
    wave = np.tile(soxr.resample(clips[1][0], 24000, 48000), 2)[: 48000 * 23]  # 23 s
    embedder = ClapSao(str(pt), tokenizer=str(folder), seed=0)
    got = embedder.batch([wave], 48000)[0][0]
    # the tool's path written out: int16 round trip, fusion with seeded crops
    extractor = ClapFeatureExtractor.from_pretrained(folder)
    np.random.seed(0)
    features = extractor([int16_round_trip(wave)], sampling_rate=48000, return_tensors="pt",
                         truncation="fusion", padding="repeatpad")  # fmt: skip
    with torch.no_grad():
        expected = converted.get_audio_features(
            input_features=features["input_features"], is_longer=features["is_longer"]
        )
    expected = getattr(expected, "pooler_output", expected)[0].numpy()
    np.testing.assert_allclose(got, expected / np.linalg.norm(expected), atol=1e-5)
    assert features["is_longer"].all()  # over 10 s: the fusion branch
    np.random.seed(123)  # the crops do not depend on the global generator's state
    np.testing.assert_array_equal(embedder.batch([wave], 48000)[0][0], got)
    with pytest.raises(ValueError, match="a fusion checkpoint"):
        ClapWindows(str(pt), tokenizer=str(folder))
    from tests.tiny_hf import laion_checkpoint, tiny_clap

    plain = laion_checkpoint(tiny_clap(tmp_path / "plain"), tmp_path / "my-fusion-model.pt")
    with pytest.raises(ValueError, match="named as a fusion checkpoint but holds no fusion"):
        ClapSao(str(plain), tokenizer=str(folder))


def laion_fusion_written_out(model, extractor, wave: np.ndarray, seed: int) -> np.ndarray:
    """laion_clap's ``get_audio_features(..., "fusion", "repeatpad")`` then HTSAT in eval
    mode, written out: over 10 s (by more than one hop) three random crops and the shrunk
    whole with ``longer`` set; otherwise the (repeat-padded) whole four times, not longer."""
    window, hop = 480000, 480
    np.random.seed(seed)
    if len(wave) > window:
        mel = extractor._np_extract_fbank_features(wave, extractor.mel_filters)
        chunk = window // hop + 1
        if mel.shape[0] == chunk:
            fusion, longer = np.stack([mel] * 4), False
        else:
            fusion, longer = extractor._random_mel_fusion(mel, mel.shape[0], chunk), True
    else:
        padded = np.tile(wave, int(window / len(wave)))
        padded = np.pad(padded, (0, window - len(padded)))
        mel = extractor._np_extract_fbank_features(padded, extractor.mel_filters)
        fusion, longer = np.stack([mel] * 4), False
    with torch.no_grad():
        out = model.get_audio_features(
            input_features=torch.tensor(fusion[None], dtype=torch.float32),
            is_longer=torch.tensor([[longer]]),
        )
    out = getattr(out, "pooler_output", out)[0].numpy()
    return out / np.linalg.norm(out), longer


def test_clap_sao_fusion_only_for_clips_over_10s(fusion_clap, clips):
    """A clip of 10 s or less (or within one hop over) takes no fusion layer, as laion_clap
    decides per clip; transformers' extractor alone would mark it longer at random."""
    from transformers import ClapFeatureExtractor

    from musiccaps_kit.bench.embedders.clap import ClapSao, int16_round_trip
    from musiccaps_kit.bench.embedders.laion_checkpoint import load_laion_checkpoint

    folder, pt = fusion_clap
    model = load_laion_checkpoint(pt).eval()
    extractor = ClapFeatureExtractor.from_pretrained(folder)
    embedder = ClapSao(str(pt), tokenizer=str(folder), seed=3)
    base = np.tile(soxr.resample(clips[1][0], 24000, 48000), 3)
    lengths = {"7 s": 7 * 48000, "10 s": 480000, "10 s + 100": 480100, "10 s + 1 hop": 480480,
               "23 s": 23 * 48000}  # fmt: skip
    flags = {}
    for label, n in lengths.items():
        wave = base[:n]
        got = embedder.batch([wave], 48000)[0][0]
        expected, flags[label] = laion_fusion_written_out(
            model, extractor, int16_round_trip(wave), 3
        )
        np.testing.assert_allclose(got, expected, atol=2e-5, err_msg=label)
        if not flags[label]:  # the fusion layers would have changed it
            fused = model.get_audio_features(
                input_features=extractor([int16_round_trip(wave)], sampling_rate=48000,
                                         return_tensors="pt", truncation="fusion",
                                         padding="repeatpad")["input_features"],
                is_longer=torch.tensor([[True]]),
            )  # fmt: skip
            fused = getattr(fused, "pooler_output", fused)[0].detach().numpy()
            assert np.abs(fused / np.linalg.norm(fused) - got).max() > 1e-3, label
    assert flags == {"7 s": False, "10 s": False, "10 s + 100": False, "10 s + 1 hop": True,
                     "23 s": True}  # fmt: skip


# --- the bench --------------------------------------------------------------------------


def test_bench_sao_on_real_clips(weights, passt10, fusion_clap, clips, tmp_path):
    path, _ = weights
    folder, pt = fusion_clap
    ids, waves = clips
    ref, system = tmp_path / "ref", tmp_path / "sys"
    ref.mkdir()
    system.mkdir()
    for k, (clip_id, wave) in enumerate(zip(ids, waves, strict=True)):
        if k == 0:
            wave = np.tile(wave, 3)[: int(20.5 * 24000)]  # a clip over 20 s
        sf.write(ref / f"{clip_id}.flac", wave, 24000)
        if k % 2:  # 48 kHz stereo
            w = soxr.resample(wave, 24000, 48000)
            sf.write(system / f"{clip_id}.wav", np.stack([w, 0.5 * w], 1), 48000, subtype="FLOAT")
        else:  # 44.1 kHz mono
            sf.write(system / f"{clip_id}.wav", soxr.resample(wave, 24000, 44100), 44100)
    captions = tmp_path / "captions.csv"
    captions.write_text("ytid,caption\n" + "".join(f"{i},music number {i}\n" for i in ids))
    args = ["bench", "--reference", str(ref), "--system", f"mine={system}", "--metrics", "sao",
            "--openl3-weights", str(path), "--passt-checkpoint", str(passt10[0]),
            "--clap-model", str(pt), "--clap-tokenizer", str(folder), "--captions", str(captions),
            "--bootstrap", "10", "--cache-dir", str(tmp_path / "cache")]  # fmt: skip

    def bench(out: str, *more: str):
        return CliRunner().invoke(main, [*args, *more, "--out", str(tmp_path / out)])

    result = bench("board")
    assert result.exit_code == 0, result.output
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    assert board["metrics"] == ["fd_openl3", "kld_passt_sao", "clap_score_sao"]
    for metric in board["metrics"]:
        column = board["columns"][metric]
        assert column["protocol"].startswith("as stable-audio-metrics"), (metric, column)
        assert len(column["sha256"]) == 12
        value = board["rows"][0]["metrics"][metric]
        assert math.isfinite(value["value"]) and value["ci"][0] <= value["value"] <= value["ci"][1]
    fd = board["rows"][0]["metrics"]["fd_openl3"]
    # every window of every file pooled: 41 + 20 x 3 windows a side, 1,024-d (L and R)
    assert fd["recipe"]["frames_reference"] == fd["recipe"]["frames_system"] == 41 + 60
    assert board["columns"]["fd_openl3"]["audio_path"] == "peak -1 dBFS + soxr-HQ + channels kept"
    # the tool's reference statistics in place of the reference audio give the same FD
    frames = np.concatenate([
        OpenL3(str(path))(soxr.resample(
            sf.read(ref / f"{i}.flac", dtype="float32")[0] * np.float32(
                10 ** (-1 / 20) / np.abs(sf.read(ref / f"{i}.flac", dtype="float32")[0]).max()),
            24000, 44100), 44100) for i in sorted(ids)])  # fmt: skip
    stats = tmp_path / "mine__channels2__44100__openl3music__openl3hopsize0.5__batch4.npz"
    np.savez(stats, mu_ref=frames.mean(0), sigma_ref=np.cov(frames, rowvar=False))
    again = bench("stats", "--metrics", "fd_openl3", "--reference-stats", str(stats))
    assert again.exit_code == 0, again.output
    from_stats = json.loads((tmp_path / "stats" / "leaderboard.json").read_text())
    assert from_stats["rows"][0]["metrics"]["fd_openl3"]["value"] == pytest.approx(
        fd["value"], rel=1e-5
    )
    np.savez(tmp_path / "wrong.npz", mu_ref=np.zeros(6144), sigma_ref=np.eye(6144)[:2])
    bad = bench("bad", "--metrics", "fd_openl3", "--reference-stats", str(tmp_path / "wrong.npz"))
    assert (
        bad.exit_code == 1 and "6144-d embeddings" in bad.output and "Traceback" not in bad.output
    )
    # a named exclusion takes ids out of the reference
    excluded = tmp_path / "ids.txt"
    excluded.write_text(f"# not downloaded\n{ids[0]}\n")
    fewer = bench("fewer", "--metrics", "kld_passt_sao", "--exclude-reference", str(excluded))
    assert fewer.exit_code == 0, fewer.output
    fewer_board = json.loads((tmp_path / "fewer" / "leaderboard.json").read_text())
    assert fewer_board["rows"][0]["metrics"]["kld_passt_sao"]["n"] == len(ids) - 1
    assert any("1 reference ids excluded" in n for n in fewer_board["notes"])
