"""LEAF: the front-end's parts against their definitions, the classifier's checkpoint path,
and KLD through it on real clips."""

import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from musiccaps_kit.audio import resample
from musiccaps_kit.bench.degrade import degrade_folder
from musiccaps_kit.bench.embedders import make_embedder
from musiccaps_kit.bench.embedders.leaf_network import (
    SPCEN,
    CheckpointError,
    GaborFilterbank,
    GaussianLowpass,
    LeafClassifier,
    LeafConfig,
    load_checkpoint,
    save_checkpoint,
)
from musiccaps_kit.bench.run import BenchSettings, run_bench
from musiccaps_kit.resources import DEMO_AUDIO_DIR

CONFIG = LeafConfig()
CLIPS = sorted(DEMO_AUDIO_DIR.glob("*.flac"))


def _clip(i: int, seconds: float = 10.0) -> np.ndarray:
    wave, rate = sf.read(CLIPS[i], dtype="float32")
    return resample(wave, rate, 16000)[: int(16000 * seconds)]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = LeafClassifier(CONFIG).eval()
    # The bundled class map is YAMNet's 521 classes; a real checkpoint carries AudioSet's 527.
    names = [f"class {i}" for i in range(527)]
    return save_checkpoint(model, tmp_path_factory.mktemp("leaf") / "leaf.pt", names)


def test_gabor_filters_peak_at_their_mel_centres():
    bank = GaborFilterbank(CONFIG)
    centres, _ = bank.clamped()
    hz = centres.detach().numpy() * CONFIG.sample_rate / (2 * np.pi)
    assert 50 < hz[0] < 120 and 7000 < hz[-1] < 7800
    assert np.all(np.diff(hz) > 0), "mel-spaced centres rise"
    responses = bank.impulse_responses().detach().numpy()
    spectrum = np.abs(np.fft.fft(responses[:, 0] + 1j * responses[:, 1], n=8192))
    peak_hz = spectrum[:, :4096].argmax(axis=1) * CONFIG.sample_rate / 8192
    np.testing.assert_allclose(peak_hz, hz, atol=CONFIG.sample_rate / 8192 + 1)
    widths = (spectrum > spectrum.max(axis=1, keepdims=True) / 2).sum(axis=1)
    assert widths[-1] > 3 * widths[0], "bandwidth grows with frequency, as mel filters"


def test_a_tone_excites_the_filter_nearest_its_frequency():
    bank = GaborFilterbank(CONFIG)
    hz = bank.clamped()[0].detach().numpy() * CONFIG.sample_rate / (2 * np.pi)
    for tone in (440.0, 1000.0, 3000.0):
        t = np.arange(16000) / 16000
        wave = torch.from_numpy(np.sin(2 * np.pi * tone * t).astype(np.float32))[None]
        energy = bank(wave)[0, :, 2000:-2000].mean(dim=1).detach().numpy()
        assert energy.argmax() == np.abs(hz - tone).argmin()


def test_gaussian_pooling_gives_100_frames_per_second_and_smooths():
    pooling = GaussianLowpass(CONFIG)
    windows = pooling.windows().detach().numpy()
    assert windows.shape == (40, 401) and np.allclose(windows[:, 200], 1)
    energies = torch.rand(1, 40, 160000)
    out = pooling(energies)
    assert out.shape == (1, 40, 1000)
    steady = out[0, :, 5:-5].detach().numpy()
    assert steady.std(axis=1).max() < 0.05 * steady.mean(), "white noise averages out"


def _spcen_reference(e: np.ndarray, alpha, s, delta, r, floor=1e-12) -> np.ndarray:
    m = np.empty_like(e)
    m[:, 0] = e[:, 0]
    for t in range(1, e.shape[1]):
        m[:, t] = s * e[:, t] + (1 - s) * m[:, t - 1]
    return (e / (floor + m) ** alpha + delta) ** (1 / r) - delta ** (1 / r)


def test_spcen_follows_its_formula_on_real_energies():
    bank, pooling = GaborFilterbank(CONFIG), GaussianLowpass(CONFIG)
    with torch.no_grad():
        energies = pooling(bank(torch.from_numpy(_clip(0, 3))[None]))
    spcen = SPCEN(40)
    with torch.no_grad():
        spcen.alpha[:] = torch.linspace(0.5, 0.98, 40)
        out = spcen(energies)[0].numpy()
    e = energies[0].numpy().astype(np.float64)
    alpha = np.linspace(0.5, 0.98, 40)[:, None]
    np.testing.assert_allclose(
        out, _spcen_reference(e, alpha, 0.04, 2.0, 2.0), rtol=1e-4, atol=1e-6
    )


def test_spcen_with_alpha_one_ignores_the_gain():
    energies = torch.rand(1, 40, 300) + 0.01
    spcen = SPCEN(40)
    with torch.no_grad():
        spcen.alpha.fill_(1.0)
        quiet, loud = spcen(energies), spcen(energies * 1e4)
    torch.testing.assert_close(quiet, loud, rtol=1e-4, atol=1e-5)


def test_every_front_end_parameter_learns_and_a_batch_can_be_fitted():
    torch.manual_seed(0)
    model = LeafClassifier(LeafConfig(channels=(8, 16)))
    waves = torch.from_numpy(np.stack([_clip(i, 1.0) for i in range(4)]))
    targets = (torch.rand(4, 527) < 0.02).float()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(waves)[1], targets)
        loss.backward()
        if not losses:
            for name, param in model.frontend.named_parameters():
                assert param.grad is not None and param.grad.abs().sum() > 0, name
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_checkpoint_round_trip_gives_identical_logits(checkpoint):
    leaf = make_embedder("leaf", checkpoint=str(checkpoint), output="logits")
    wave = np.concatenate([_clip(1), _clip(2)])  # 19.99 s
    first = leaf(wave, 16000)
    assert first.shape == (2, 527), "two 10 s windows, the second ending with the clip"
    again = make_embedder("leaf", checkpoint=str(checkpoint), output="logits")(wave, 16000)
    np.testing.assert_array_equal(first, again)
    features = make_embedder("leaf", checkpoint=str(checkpoint))(wave, 16000)
    assert features.shape == (2, 512)
    other = save_checkpoint(LeafClassifier(CONFIG), checkpoint.with_name("other.pt"), leaf.classes)
    other_recipe = make_embedder("leaf", checkpoint=str(other)).recipe()
    assert leaf.recipe()["weights_sha256"] != other_recipe["weights_sha256"]


def test_bad_checkpoints_are_clear_errors(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="no LEAF AudioSet weights are public"):
        make_embedder("leaf")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(garbage)
    blob = torch.load(checkpoint, weights_only=True)
    blob["state_dict"]["head.weight"] = torch.zeros(10, 512)
    torch.save(blob, tmp_path / "misfit.pt")
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(tmp_path / "misfit.pt")


def test_kld_through_leaf_on_real_clips(checkpoint, tmp_path):
    ref = tmp_path / "reference"
    ref.mkdir()
    for path in CLIPS[:4]:
        shutil.copy(path, ref)
    systems = {"same": ref, "noisy": degrade_folder(ref, tmp_path / "noisy", "noise", 0)}
    settings = BenchSettings(
        metrics=("kld_leaf",),
        embedder_options={"leaf": {"checkpoint": str(checkpoint)}},
        bootstrap_rounds=10,
    )
    rows = run_bench(ref, systems, settings, tmp_path / "cache")["rows"]
    results = {row["system"]: row["results"]["kld_leaf"] for row in rows}
    assert results["same"].value == pytest.approx(0, abs=1e-9)
    assert results["noisy"].value > 0
    assert results["noisy"].recipe["embedder"] == "leaf"
    assert results["noisy"].recipe["output"] == "logits"
