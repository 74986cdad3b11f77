"""`mck prepare --tokenizer cascade`: A, S and M_A tokens from trained tiny models, written
into the records by the real pipeline, read back and checked against the models."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from musiccaps_kit.cli import main
from musiccaps_kit.data import schema
from musiccaps_kit.data.records import iter_records, tf_dataset
from musiccaps_kit.models.loaders import load_codec, load_mulan, load_semantic


@pytest.fixture(scope="module")
def checkpoints(tiny_cascade):
    root, paths = tiny_cascade
    return root, {k: v for k, v in paths.items() if k != "stages"}


def test_prepare_writes_the_three_token_streams(checkpoints):
    root, paths = checkpoints
    out = root / "tokenized"
    args = ["prepare", "--dataset", "demo", "--out", str(out), "--tokenizer", "cascade"]
    for kind, path in paths.items():
        args += ["--tokenizer-option", f"{kind}={path}"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    info = json.loads((out / "dataset_info.json").read_text())
    recipe = info["recipe"]["tokenizer"]
    assert recipe["token_names"] == ["acoustic", "semantic", "mulan", "melody"]
    assert len(recipe["checkpoints"]["acoustic"]["sha256"]) == 64
    codec, semantic, mulan = (
        load_codec(paths["codec"]),
        load_semantic(paths["semantic"]),
        load_mulan(paths["mulan"]),
    )
    record = next(iter_records(out, "train"))
    levels = codec.config.levels
    assert record.tokens["acoustic"].shape == (500, levels), "50 Hz x 10 s"
    assert record.tokens["semantic"].shape == (250,), "25 Hz x 10 s"
    assert record.tokens["mulan"].shape == (12,)
    assert record.tokens["melody"].shape == (3, 24), "three 4 s windows, 24 levels"
    wave24 = torch.from_numpy(record.audio[24000].copy())[None]
    np.testing.assert_array_equal(record.tokens["acoustic"], codec.encode(wave24)[0].numpy())
    np.testing.assert_array_equal(
        record.tokens["semantic"], semantic.tokens(record.audio[16000]).numpy()
    )
    m_a = mulan.tokens(mulan.clip_embedding(record.audio[16000])[None])[0].numpy()
    np.testing.assert_array_equal(record.tokens["mulan"], m_a)
    first = next(iter(tf_dataset(out, "train")))
    assert first[schema.token_key("acoustic")].shape == (500, levels)


def test_a_missing_checkpoint_is_refused_before_any_work(checkpoints, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "prepare",
            "--dataset",
            "demo",
            "--out",
            str(tmp_path / "x"),
            "--tokenizer",
            "cascade",
            "--tokenizer-option",
            f"codec={tmp_path / 'missing.pt'}",
        ],
    )
    assert result.exit_code != 0 and "not found" in result.output
    assert not (tmp_path / "x" / "dataset_info.json").exists()


def test_mck_eval_reports_each_model_on_held_out_clips(checkpoints, tmp_path):
    root, paths = checkpoints
    records = str(root / "records")
    reports = {}
    for kind in ("codec", "semantic", "mulan"):
        out = tmp_path / f"{kind}.json"
        result = CliRunner().invoke(
            main,
            [
                "eval",
                kind,
                "--model",
                str(paths[kind]),
                "--records",
                records,
                "--clips",
                "3",
                "--out",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
        reports[kind] = json.loads(out.read_text())
    codec = reports["codec"]["bitrates"]
    assert [r["levels"] for r in codec] == list(range(1, len(codec) + 1))
    assert codec[-1]["bitrate_bps"] == 50 * len(codec) * 6
    assert all(np.isfinite(r["mel_distance"]) and np.isfinite(r["opus_si_sdr_db"]) for r in codec)
    assert codec[0]["opus_si_sdr_db"] > 0, "Opus at 6 kbps keeps the waveform"
    semantic = reports["semantic"]
    assert 1 <= semantic["perplexity"] <= semantic["clusters"]
    assert 0 <= semantic["unchanged_under_noise_40dB_snr"] <= 1
    recall = reports["mulan"]["recall_at"]
    assert recall["1"] <= recall["5"] <= recall["10"] == 1.0


def test_a_wrong_or_broken_model_file_is_a_clear_error(checkpoints, tmp_path):
    root, paths = checkpoints
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a model")
    for model, message in (
        (garbage, "not a readable model file"),
        (paths["semantic"], "is a musiccaps-kit/semantic/1 file, not musiccaps-kit/codec/1"),
    ):
        result = CliRunner().invoke(
            main, ["eval", "codec", "--model", str(model), "--records", str(root / "records")]
        )
        assert result.exit_code != 0 and message in result.output, result.output
    no_eval = CliRunner().invoke(
        main,
        [
            "eval",
            "semantic",
            "--model",
            str(paths["semantic"]),
            "--records",
            str(root / "tokens"),
            "--clips",
            "2",
        ],
    )
    assert no_eval.exit_code == 0, "the tokenized demo set has an eval split"
