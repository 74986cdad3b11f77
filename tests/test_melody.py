"""Melody conditioning: the embedding trained on rendered melodies and real clips, and its
tokens: the same melody in two timbres agrees, two melodies differ."""

import numpy as np
import pytest
import torch

from musiccaps_kit.models.loaders import load_melody
from musiccaps_kit.models.melody import semi_hard_triplet_loss
from musiccaps_kit.models.training.loop import train
from musiccaps_kit.models.training.melody_data import (
    pitch_preserving,
    random_instrument,
    random_melody,
    render,
)


@pytest.fixture(scope="module")
def melody(tmp_path_factory, demo_records):
    root = tmp_path_factory.mktemp("melody")
    summary = train("melody", demo_records, "tiny", root / "model", steps=100, progress=False)
    return load_melody(root / "model" / "model.pt"), summary


def test_renders_keep_the_notes_and_change_the_timbre():
    rng = np.random.default_rng(0)
    notes = random_melody(rng, 4.0)
    a = render(notes, random_instrument(rng), 4.0, rng)
    b = render(notes, random_instrument(rng), 4.0, rng)
    assert a.shape == b.shape == (64000,) and not np.allclose(a, b)
    changed = pitch_preserving(a, rng)
    assert changed.shape == a.shape and not np.allclose(changed, a)


def test_the_triplet_loss_is_zero_only_when_classes_separate():
    labels = torch.tensor([0, 0, 1, 1])
    apart = torch.tensor([[1.0, 0], [1, 0], [0, 1], [0, 1]])
    assert semi_hard_triplet_loss(apart, labels) == 0
    mixed = torch.tensor([[1.0, 0], [0, 1], [1, 0], [0, 1]])
    assert semi_hard_triplet_loss(mixed, labels) > 0


def test_one_melody_in_two_timbres_agrees_and_two_melodies_differ(melody):
    model, summary = melody
    assert summary["last"]["triplet"] < summary["first"]["triplet"]
    rng = np.random.default_rng(123)
    closer, same_tokens, other_tokens = [], [], []
    for _ in range(12):
        tune, other = random_melody(rng, 10.0), random_melody(rng, 10.0)
        a = render(tune, random_instrument(rng), 10.0, rng)
        b = render(tune, random_instrument(rng), 10.0, rng)
        c = render(other, random_instrument(rng), 10.0, rng)
        ea, eb, ec = (model.window_embeddings(x) for x in (a, b, c))
        closer.append(float((ea - eb).norm(dim=1).mean() < (ea - ec).norm(dim=1).mean()))
        ta, tb, tc = (model.tokens(x) for x in (a, b, c))
        assert ta.shape == (3, 24), "three 4 s windows (3 s hop) per 10 s, 24 levels"
        same_tokens.append(float((ta[:, :4] == tb[:, :4]).float().mean()))
        other_tokens.append(float((ta[:, :4] == tc[:, :4]).float().mean()))
    assert np.mean(closer) >= 0.9
    assert np.mean(same_tokens) > np.mean(other_tokens) + 0.2, (same_tokens, other_tokens)
