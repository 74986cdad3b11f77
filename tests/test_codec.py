"""The codec's tiny preset on CPU, trained on real clips from prepared records: rates and
shapes, falling losses, an overfitted batch, deterministic tokens, exact resume, DDP."""

import json

import numpy as np
import pytest
import torch

from musiccaps_kit.models.codec import Codec, CodecConfig, si_sdr
from musiccaps_kit.models.loaders import load_codec
from musiccaps_kit.models.modules.kmeans import kmeans
from musiccaps_kit.models.modules.rvq import ResidualVQ
from musiccaps_kit.models.records import ClipBank
from musiccaps_kit.models.training.codec import CodecTask
from musiccaps_kit.models.training.loop import load_preset, train

TINY = load_preset("codec", "tiny")


@pytest.fixture(scope="module")
def records(demo_records):
    return demo_records


def _task(steps_config=None) -> CodecTask:
    torch.manual_seed(0)
    return CodecTask(
        TINY["model"], {**TINY["train"], **(steps_config or {})}, torch.device("cpu"), 1
    )


def test_tokens_are_50_per_second_with_the_preset_levels(records):
    config = CodecConfig(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in TINY["model"].items()}
    )
    assert config.hop == 480 and config.frame_rate == 50.0
    assert CodecConfig().bitrate() == 6000.0, "paper preset: 12 x 1024 at 50 Hz = 6 kbps"
    codec = Codec(config).eval()
    wave = torch.from_numpy(ClipBank(records, 24000).waves[0][: 24000 * 2])[None]
    codes = codec.encode(wave)
    assert codes.shape == (1, 100, config.levels)
    assert int(codes.max()) < config.codebook_size
    assert codec.decode(codes).shape == (1, 48000)


def test_kmeans_and_rvq_fit_real_structure():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, 4)) * 10
    x = torch.from_numpy(np.repeat(centres, 50, axis=0) + rng.normal(size=(400, 4)) * 0.1).float()
    found, labels = kmeans(x, 8)
    assert len(torch.unique(labels)) == 8
    assert torch.cdist(found, torch.from_numpy(centres).float()).min(dim=1).values.max() < 0.5
    rvq = ResidualVQ(4, levels=3, codebook_size=8)
    rvq.fit(x)
    quantized, codes, _ = rvq.eval()(x)
    assert codes.shape == (400, 3)
    assert torch.mean((rvq.decode(codes) - x) ** 2) < torch.mean(x**2) * 1e-3


def test_a_batch_can_be_overfitted(records):
    torch.manual_seed(0)
    model = {**TINY["model"], "quantizer_dropout": False}
    task = CodecTask(model, {**TINY["train"], "disc_start": 10_000}, torch.device("cpu"), 1)
    fixed = ClipBank(records, 24000).batch(0, 2, 6000, seed=0)
    untrained = Codec(task.config).eval()
    losses = [task.train_step(fixed, step)["reconstruction"] for step in range(150)]
    assert np.mean(losses[-5:]) < 0.25 * losses[0], losses[::15]
    with torch.no_grad():
        recon = task.codec.eval()(fixed.audio)[0].numpy()
        before = untrained(fixed.audio)[0].numpy()
    audio = fixed.audio.numpy()
    trained_sdr = np.mean([si_sdr(a, b) for a, b in zip(audio, recon, strict=True)])
    untrained_sdr = np.mean([si_sdr(a, b) for a, b in zip(audio, before, strict=True)])
    assert trained_sdr > untrained_sdr + 3, (trained_sdr, untrained_sdr)


def test_encoding_is_deterministic_in_eval_mode(records):
    task = _task({"disc_start": 10_000})
    bank = ClipBank(records, 24000)
    for step in range(4):
        task.train_step(bank.batch(step, 8, 12000, 0), step)
    codec = task.codec.eval()
    wave = torch.from_numpy(bank.waves[1][:24000].copy())[None]
    first, again = codec.encode(wave), codec.encode(wave)
    assert torch.equal(first, again)
    assert torch.equal(codec.decode(first), codec.decode(again))


def test_training_resumes_to_the_same_weights_and_reloads(records, tmp_path):
    straight = train("codec", records, "tiny", tmp_path / "straight", steps=12, progress=False)
    assert straight["steps"] == 12
    train("codec", records, "tiny", tmp_path / "resumed", steps=6, progress=False)
    resumed = train("codec", records, "tiny", tmp_path / "resumed", steps=12, progress=False)
    assert resumed["resumed_from"] == 6
    a = load_codec(tmp_path / "straight" / "model.pt")
    b = load_codec(tmp_path / "resumed" / "model.pt")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        if isinstance(x, torch.Tensor):
            assert torch.equal(x, y), name
    assert (tmp_path / "resumed" / "losses.png").stat().st_size > 5000
    info = json.loads((tmp_path / "resumed" / "training.json").read_text())
    assert info["last"]["step"] == 11
    history = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=False)["history"]
    first = np.mean([h["reconstruction"] for h in history[:3]])
    assert np.mean([h["reconstruction"] for h in history[-3:]]) < 0.8 * first, "losses fall"


def test_mck_train_codec(records, tmp_path):
    from click.testing import CliRunner

    from musiccaps_kit.cli import main

    out = tmp_path / "cli"
    result = CliRunner().invoke(
        main, ["train", "codec", "--records", str(records), "--out", str(out), "--steps", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "codec: 3 steps on 12 clips" in result.output
    assert load_codec(out / "model.pt").config.levels == TINY["model"]["levels"]
    bad = CliRunner().invoke(
        main, ["train", "codec", "--records", str(records), "--out", str(out), "--preset", "huge"]
    )
    assert bad.exit_code != 0 and "no preset 'huge'" in bad.output


def test_a_pretrained_encodec_can_replace_the_trained_codec(records, tmp_path):
    from click.testing import CliRunner
    from transformers import EncodecConfig, EncodecModel

    from musiccaps_kit.cli import main

    torch.manual_seed(0)
    folder = tmp_path / "encodec"
    config = EncodecConfig(
        num_filters=4, hidden_size=16, codebook_size=32, target_bandwidths=[0.75, 1.5]
    )
    EncodecModel(config).save_pretrained(folder)
    out = tmp_path / "registered"
    result = CliRunner().invoke(
        main,
        [
            "train",
            "codec-pretrained",
            "--model-dir",
            str(folder),
            "--bandwidth",
            "1.5",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    codec = load_codec(out / "model.pt")
    assert codec.config.frame_rate == 75.0 and codec.config.levels == 4
    wave = torch.from_numpy(ClipBank(records, 24000).waves[0][:24000].copy())[None]
    codes = codec.encode(wave)
    assert codes.shape == (1, 75, 4) and int(codes.max()) < 32
    assert torch.equal(codes, load_codec(out / "model.pt").encode(wave))
    assert codec.decode(codes).shape[-1] == 24000
    assert codec.decode(codes[..., :2]).shape[-1] == 24000, "any prefix of the levels decodes"
