"""MuLan's tiny preset on CPU, trained on real clips and captions from prepared records."""

import shutil

import numpy as np
import pytest
import torch

from musiccaps_kit.bench.joint import make_joint_model
from musiccaps_kit.bench.run import BenchSettings, run_bench
from musiccaps_kit.models.loaders import load_mulan
from musiccaps_kit.models.model_files import config_from
from musiccaps_kit.models.mulan import MuLan
from musiccaps_kit.models.records import Batch, ClipBank
from musiccaps_kit.models.training.loop import load_preset, train
from musiccaps_kit.models.training.mulan import MulanTask
from musiccaps_kit.resources import DEMO_AUDIO_DIR

TINY = load_preset("mulan", "tiny")


@pytest.fixture(scope="module")
def records(demo_records):
    return demo_records


@pytest.fixture(scope="module")
def trained(records, tmp_path_factory):
    out = tmp_path_factory.mktemp("mulan-model")
    summary = train("mulan", records, "tiny", out, steps=60, progress=False)
    return out / "model.pt", summary


def test_training_lowers_the_contrastive_loss(trained):
    _, summary = trained
    history = torch.load(trained[0].parent / "checkpoint.pt", weights_only=False)["history"]
    first = np.mean([h["contrastive"] for h in history[:5]])
    assert np.mean([h["contrastive"] for h in history[-5:]]) < 0.7 * first


def test_a_batch_can_be_overfitted(records):
    torch.manual_seed(0)
    task = MulanTask(TINY["model"], TINY["train"], torch.device("cpu"), 1)
    bank = ClipBank(records, 16000)
    task.prepare(bank)
    fixed = Batch(
        torch.from_numpy(np.stack([w[16000:48000] for w in bank.waves[:8]])),
        bank.captions[:8],
        bank.ids[:8],
    )
    assert len(set(fixed.captions)) == 8
    losses = [task.train_step(fixed, step)["contrastive"] for step in range(80)]
    assert losses[-1] < 0.1 * losses[0], losses[::10]


def test_embeddings_windows_and_twelve_tokens(trained, records):
    path, _ = trained
    mulan = load_mulan(path)
    wave = ClipBank(records, 16000).waves[0]
    windows = mulan.window_embeddings(wave)
    assert windows.shape == (9, TINY["model"]["dim"]), "2 s windows, 1 s hop over 10 s"
    clip = mulan.clip_embedding(wave)
    assert clip.norm().item() == pytest.approx(1.0, abs=1e-5)
    tokens = mulan.tokens(clip[None])
    assert tokens.shape == (1, 12) and int(tokens.max()) < TINY["model"]["rvq_codebook"]
    again = load_mulan(path)
    assert torch.equal(again.tokens(again.clip_embedding(wave)[None]), tokens)
    from musiccaps_kit.bench.joint import text_encoder

    sentence = torch.from_numpy(text_encoder.encode(["a calm orchestral piece"]))
    m_t = mulan.tokens(mulan.text_embedding(sentence))
    assert m_t.shape == (1, 12), "M_T: the same quantiser on a text embedding"
    config = config_from(type(mulan.config), TINY["model"])
    assert MuLan(config).quantizer.levels == 12


def test_mcc_with_mulan_through_bench(trained, tmp_path):
    path, _ = trained
    ref = tmp_path / "reference"
    ref.mkdir()
    for clip in sorted(DEMO_AUDIO_DIR.glob("*.flac"))[:4]:
        shutil.copy(clip, ref)
    settings = BenchSettings(
        metrics=("mcc_mulan",),
        joint_options={"mulan": {"checkpoint": str(path)}},
        captions="demo",
        bootstrap_rounds=20,
    )
    result = run_bench(ref, {"same": ref}, settings, tmp_path / "cache")["rows"][0]["results"]
    assert result["mcc_mulan"].n == 4
    assert all(-1 <= v <= 1 for v in result["mcc_mulan"].per_clip.values())
    model = make_joint_model("mulan", checkpoint=str(path))
    assert model.recipe()["audio"]["weights_sha256"] == model.audio.weights_checksum()


def test_a_pretrained_joint_model_can_give_the_conditioning_tokens(records, tmp_path):
    from click.testing import CliRunner

    from musiccaps_kit.bench.clips import ClipSet
    from musiccaps_kit.bench.joint.projection import fit_projection
    from musiccaps_kit.cli import main

    clips = ClipSet(records)
    captions = {
        r: c
        for r, c in zip(
            ClipBank(records, 16000).ids, ClipBank(records, 16000).captions, strict=True
        )
    }
    joint = tmp_path / "projection.npz"
    fit_projection(clips, captions, joint, tmp_path / "cache", steps=30)
    out = tmp_path / "mulan-projection"
    result = CliRunner().invoke(
        main,
        [
            "train",
            "mulan-pretrained",
            "--joint",
            "projection",
            "--checkpoint",
            str(joint),
            "--records",
            str(records),
            "--levels",
            "12",
            "--codebook",
            "4",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    tokens = load_mulan(out / "model.pt")
    wave = ClipBank(records, 16000).waves[0]
    m_a = tokens.tokens(tokens.clip_embedding(wave)[None])
    assert m_a.shape == (1, 12) and int(m_a.max()) < 4
    assert torch.equal(load_mulan(out / "model.pt").tokens(tokens.clip_embedding(wave)[None]), m_a)
