"""Each column hears what its tool's model hears: the resamplers (torchaudio's Kaiser sinc
as fadtk/kadtk call it, julius as AudioCraft calls it) against their formulas written out,
fadtk's 16-bit file, BS.1770-4 loudness as torchaudio computes it and AudioCraft's loudness
step, kadtk's 1 s pooling and its 20 s PaSST windows, on real clips of 10, 20.5 and 7.3 s."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from musiccaps_kit.bench.audio_paths import AUDIOCRAFT_GENERATED, FADTK, libsndfile_round_trip
from musiccaps_kit.bench.embedders import passt_network as P
from musiccaps_kit.bench.embedders.encodec import Encodec
from musiccaps_kit.bench.embedders.passt import PasstScene, scene_windows
from musiccaps_kit.bench.loudness import audiocraft_loudness, bs1770_loudness, peak_normalize
from musiccaps_kit.bench.resamplers import julius_resample, torchaudio_kaiser
from tests.tiny_hf import tiny_encodec


@pytest.fixture(scope="module")
def clips(realmusic):
    """Real 24 kHz clips: three of 10 s, and 20.5 s and 7.3 s made by joining and cutting."""
    rows = list(csv.DictReader(open(realmusic / "manifest.csv")))[::20][:5]
    waves = [
        sf.read(realmusic / "clips" / f"{r['clip_id']}.flac", dtype="float32")[0] for r in rows
    ]
    joined = np.concatenate(waves)
    return {
        "10": waves[0],
        "10b": waves[1],
        "20.5": joined[: int(20.5 * 24000)],
        "7.3": waves[2][: int(7.3 * 24000)],
    }


# --- resamplers -------------------------------------------------------------------------


def kaiser_written_out(
    x, orig, new, js, lpw=64, rolloff=0.9475937167399596, beta=14.769656459379492
):
    """torchaudio's sinc_interp_kaiser, output sample by output sample: y[j] = sum_i x[i]
    (base / orig) sinc(base (i / orig - j / new)) kaiser(...), rates over their gcd, the
    signal zero outside."""
    g = math.gcd(orig, new)
    o, n = orig // g, new // g
    base = min(o, n) * rolloff
    out = []
    for j in js:
        i = np.arange(len(x))
        t = np.clip((i / o - j / n) * base, -lpw, lpw)
        window = np.i0(beta * np.sqrt(1 - (t / lpw) ** 2)) / np.i0(beta)
        out.append(np.sum(x * np.sinc(t) * window * base / o))
    return np.array(out)


def julius_written_out(x, old, new, js, zeros=24, rolloff=0.945):
    """julius.resample_frac: per output phase a Hann-windowed sinc normalised to sum 1, the
    signal extended by its edge values."""
    g = math.gcd(old, new)
    o, n = old // g, new // g
    sr = min(o, n) * rolloff
    width = math.ceil(zeros * o / sr)
    out = []
    for j in js:
        block, phase = divmod(j, n)
        idx = np.arange(-width, width + o)
        t = np.clip((-phase / n + idx / o) * sr, -zeros, zeros) * np.pi
        kernel = (
            np.where(t == 0, 1.0, np.sin(t) / np.where(t == 0, 1, t)) * np.cos(t / zeros / 2) ** 2
        )
        kernel /= kernel.sum()
        where = np.clip(block * o + idx, 0, len(x) - 1)
        out.append(np.sum(x[where] * kernel))
    return np.array(out)


@pytest.mark.parametrize("orig,new", [(24000, 48000), (44100, 32000), (48000, 16000)])
def test_torchaudio_kaiser_is_its_formula(clips, orig, new):
    x = soxr.resample(clips["10"], 24000, orig) if orig != 24000 else clips["10"]
    ours = torchaudio_kaiser(x, orig, new)
    assert len(ours) == math.ceil(len(x) * new / orig)
    js = [0, 1, 7, len(ours) // 2, len(ours) // 2 + 1, len(ours) - 1]
    expected = kaiser_written_out(x.astype(np.float64), orig, new, js)
    np.testing.assert_allclose(ours[js], expected, atol=2e-6 * np.abs(x).max())


@pytest.mark.parametrize("orig,new", [(24000, 32000), (44100, 32000), (48000, 16000)])
def test_julius_is_its_formula(clips, orig, new):
    x = soxr.resample(clips["10"], 24000, orig) if orig != 24000 else clips["10"]
    ours = julius_resample(x, orig, new)
    assert len(ours) == int(len(x) * new / orig)
    js = [0, 3, len(ours) // 3, len(ours) // 2 + 5, len(ours) - 2]
    expected = julius_written_out(x.astype(np.float64), orig, new, js)
    np.testing.assert_allclose(ours[js], expected, atol=2e-6 * np.abs(x).max())


def test_the_resamplers_agree_on_music_and_differ_near_nyquist(clips):
    x = clips["10"]
    a = torchaudio_kaiser(x, 24000, 48000)
    b = julius_resample(x, 24000, 48000)
    c = soxr.resample(x, 24000, 48000, quality="HQ")
    n = min(len(a), len(b), len(c))
    for other in (b, c):
        error = np.sqrt(np.mean((a[:n] - other[:n]) ** 2)) / np.sqrt(np.mean(a[:n] ** 2))
        assert error < 0.02  # the same music
    t = np.arange(24000) / 24000
    tone = (0.5 * np.sin(2 * np.pi * 11600 * t)).astype(np.float32)  # 97 % of Nyquist
    resamplers = (torchaudio_kaiser, julius_resample, lambda w, o, n: soxr.resample(w, o, n, "HQ"))
    levels = [np.sqrt(np.mean(f(tone, 24000, 48000)[2000:-2000] ** 2)) for f in resamplers]
    assert max(levels) - min(levels) > 0.01  # each rolls off the top band its own way


def test_fadtks_16_bit_file(tmp_path):
    x = np.array([0.5, -0.5, 1e-5, -1.0, 0.99999, 0.25], dtype=np.float32)
    back = libsndfile_round_trip(x, 24000)
    # what soundfile itself writes and reads, as int16 / 32768
    sf.write(tmp_path / "x.wav", x, 24000, subtype="PCM_16")
    pcm, _ = sf.read(tmp_path / "x.wav", dtype="int16")
    np.testing.assert_array_equal(back, pcm / np.float32(32768))
    assert back.dtype == np.float32 and np.all(np.abs(back - x) <= 1.5 / 32768)


def test_the_fadtk_path_is_kaiser_then_16_bit(clips):
    samples = np.stack([clips["10"], clips["10b"]])  # stereo: the mean, then the resampler
    out, notes = FADTK.apply(samples, 24000, 48000)
    expected = libsndfile_round_trip(torchaudio_kaiser(samples.mean(0), 24000, 48000), 48000)
    np.testing.assert_array_equal(out, expected)
    assert notes == [] and np.all(np.round(out * 32768) == out * 32768)


# --- loudness ---------------------------------------------------------------------------


def k_weighting_written_out(rate):
    """The two biquads torchaudio's loudness uses (RBJ treble shelf: 4 dB at 1500 Hz, Q
    1/sqrt 2; high-pass: 38 Hz, Q 0.5), designed in float64: (b, a) pairs."""
    w0 = 2 * np.pi * 1500 / rate
    alpha = np.sin(w0) / 2 / (1 / np.sqrt(2))
    A = 10 ** (4 / 40)
    c = np.cos(w0)
    shelf = (
        [A * ((A + 1) + (A - 1) * c + 2 * np.sqrt(A) * alpha), -2 * A * ((A - 1) + (A + 1) * c),
         A * ((A + 1) + (A - 1) * c - 2 * np.sqrt(A) * alpha)],
        [(A + 1) - (A - 1) * c + 2 * np.sqrt(A) * alpha, 2 * ((A - 1) - (A + 1) * c),
         (A + 1) - (A - 1) * c - 2 * np.sqrt(A) * alpha],
    )  # fmt: skip
    w0 = 2 * np.pi * 38 / rate
    alpha, c = np.sin(w0) / 2 / 0.5, np.cos(w0)
    high = ([(1 + c) / 2, -1 - c, (1 + c) / 2], [1 + alpha, -2 * c, 1 - alpha])
    return shelf, high


def loudness_written_out(x, rate):
    """BS.1770-4 with torchaudio's steps: K-weighting (each filter's output clamped to
    [-1, 1]), 400 ms blocks every 100 ms, absolute gate -70, relative gate -10 LU."""
    from scipy.signal import lfilter

    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    for b, a in k_weighting_written_out(rate):
        x = np.clip(lfilter(b, a, x, axis=-1), -1, 1)
    size, step = round(0.4 * rate), round(0.1 * rate)
    starts = range(0, x.shape[1] - size + 1, step)
    energy = np.array([[np.mean(ch[s : s + size] ** 2) for s in starts] for ch in x])
    weights = np.array([1, 1, 1, 1.41, 1.41])[: len(x), None]
    block = -0.691 + 10 * np.log10((weights * energy).sum(0))
    gated = block > -70
    mean = (weights[:, 0] * energy[:, gated].mean(1)).sum()
    gated &= block > -0.691 + 10 * np.log10(mean) - 10
    return -0.691 + 10 * np.log10((weights[:, 0] * energy[:, gated].mean(1)).sum())


def test_a_997_hz_sine_reads_its_closed_form():
    from scipy.signal import freqz

    rate, amplitude = 48000, 0.1  # -20 dBFS
    t = np.arange(10 * rate) / rate
    sine = (amplitude * np.sin(2 * np.pi * 997 * t)).astype(np.float32)
    gain = 1.0
    for b, a in k_weighting_written_out(rate):
        gain *= np.abs(freqz(b, a, worN=[997], fs=rate)[1][0]) ** 2
    closed_form = -0.691 + 10 * np.log10(gain * amplitude**2 / 2)
    assert bs1770_loudness(sine, rate) == pytest.approx(closed_form, abs=2e-3)
    assert closed_form == pytest.approx(-23.05, abs=0.01)  # torchaudio's filters: not -23.01


def test_gating_as_torchaudio_on_real_clips(clips):
    x48 = soxr.resample(clips["10"], 24000, 48000)
    stereo = np.stack([x48, 0.3 * soxr.resample(clips["10b"], 24000, 48000)])
    half_silent = np.concatenate([clips["10"][: 5 * 24000] * 0.5, np.zeros(5 * 24000, np.float32)])
    quiet_then_loud = np.concatenate([clips["10"][:120000] * 0.01, clips["10b"][:120000]])
    hot = np.clip(clips["10"] * 6, -1, 1)  # the lfilter clamp at work
    cases = [(clips["10"], 24000), (stereo, 48000), (half_silent, 24000)]
    for wave, rate in [*cases, (quiet_then_loud, 24000), (hot, 24000)]:
        assert bs1770_loudness(wave, rate) == pytest.approx(
            loudness_written_out(wave, rate), abs=2e-3
        )
    assert math.isnan(bs1770_loudness(np.zeros(48000, np.float32), 48000))  # all gated out
    assert math.isnan(bs1770_loudness(clips["10"][:9000], 24000))  # shorter than one block


def test_audiocrafts_loudness_step(clips):
    out, change = audiocraft_loudness(clips["10"][None], 24000)
    assert change.left_as_is is None
    assert bs1770_loudness(out, 24000) == pytest.approx(-14.0, abs=0.05)  # unless clamped
    assert change.gain == pytest.approx(10 ** ((-14 - change.measured) / 20))
    quiet = clips["10"] * 1e-3  # RMS under AudioCraft's 2e-3 floor: left as is
    out, change = audiocraft_loudness(quiet[None], 24000)
    np.testing.assert_array_equal(out[0], quiet)
    assert "floor" in change.left_as_is
    short = clips["10"][:7200]  # 0.3 s at a normal level: no 400 ms block to measure
    out, change = audiocraft_loudness(short[None], 24000)
    assert "not measurable" in change.left_as_is and np.array_equal(out[0], short)
    hot, _ = audiocraft_loudness(np.clip(clips["10"] * 40, -3, 3)[None], 24000)
    assert np.abs(hot).max() <= 1.0  # clamped after the gain
    peaked, change = peak_normalize(clips["10"], -1.0)
    assert np.abs(peaked).max() == pytest.approx(10 ** (-1 / 20), rel=1e-6)
    # each tool's arithmetic, written out: pyloudnorm's float64 gain applied in float32
    # (numpy 1.x), AudioCraft's `wav * (scale_peak / wav.abs().max())` in torch
    x = clips["10"] * np.float32(0.37)
    gain = np.power(10.0, -1 / 20) / np.max(np.abs(x))
    np.testing.assert_array_equal(peak_normalize(x, -1.0)[0], x * np.float32(gain))
    t = torch.from_numpy(x)
    audiocraft = (t * (10 ** (-1 / 20) / t.abs().max())).numpy()
    np.testing.assert_array_equal(peak_normalize(x, -1.0, "audiocraft")[0], audiocraft)
    with pytest.raises(ValueError, match="one of pyloudnorm, audiocraft"):
        peak_normalize(x, -1.0, "ffmpeg")


def test_the_loudness_path_measures_at_the_files_rate(clips):
    x48 = soxr.resample(clips["10"], 24000, 48000).astype(np.float32)
    out, notes = AUDIOCRAFT_GENERATED.apply(x48[None], 48000, 32000)
    levelled, _ = audiocraft_loudness(x48[None], 48000)
    expected = julius_resample(levelled, 48000, 32000).mean(0)
    np.testing.assert_array_equal(out, expected)
    assert notes == []
    _, notes = AUDIOCRAFT_GENERATED.apply(np.zeros((1, 48000), np.float32), 48000, 32000)
    assert notes and "left as is" in notes[0]


# --- kadtk's frames ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def encodec(tmp_path_factory):
    return tiny_encodec(tmp_path_factory.mktemp("encodec") / "encodec_24khz")


def test_kadtk_pools_encodec_frames_to_1_s(clips, encodec):
    fadtk = Encodec(str(encodec))
    kadtk = Encodec(str(encodec), pooling="kadtk")
    for name, count in (("10", 10), ("20.5", 20), ("7.3", 7)):
        wave = clips[name]
        frames = fadtk(wave, 24000)
        assert len(frames) == math.ceil(len(wave) / 320)
        # kadtk postprocess_resoultion written out: stride = int(frames / seconds)
        stride = int(len(frames) / (len(wave) / 24000))
        expected = frames[: count * stride].reshape(count, stride, -1).mean(1)
        pooled = kadtk(wave, 24000)
        assert pooled.shape == (count, 128)
        np.testing.assert_allclose(pooled, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="shorter than kadtk's 1 s pooling window"):
        kadtk(clips["10"][:12000], 24000)


@pytest.fixture(scope="module")
def passt_files(tmp_path_factory):
    torch.manual_seed(3)
    root = tmp_path_factory.mktemp("passt-files")
    small = {"width": 64, "depth": 2}
    files = {}
    for seconds, patches in ((10, 99), (20, 200)):
        files[seconds] = root / f"small-{seconds}s.pt"
        torch.save(
            P.build(P.PasstConfig(**small, time_patches=patches)).state_dict(), files[seconds]
        )
    return files


def hear21passt_windows(audio: torch.Tensor) -> torch.Tensor:
    """PasstBasicWrapper.get_timestamp_embeddings(window_size=10 s, hop=scene_hop) segments,
    hear21passt's own lines: F.pad reflect by window // 2, then F.unfold."""
    window, hop = 10000 * 32, 2500 * 32
    padded = torch.nn.functional.pad(audio.unsqueeze(1), (window // 2, window // 2), mode="reflect")
    segments = torch.nn.functional.unfold(
        padded.unsqueeze(1), kernel_size=(1, window), stride=(1, hop)
    )
    return segments.transpose(-1, -2).transpose(0, 1)  # [windows, sounds, samples]


def test_kadtk_20s_passt_goes_through_the_10s_wrappers_windows(clips, passt_files):
    scene = PasstScene(str(passt_files[20]))
    assert scene.seconds == 20
    net = P.load(passt_files[20])
    for name in ("20.5", "7.3", "10"):
        wave = soxr.resample(clips[name], 24000, 32000).astype(np.float32)
        fitted = np.zeros(20 * 32000, np.float32)  # kadtk: padded or cut to 20 s
        fitted[: min(len(wave), len(fitted))] = wave[: len(fitted)]
        segments = hear21passt_windows(torch.from_numpy(fitted)[None])
        assert segments.shape == (9, 1, 320000)
        ours = scene_windows(fitted)
        for a, b in zip(ours, segments[:, 0], strict=True):
            np.testing.assert_array_equal(a, b.numpy())
        with torch.no_grad():
            expected = torch.stack([torch.cat(net(s), dim=1) for s in segments]).mean(0)[0]
        np.testing.assert_allclose(scene(wave, 32000)[0], expected.numpy(), rtol=1e-5, atol=1e-6)
    ten = PasstScene(str(passt_files[10]))
    assert len(scene_windows(np.zeros(10 * 32000, np.float32))) == 1  # one pass at 10 s
    assert ten(clips["20.5"], 24000).shape == (1, 527 + 64)


def test_passt_files_of_other_networks_are_refused(passt_files, tmp_path):
    state = torch.load(passt_files[10], weights_only=True)
    openmic = dict(state, **{"head.1.weight": torch.zeros(20, 64), "head.1.bias": torch.zeros(20)})
    torch.save(openmic, tmp_path / "openmic-passt-s-f128-10sec-p16-s10-ap.85.pt")
    with pytest.raises(P.PasstCheckpointError, match="20 classes, not AudioSet's 527"):
        PasstScene(str(tmp_path / "openmic-passt-s-f128-10sec-p16-s10-ap.85.pt"))
    thirty = dict(state, time_new_pos_embed=torch.zeros(1, 64, 1, 300))
    torch.save(thirty, tmp_path / "passt-s-f128-30sec-p16-s10-ap.473-swa.pt")
    with pytest.raises(P.PasstCheckpointError, match="not the 30 s release"):
        PasstScene(str(tmp_path / "passt-s-f128-30sec-p16-s10-ap.473-swa.pt"))
    (tmp_path / "cut.pt").write_bytes(passt_files[10].read_bytes()[:2000])
    with pytest.raises(P.PasstCheckpointError, match="cut.pt: not a readable"):
        PasstScene(str(tmp_path / "cut.pt"))


# --- one bench: MusicGen's columns and kadtk's, each with its own weights ----------------


def test_musicgen_and_kad_in_one_bench(realmusic, passt_files, tmp_path):
    import json
    import shutil

    from click.testing import CliRunner

    from musiccaps_kit.cli import main
    from tests.hub_models import build_vggish_like
    from tests.tiny_hf import laion_checkpoint, tiny_clap

    rows = list(csv.DictReader(open(realmusic / "manifest.csv")))[3::30][:4]
    ids = [r["clip_id"] for r in rows]
    ref, system = tmp_path / "reference", tmp_path / "system"
    ref.mkdir()
    system.mkdir()
    captions = tmp_path / "captions.csv"
    captions.write_text(
        "ytid,caption\n"
        + "".join(f"{i},{r['genre_hint']}\n" for i, r in zip(ids, rows, strict=True))
    )
    for k, clip_id in enumerate(ids):
        shutil.copy(realmusic / "clips" / f"{clip_id}.flac", ref)
        wave, _ = sf.read(realmusic / "clips" / f"{clip_id}.flac", dtype="float32")
        wave48 = soxr.resample(wave, 24000, 48000)
        stereo = np.stack([wave48, 0.5 * np.roll(wave48, 480)], axis=1) * (0.0 if k == 3 else 0.3)
        sf.write(system / f"{clip_id}.wav", stereo, 48000, subtype="FLOAT")  # 48 kHz stereo
    releases = tmp_path / "releases"
    releases.mkdir()
    f20 = releases / "passt-s-f128-20sec-p16-s10-ap.474-swa.pt"
    f10 = releases / "passt-s-f128-p16-s10-ap.476-swa.pt"
    shutil.copy(passt_files[20], f20)
    shutil.copy(passt_files[10], f10)
    clap_folder = tiny_clap(tmp_path / "clap")
    clap = laion_checkpoint(clap_folder, releases / "music_audioset_epoch_15_esc_90.14.pt")
    vggish = build_vggish_like(tmp_path / "vggish-like")
    args = [
        "bench", "--reference", str(ref), "--system", f"mine={system}",
        "--metrics", "musicgen,kad", "--passt-checkpoint", str(f20),
        "--passt-embedding-checkpoint", str(f10), "--clap-model", str(clap),
        "--clap-tokenizer", str(clap_folder), "--vggish", str(vggish),
        "--captions", str(captions), "--bootstrap", "10", "--no-inf",
        "--cache-dir", str(tmp_path / "cache"),
    ]  # fmt: skip
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "board")])
    assert result.exit_code == 0, result.output
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    columns, metrics = board["columns"], board["rows"][0]["metrics"]
    assert "fad_vggish" not in columns  # MusicLM's recipe is another column
    assert columns["kld_passt"]["protocol"] == "as MusicGen Table 1"
    assert columns["kld_passt"]["checkpoint"] == f20.name
    assert metrics["kld_passt"]["recipe"]["variant"] == "passt-s-20s"
    assert columns["kad_passt"]["protocol"] == "as kadtk passt-base-10s"
    assert metrics["kad_passt"]["recipe"]["variant"] == "passt-s-10s"
    assert columns["clap_score"]["protocol"] == "as MusicGen Table 1"
    # the VGGish-like stand-in is not the TF Hub release: AudioCraft's recipe, other weights
    assert (
        columns["fad_vggish_audiocraft"]["protocol"]
        == "AudioCraft FAD's recipe, other weights (vggish-like)"
    )
    assert "peak -1 dBFS + 16-bit (ffmpeg)" in columns["fad_vggish_audiocraft"]["audio_path"]
    assert "system: loudness -14 LUFS + julius" in columns["kld_passt"]["audio_path"]
    assert columns["kad_clap"]["audio_path"] == "torchaudio-kaiser + 16-bit (libsndfile)"
    for name, m in metrics.items():
        assert math.isfinite(m["value"]), name
    # the silent system clip: left as is by the loudness step, and said so
    warnings = board["rows"][0]["clip_warnings"]
    assert any(w["id"] == ids[3] and "left as is" in w["detail"] for w in warnings)
    markdown = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "| MusicGen 3.3B (MusicGen, reported) |" in markdown
    assert f"checkpoint {f20.name} (sha256 {columns['kld_passt']['sha256']})" in markdown
    html = (tmp_path / "board" / "report.html").read_text()
    assert columns["kad_passt"]["sha256"] in html and "torchaudio-kaiser" in html
    # without the loudness step, MusicGen's protocol is no longer claimed
    quiet = CliRunner().invoke(main, [*args, "--no-loudness", "--out", str(tmp_path / "quiet")])
    assert quiet.exit_code == 0, quiet.output
    board = json.loads((tmp_path / "quiet" / "leaderboard.json").read_text())
    assert board["columns"]["clap_score"]["protocol"] == (
        "AudioCraft's recipe, without MusicGen's loudness step (--no-loudness)"
    )
    assert board["columns"]["kld_passt"]["musicgen_column"] is None
    # a 10 s file for kld_passt: AudioCraft's recipe with other weights than MusicGen's
    swapped = [*args]
    swapped[swapped.index(str(f20))] = str(passt_files[20])
    other = CliRunner().invoke(main, [*swapped, "--out", str(tmp_path / "other")])
    assert other.exit_code == 0, other.output
    board = json.loads((tmp_path / "other" / "leaderboard.json").read_text())
    assert (
        board["columns"]["kld_passt"]["protocol"]
        == "AudioCraft's recipe, other weights (small-20s.pt)"
    )
