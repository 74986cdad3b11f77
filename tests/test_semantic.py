"""The semantic tokenizer's tiny preset on CPU, trained on real clips from prepared records."""

import numpy as np
import pytest
import torch

from musiccaps_kit.models.loaders import load_semantic
from musiccaps_kit.models.records import ClipBank
from musiccaps_kit.models.semantic import span_mask
from musiccaps_kit.models.training.loop import load_preset, train

TINY = load_preset("semantic", "tiny")


@pytest.fixture(scope="module")
def records(demo_records):
    return demo_records


@pytest.fixture(scope="module")
def trained(records, tmp_path_factory):
    out = tmp_path_factory.mktemp("semantic-model")
    train("semantic", records, "tiny", out, progress=False)
    return out


def test_both_target_iterations_learn(trained):
    history = torch.load(trained / "checkpoint.pt", weights_only=False)["history"]
    switch = TINY["train"]["iteration_steps"]
    first, second = history[:switch], history[switch:]
    assert {h["iteration"] for h in first} == {1} and {h["iteration"] for h in second} == {2}
    for part in (first, second):
        start = np.mean([h["masked_prediction"] for h in part[:5]])
        assert np.mean([h["masked_prediction"] for h in part[-5:]]) < 0.8 * start
    assert np.mean([h["accuracy"] for h in second[-5:]]) > 5 / TINY["model"]["targets_second"]


def test_tokens_are_25_per_second_with_saved_centroids(trained, records):
    tokenizer = load_semantic(trained / "model.pt")
    assert tokenizer.config.frame_rate == 25.0
    assert tokenizer.centroids.shape == (TINY["model"]["clusters"], TINY["model"]["dim"])
    wave = ClipBank(records, 16000).waves[0]
    tokens = tokenizer.tokens(wave)
    assert tokens.shape == (250,) and int(tokens.max()) < TINY["model"]["clusters"]
    assert len(torch.unique(tokens)) > 5, "a trained tokenizer uses many clusters"
    again = load_semantic(trained / "model.pt")
    assert torch.equal(again.tokens(wave), tokens), "deterministic, and reloads identically"
    other = ClipBank(records, 16000).waves[5]
    assert not torch.equal(tokenizer.tokens(other), tokens)


def test_masks_cover_spans_and_every_example():
    generator = torch.Generator().manual_seed(0)
    mask = span_mask(16, 100, 0.08, 5, generator)
    assert mask.any(dim=1).all()
    assert 0.2 < mask.float().mean() < 0.5, "about 1 - (1 - 0.08)^5 of frames"


def test_training_resumes_to_the_same_model(records, tmp_path):
    config = dict(steps=8)
    train("semantic", records, "tiny", tmp_path / "a", progress=False, **config)
    train("semantic", records, "tiny", tmp_path / "b", steps=4, progress=False)
    train("semantic", records, "tiny", tmp_path / "b", progress=False, **config)
    a = torch.load(tmp_path / "a" / "model.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "model.pt", weights_only=False)
    for name, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][name]), name
    assert torch.equal(a["centroids"], b["centroids"])


def test_a_pretrained_hugging_face_model_can_replace_the_compact_one(records, tmp_path):
    from click.testing import CliRunner
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    from musiccaps_kit.cli import main

    folder = tmp_path / "hubert"
    torch.manual_seed(0)
    config = HubertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    HubertModel(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(folder)
    out = tmp_path / "semantic-hubert"
    result = CliRunner().invoke(
        main,
        [
            "train",
            "semantic-pretrained",
            "--model-dir",
            str(folder),
            "--layer",
            "1",
            "--records",
            str(records),
            "--clusters",
            "16",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    tokenizer = load_semantic(out / "model.pt")
    wave = ClipBank(records, 16000).waves[0]
    tokens = tokenizer.tokens(wave)
    assert tokens.shape == (499,), "HuBERT's 20 ms frames over 10 s"
    assert int(tokens.max()) < 16 and len(torch.unique(tokens)) > 1
    assert torch.equal(load_semantic(out / "model.pt").tokens(wave), tokens)


def test_a_batch_can_be_overfitted(records):
    from musiccaps_kit.models.training.semantic import SemanticTask

    torch.manual_seed(0)
    task = SemanticTask(TINY["model"], TINY["train"], torch.device("cpu"), 1)
    bank = ClipBank(records, 16000)
    task.prepare(bank)
    fixed = bank.batch(0, 4, 32000, 0)
    # the mask changes with the step; the model still learns this batch's targets
    losses = [task.train_step(fixed, step)["masked_prediction"] for step in range(50)]
    assert np.mean(losses[-5:]) < 0.5 * losses[0], losses[::10]
