"""fadtk's and kadtk's transformers families (wav2vec 2.0, HuBERT, WavLM, Whisper, MERT) on
tiny random models of the real classes: frames, FAD and KAD against the tools' own
model_loader code (recorded once by tests/oracles/fadtk_kadtk_package.py in a side
environment on the same models and clips), the steps written out, the names and the bad
input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from musiccaps_kit.bench.audio_paths import FADTK
from musiccaps_kit.bench.embedders.ssl import SslFrames, parse
from musiccaps_kit.cli import main
from tests.learned_fixtures import FIXTURES
from tests.tiny_ssl import FAMILY_KINDS, save_all, write_sets

TOOLS = dict(np.load(FIXTURES / "ssl_tools.npz"))
METRIC = {
    f: f.replace("-", "_") + (f"_{layer}" if layer else "")
    for f, (_, layer) in FAMILY_KINDS.items()
}  # noqa: E501


@pytest.fixture(scope="module")
def setup(realmusic, tmp_path_factory):
    root = tmp_path_factory.mktemp("ssl")
    return save_all(root / "models"), *write_sets(realmusic, root / "clips")


def test_frames_equal_the_tools(setup):
    """A 7.3 s clip at 16 kHz through each family as fadtk (frames) and kadtk (1 s pooled;
    MERT with its config's pos-conv) give it, stored in float16 as the tools store it."""
    models, ref, _ = setup
    x, rate = sf.read(ref / "b7s16.wav", dtype="float32", always_2d=True)
    for family, (kind, layer) in FAMILY_KINDS.items():
        for tool in ("fadtk", "kadtk"):
            pooling = "kadtk" if tool == "kadtk" and kind != "whisper" else "none"
            embedder = SslFrames(
                family, layer, model=str(models[family]), pooling=pooling,
                conv_pos_batch_norm="fadtk" if tool == "fadtk" else "config",
            )  # fmt: skip
            frames = embedder.embed(FADTK.apply(x.T, rate, embedder.rate)[0])
            expected = TOOLS[f"{tool}:{family}:frames"]  # the tool's float32 frames
            assert frames.shape == expected.shape, (tool, family)
            # stored as the tools store them: float16 of the same values (a value within
            # 1e-5 of a rounding boundary may round the other way)
            stored = expected.astype(np.float16).astype(np.float32)
            assert np.mean(frames == stored) > 0.99, (tool, family)
            np.testing.assert_allclose(frames, stored, rtol=1e-3, atol=2e-3, err_msg=family)


def test_the_steps_written_out(setup):
    """The processor's own normalisation (zero mean, unit variance, 1e-7), the layer taken
    from the stacked hidden states, kadtk's pooling (7.3 s at 50 frames/s: 364 frames,
    stride 49, 7 frames, the remainder dropped) and Whisper's two decoder frames."""
    import torch
    from transformers import AutoModel

    models, ref, _ = setup
    x, rate = sf.read(ref / "b7s16.wav", dtype="float32", always_2d=True)
    wave = FADTK.apply(x.T, rate, 16000)[0]
    normalised = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)
    model = AutoModel.from_pretrained(models["hubert-base"]).eval()
    with torch.no_grad():
        states = model(torch.from_numpy(normalised)[None], output_hidden_states=True).hidden_states
    frames = SslFrames("hubert-base", 2, model=str(models["hubert-base"])).embed(wave)
    np.testing.assert_allclose(frames, states[2][0].numpy(), rtol=1e-3, atol=1e-4)
    assert frames.shape == (364, 32)
    pooled = SslFrames("hubert-base", 2, model=str(models["hubert-base"]), pooling="kadtk")
    expected = states[2][0].numpy()[: 7 * 49].reshape(7, 49, 32).mean(1)
    np.testing.assert_allclose(pooled.embed(wave), expected, rtol=1e-3, atol=1e-4)
    whisper = SslFrames("whisper-base", model=str(models["whisper-base"]))
    assert whisper.embed(wave).shape == (2, 32)


def test_fad_and_kad_equal_the_tools(setup, tmp_path):
    """`mck bench` with every family's fad_ and kad_ column (named as the tools name them,
    weights by --model FAMILY=FOLDER): FAD and KAD within 1e-4 relative of fadtk's and
    kadtk's."""
    models, ref, system = setup
    names = ",".join(f"{p}_{m}" for m in METRIC.values() for p in ("fad", "kad"))
    args = ["bench", "--reference", str(ref), "--system", f"noisy={system}", "--metrics",
            names.replace("_v1_95m", "-v1-95M"), "--no-inf", "--bootstrap", "10",
            "--out", str(tmp_path / "board")]  # fmt: skip
    for family, folder in models.items():
        args += ["--model", f"{family}={folder}"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    row = board["rows"][0]["metrics"]
    for family, metric in METRIC.items():
        for prefix, tool in (("fad", "fadtk"), ("kad", "kadtk")):
            expected = float(TOOLS[f"{tool}:{family}"])
            got = row[f"{prefix}_{metric}"]["value"]
            # Whisper: 6 frames a side for 32 dimensions, singular covariances and a FAD of
            # 7e-5, where fadtk's eig route and ours part at 4e-7
            tiny = 1e-6 if family.startswith("whisper") else 1e-7
            assert got == pytest.approx(expected, rel=1e-4, abs=tiny), (prefix, family)
            # the tiny models are not the tools' hub weights: no claim beyond the recipe
            header = board["columns"][f"{prefix}_{metric}"]["protocol"]
            assert header.startswith(f"{tool}'s recipe, other weights"), header
    assert row[f"kad_{METRIC['hubert-base']}"]["recipe"]["frames_system"] == 7 + 10 + 12


def test_names_and_bad_input(setup, tmp_path):
    models, ref, system = setup
    assert parse("MERT-v1-95M")[1] is None and parse("mert_v1_330m_24")[1] == 24
    assert parse("WavLM-Base-Plus-3")[0].name == "wavlm-base-plus"
    base = ["bench", "--reference", str(ref), "--system", f"s={system}", "--out", str(tmp_path)]
    cases = {
        "fad_w2v2-base-13": "fad_w2v2_base_13: w2v2-base has layers 1-12, not 13",
        "kad_whisper-base-2": "kad_whisper_base_2: whisper-base takes no layer suffix",
    }
    for metric, words in cases.items():
        result = CliRunner().invoke(main, [*base, "--metrics", metric])
        assert result.exit_code == 1 and words in result.output, result.output
    wrong = CliRunner().invoke(
        main,
        [*base, "--metrics", "fad_w2v2-base-2", "--model", f"w2v2-base={models['hubert-base']}"],  # noqa: E501
    )
    assert wrong.exit_code == 1 and "holds a 'hubert' model, not a 'wav2vec2' one" in wrong.output
    no_processor = tmp_path / "no-processor"
    shutil.copytree(models["wavlm-base-plus"], no_processor)
    (no_processor / "preprocessor_config.json").unlink()
    lacking = CliRunner().invoke(
        main,
        [*base, "--metrics", "kad_wavlm-base-plus-2", "--model", f"wavlm-base-plus={no_processor}"],  # noqa: E501
    )
    assert lacking.exit_code == 1 and "has no preprocessor_config.json" in lacking.output
    assert not (tmp_path / "embeddings").exists() or not any(
        (tmp_path / "embeddings").rglob("*.npy")
    )  # noqa: E501


def test_the_kad_set_takes_the_families_at_hand(setup):
    from musiccaps_kit.bench.metric_sets import resolve_metrics
    from musiccaps_kit.bench.settings import BenchSettings

    models, _, _ = setup
    settings = BenchSettings(metric_models={"wavlm-base-plus": str(models["wavlm-base-plus"])})
    metrics, notes = resolve_metrics("kad", settings)
    assert "kad_wavlm_base_plus" in metrics and "kad_w2v2_base" not in metrics
    assert any("kad_w2v2_base" in n for n in notes)
