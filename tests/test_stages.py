"""The cascade's stages on CPU: the Transformer and its KV cache, training from tokenized
real clips, memorisation found where it exists, generation lengths and story mode, and
the Sinkhorn distance against POT's exact transport."""

import json

import numpy as np
import ot
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

import musiccaps_kit.models.generate as generation
from musiccaps_kit.cli import main
from musiccaps_kit.data.records import iter_records
from musiccaps_kit.models.generate import Cascade, Sampling
from musiccaps_kit.models.loaders import load_stages
from musiccaps_kit.models.memorization import (
    MemorizationSettings,
    SinkhornError,
    analyse,
    calibrate_tau,
    sinkhorn_distance,
)
from musiccaps_kit.models.stage import (
    StageConfig,
    StageTransformer,
    StaticDecoder,
    generate,
    relative_buckets,
    target_loss,
)
from musiccaps_kit.resources import DEMO_AUDIO_DIR


def _tiny(vocab: int = 300) -> StageTransformer:
    torch.manual_seed(0)
    config = StageConfig(vocab=vocab, dim=64, layers=2, heads=4, ff=128, dropout=0.0)
    return StageTransformer(config).eval()


def test_the_kv_cache_gives_the_same_tokens_for_the_same_seed():
    model = _tiny()
    prefix = torch.randint(0, 100, (2, 12), generator=torch.Generator().manual_seed(1))
    ranges = [(100, 200), (200, 300)]
    outs = []
    for use_cache in (True, False):
        g = torch.Generator().manual_seed(3)
        outs.append(generate(model, prefix, 80, ranges, 1.0, 20, g, use_cache))
    assert torch.equal(outs[0], outs[1])
    assert all(100 <= t < 200 for t in outs[0][0, ::2].tolist()), "each position in its range"
    greedy = [generate(model, prefix, 40, ranges, 0.0, use_cache=c) for c in (True, False)]
    assert torch.equal(*greedy)


def test_the_preallocated_cache_gives_the_same_tokens_and_logits():
    """The static decoder (CUDA-graph shaped: fixed buffers, masked attention over all
    positions) against the growing cache, here on CPU without the graph."""
    model = _tiny()
    prefix = torch.randint(0, 100, (2, 12), generator=torch.Generator().manual_seed(1))
    ranges = [(100, 200), (200, 300)]
    outs = []
    for static in (True, False):
        g = torch.Generator().manual_seed(3)
        outs.append(generate(model, prefix, 60, ranges, 1.0, 20, g, static=static))
    assert torch.equal(outs[0], outs[1])
    greedy = [generate(model, prefix, 40, ranges, 0.0, static=s) for s in (True, False)]
    assert torch.equal(*greedy)
    decoder = StaticDecoder(model, 2, 14, graph=True)  # no CUDA here: runs eagerly
    first = decoder.start(prefix)
    token = first.argmax(-1, keepdim=True)
    second = decoder.step(token)
    whole, _ = model(torch.cat([prefix, token], dim=1))
    torch.testing.assert_close(first, whole[:, -2], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(second, whole[:, -1], rtol=1e-5, atol=1e-5)
    decoder.step(token)
    with pytest.raises(ValueError, match="holds 14 positions"):
        decoder.step(token)


def test_relative_buckets_are_exact_near_and_logarithmic_far():
    distance = -torch.arange(0, 400)
    buckets = relative_buckets(distance, 32, 128)
    assert buckets[:16].tolist() == list(range(16))
    assert torch.all(buckets[1:] >= buckets[:-1]) and int(buckets.max()) == 31
    assert int(relative_buckets(torch.tensor([5]), 32, 128)) == 0, "future keys: bucket 0"


def test_stage_training_lowers_every_stage_loss(tiny_cascade):
    root, _ = tiny_cascade
    history = torch.load(root / "stages" / "checkpoint.pt", weights_only=False)["history"]
    for stage in ("semantic", "coarse", "fine"):
        first = np.mean([h[f"{stage}_loss"] for h in history[:5]])
        assert np.mean([h[f"{stage}_loss"] for h in history[-5:]]) < 0.7 * first, stage


def test_a_memorised_sequence_is_found_and_a_held_out_one_is_not(tiny_cascade):
    root, paths = tiny_cascade
    bundle = load_stages(paths["stages"])
    vocab = bundle["vocabulary"]
    records = list(iter_records(root / "tokens", "train"))
    seen, unseen = records[0], records[1]
    length = 150
    sequence = np.concatenate(
        [vocab.mulan(seen.tokens["mulan"]), vocab.semantic_ids(seen.tokens["semantic"][:length])]
    )
    model = _tiny(vocab.size).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = torch.from_numpy(sequence).long()[None]
    for _ in range(800):  # until the sequence is learnt by heart (teacher forced)
        loss, accuracy = target_loss(model, batch, 12)
        if accuracy.item() == 1.0 and loss.item() < 0.05:
            break
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert accuracy.item() == 1.0
    from musiccaps_kit.models.loaders import load_semantic

    centroids = load_semantic(paths["semantic"]).centroids.numpy().astype(np.float64)
    settings = MemorizationSettings(prompt_seconds=(1.0,), continuation=125)
    clip = lambda r: (r.tokens["mulan"], r.tokens["semantic"][:length])  # noqa: E731
    found = analyse(model, vocab, centroids, [clip(seen)], settings, tau=0.0)["rows"][0]
    other = analyse(model, vocab, centroids, [clip(unseen)], settings, tau=0.0)["rows"][0]
    assert found["exact_match_rate"] == 1.0 and found["mean_token_accuracy"] == 1.0
    assert other["exact_match_rate"] == 0.0


def _tune(root) -> np.ndarray:
    """A melody to follow: a demo clip at 16 kHz."""
    return next(iter_records(root / "tokens", "eval")).audio[16000]


def test_long_generation_and_story_mode(tiny_cascade, monkeypatch):
    root, paths = tiny_cascade
    cascade = Cascade(paths["stages"])
    tune = _tune(root)
    audio, tokens = cascade.generate([("calm piano", 5.0)], progress=False, melody=tune)
    assert len(audio) == 5 * 24000, "longer than the 2 s semantic crop"
    assert tokens["semantic"].shape == (125,) and tokens["acoustic"].shape[0] == 250
    prompts = []
    real = generation.sample

    def spy(model, prompt, *args, **kwargs):
        prompts.append((model, prompt[0, :12].tolist()))
        return real(model, prompt, *args, **kwargs)

    monkeypatch.setattr(generation, "sample", spy)
    # distinct conditioning per caption (a few-step MuLan may give two captions one code)
    marks = {"calm piano": 0, "metal": 1}
    monkeypatch.setattr(
        cascade, "conditioning", lambda c: cascade.vocab.mulan(np.full(12, marks[c]))
    )
    story = [("calm piano", 2.0), ("metal", 2.5)]
    audio, tokens = cascade.generate(story, progress=False, melody=tune)
    assert abs(len(audio) / 24000 - 4.5) <= 1 / 25
    first, second = (cascade.conditioning(c).tolist() for c, _ in story)
    for stage in ("semantic", "coarse", "fine"):
        used = [p for m, p in prompts if m is cascade.models[stage]]
        assert used[0] == first and used[-1] == second, stage
    monkeypatch.undo()
    seeded = [
        cascade.generate([("calm piano", 1.0)], Sampling(seed=7), False, tune)[0] for _ in "ab"
    ]
    np.testing.assert_array_equal(*seeded)


def test_generation_follows_the_given_melody(tiny_cascade):
    root, paths = tiny_cascade
    cascade = Cascade(paths["stages"])
    tune = _tune(root)
    with pytest.raises(ValueError, match="give a melody"):
        cascade.generate([("calm piano", 1.0)], progress=False)
    ids = cascade.melody_conditioning(tune)
    assert len(ids) == 3 * 24 and ids.min() >= cascade.vocab.melody_offset
    quiet = np.zeros(16000 * 10, dtype=np.float32)
    assert not np.array_equal(cascade.melody_conditioning(quiet), ids)


def test_sinkhorn_agrees_with_exact_transport_and_never_fakes_a_match():
    rng = np.random.default_rng(0)
    centroids = rng.normal(size=(32, 8))
    base = rng.integers(0, 32, 125)
    others = [
        np.where(rng.random(125) < p, rng.integers(0, 32, 125), base)
        for p in (0.05, 0.2, 0.4, 0.7, 1.0)
    ]
    ours = [sinkhorn_distance(base, o, centroids) for o in others]
    exact = []
    for o in others:
        ia, ca = np.unique(base, return_counts=True)
        ib, cb = np.unique(o, return_counts=True)
        exact.append(
            ot.emd2(
                ca / ca.sum(),
                cb / cb.sum(),
                ot.dist(centroids[ia], centroids[ib], metric="euclidean"),
            )
        )
    assert np.argsort(ours).tolist() == np.argsort(exact).tolist()
    assert sinkhorn_distance(base, base.copy(), centroids) == 0.0
    assert min(ours) > 1e-6, "different histograms are never at distance ~0"
    with pytest.raises(SinkhornError, match="did not converge"):
        sinkhorn_distance(base, others[-1], centroids, reg=1e-4, max_iterations=2)


def test_tau_keeps_false_positives_under_the_rate():
    negatives = np.linspace(1.0, 2.0, 1000)
    tau, resolution = calibrate_tau(negatives, 0.01)
    assert np.mean(negatives <= tau) <= 0.01 and resolution == 1e-3
    tau, _ = calibrate_tau(negatives[:50], 1e-4)
    assert tau < negatives[0], "too few negatives: tau sits under the smallest"


def test_the_cli_generates_a_system_folder_and_analyses_memorisation(tiny_cascade, tmp_path):
    root, paths = tiny_cascade
    out = tmp_path / "generated"
    result = CliRunner().invoke(
        main,
        [
            "generate",
            "--stages",
            str(paths["stages"]),
            "--captions",
            "demo",
            "--limit",
            "2",
            "--seconds",
            "3",
            "--out",
            str(out),
            "--melody",
            str(sorted(DEMO_AUDIO_DIR.glob("*.flac"))[0]),
        ],
    )
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.wav"))
    assert len(files) == 2 and sf.info(files[0]).duration == pytest.approx(3.0)
    memo = tmp_path / "memo"
    result = CliRunner().invoke(
        main,
        [
            "bench",
            "memorization",
            "--stages",
            str(paths["stages"]),
            "--records",
            str(root / "tokens"),
            "--clips",
            "3",
            "--prompt-seconds",
            "0,2",
            "--out",
            str(memo),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((memo / "memorization.json").read_text())
    assert [r["prompt_seconds"] for r in report["train"]["rows"]] == [0.0, 2.0]
    assert (memo / "fig3_memorization.png").stat().st_size > 10_000
    assert "exact match" in result.output


def test_the_ablation_trains_without_a_semantic_stage(tiny_cascade, tmp_path):
    from musiccaps_kit.models.training.loop import train

    root, paths = tiny_cascade
    train(
        "stages", root / "tokens", "tiny-ablation", tmp_path / "ablation", steps=3, progress=False
    )
    bundle = load_stages(tmp_path / "ablation" / "model.pt")
    assert set(bundle["models"]) == {"coarse", "fine"}
    audio, tokens = Cascade(tmp_path / "ablation" / "model.pt").generate(
        [("calm piano", 1.0)], progress=False, melody=_tune(root)
    )
    assert len(audio) == 24000


def test_memorization_refuses_another_semantic_tokenizer(tiny_cascade, tmp_path):
    root, paths = tiny_cascade
    blob = torch.load(paths["stages"], weights_only=False)
    blob["tokenizer"]["checkpoints"]["semantic"]["sha256"] = "0" * 64
    torch.save(blob, tmp_path / "stages.pt")
    result = CliRunner().invoke(
        main,
        [
            "bench",
            "memorization",
            "--stages",
            str(tmp_path / "stages.pt"),
            "--records",
            str(root / "tokens"),
            "--out",
            str(tmp_path / "memo"),
        ],
    )
    assert result.exit_code != 0 and "not the semantic tokenizer" in result.output
    assert not (tmp_path / "memo" / "memorization.json").exists()
