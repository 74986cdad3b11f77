"""Riffusion's representation both ways on real clips, and the adapter end to end through
diffusers' real ``from_pretrained`` path with a tiny pipeline saved in the test."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from musiccaps_kit.audio import decode, resample, to_mono
from musiccaps_kit.baselines import riffusion
from musiccaps_kit.baselines import spectrogram_image as S
from musiccaps_kit.data import catalog
from musiccaps_kit.mel import hz_to_mel, mel_to_hz
from musiccaps_kit.resources import DEMO_AUDIO_DIR
from tests.tiny_diffusion import build_pipeline

P = S.RIFFUSION
CLIPS = ["wesnoth-00-0", "nexuiz-02-0", "planetblupi-01-0"]


def _clip(name: str, seconds: float | None = None) -> np.ndarray:
    wave, rate = decode(DEMO_AUDIO_DIR / f"{name}.flac")
    x = resample(to_mono(wave), rate, P.sample_rate)
    return x[: round(seconds * P.sample_rate)] if seconds else x


def _log_mel(wave: np.ndarray) -> np.ndarray:
    mel = S.mel_amplitudes(wave)
    return np.log10(mel / mel.max() + 1e-3)


def test_the_mel_filters_are_htk_triangles_without_norm():
    import librosa

    ours = S.mel_filters(P)
    theirs = librosa.filters.mel(
        sr=P.sample_rate, n_fft=P.n_fft, n_mels=512, fmin=0, fmax=10000, htk=True, norm=None
    )
    assert ours.shape == (P.n_fft // 2 + 1, 512) == theirs.T.shape
    assert np.allclose(ours, theirs.T, atol=1e-6)
    assert (P.hop, P.win, P.n_fft) == (441, 4410, 17640)


def test_a_tone_lands_on_its_mel_row_and_5_12_s_is_512_px():
    t = np.arange(round(5.12 * P.sample_rate)) / P.sample_rate
    for hz in (220.0, 1000.0, 4000.0):
        image = S.image_from_audio(0.5 * np.sin(2 * np.pi * hz * t))
        assert image.size == (512, 512) and image.mode == "RGB"
        pixels = np.asarray(image)
        assert (pixels[..., 0] == pixels[..., 1]).all()
        row = 511 - int(np.argmin(pixels[:, 256, 0]))  # darkest = loudest; flipped
        edges = hz_to_mel([0, 10000], "htk")
        centres = mel_to_hz(np.linspace(edges[0], edges[1], 514)[1:-1], "htk")
        assert abs(centres[row] - hz) < 0.02 * hz + 5, (hz, centres[row])


def test_an_image_reads_back_to_its_mel_amplitudes_up_to_uint8():
    mel = S.mel_amplitudes(_clip(CLIPS[0], 5.12))
    back = S.mel_from_image(S.image_from_mel(mel))
    scaled = mel / mel.max() * P.max_value
    # uint8 steps of the 0.25-power curve: at most one step, relative to the peak
    steps = np.abs(back**0.25 - scaled**0.25) / P.max_value**0.25
    assert steps.max() <= 1 / 255 + 1e-9


def test_griffin_lim_skipping_silent_bins_equals_the_full_algorithm():
    mel = S.mel_amplitudes(_clip(CLIPS[1], 1.0))
    linear = np.maximum(S._inverse_filters(P) @ mel, 0.0)
    fast = S.griffin_lim(linear, P, torch.Generator().manual_seed(3))
    # the plain algorithm on every bin, with torch's own istft
    window = torch.hann_window(P.win)
    spec = torch.from_numpy(linear.astype(np.float32))
    angles = torch.rand(
        spec.shape, dtype=torch.complex64, generator=torch.Generator().manual_seed(3)
    )
    previous = torch.zeros_like(angles)
    for _ in range(P.griffin_lim_iters):
        rebuilt = torch.stft(
            torch.istft(spec * angles, P.n_fft, P.hop, P.win, window),
            P.n_fft,
            P.hop,
            P.win,
            window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        angles = rebuilt - previous * (P.momentum / (1 + P.momentum))
        angles = angles / (angles.abs() + 1e-16)
        previous = rebuilt
    plain = torch.istft(spec * angles, P.n_fft, P.hop, P.win, window).numpy()
    assert len(fast) == len(plain) == 441 * 99
    assert np.abs(fast - plain).max() < 1e-3 * np.abs(plain).max()


def test_round_trip_keeps_the_mel_spectrogram_and_is_deterministic():
    errors = []
    for name in CLIPS:
        x = _clip(name, 5.12)
        back = riffusion.round_trip(x, P.sample_rate, seed=0)
        assert len(back) == len(x) and np.abs(back).max() <= 1.0
        a, b = _log_mel(x), _log_mel(back)
        errors.append(float(np.abs(a - b).mean()))
    # mean |log10 mel| difference over the clip (floor 1e-3 of the peak): 0.21-0.25 on
    # these clips, against 0.9+ for unrelated clips of the same set
    assert max(errors) < 0.35, errors
    unrelated = float(
        np.abs(_log_mel(_clip(CLIPS[0], 5.12)) - _log_mel(_clip(CLIPS[1], 5.12))).mean()
    )
    assert unrelated > 2 * max(errors)
    x = _clip(CLIPS[2], 2.0)
    assert np.array_equal(
        riffusion.round_trip(x, P.sample_rate, 5), riffusion.round_trip(x, P.sample_rate, 5)
    )


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_pipeline(tmp_path_factory.mktemp("riffusion") / "model")


def test_riffusion_end_to_end_through_from_pretrained(tiny_model, tmp_path):
    clips = list(catalog.load("demo"))[:2]
    settings = riffusion.RiffusionSettings(
        model=str(tiny_model), steps=2, seconds=5.0, seed=7, batch_size=2
    )
    system = riffusion.generate(clips, tmp_path / "sys", settings, progress=False)
    for clip in clips:
        audio, rate = sf.read(tmp_path / "sys" / f"{clip.ytid}.wav")
        assert rate == 44100 and len(audio) == 5 * 44100 and np.abs(audio).max() > 0.1
        assert Image.open(tmp_path / "sys" / "images" / f"{clip.ytid}-0.png").size == (512, 512)
    on_disk = json.loads((tmp_path / "sys" / "system.json").read_text())
    assert on_disk == system
    assert system["adapter"] == "riffusion" and system["model"] == str(tiny_model)
    assert len(system["weights_sha256"]) == 64
    assert system["settings"]["steps"] == 2 and system["settings"]["scheduler"] == (
        "DPMSolverMultistepScheduler"
    )
    assert system["prompts"] == {c.ytid: c.caption for c in clips}
    assert system["clips"] == {"requested": 2, "written": 2, "failed": 0, "failed_by_category": {}}
    # same seed and batch, same image: the pipeline redrawn from the saved folder (a
    # different batch size changes float rounding, which is why system.json records it)
    pipe = riffusion.load_pipeline(str(tiny_model), settings.scheduler, "cpu")
    again = riffusion._images(pipe, [c.caption for c in clips], [512], settings)[0][0]
    saved = Image.open(tmp_path / "sys" / "images" / f"{clips[0].ytid}-0.png")
    assert np.array_equal(np.asarray(again), np.asarray(saved.convert("RGB")))
    # a rerun keeps what is there and loads nothing
    before = (tmp_path / "sys" / f"{clips[0].ytid}.wav").stat().st_mtime_ns
    riffusion.generate(clips, tmp_path / "sys", settings, progress=False)
    assert (tmp_path / "sys" / f"{clips[0].ytid}.wav").stat().st_mtime_ns == before


def test_images_to_audio_records_a_broken_image(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    S.image_from_audio(_clip(CLIPS[0], 2.0)).save(images / "good.png")
    (images / "broken.png").write_bytes(b"not a png")
    Image.new("RGB", (64, 100)).save(images / "short.png")
    system = riffusion.from_images(images, tmp_path / "out", progress=False)
    audio, rate = sf.read(tmp_path / "out" / "good.wav")
    assert rate == 44100 and abs(len(audio) - 199 * 441) == 0
    failures = (tmp_path / "out" / "failures.csv").read_text()
    assert "broken,bad_media" in failures and "short,bad_media" in failures
    assert "512 px high" in failures
    assert system["clips"]["failed_by_category"] == {"bad_media": 2}
