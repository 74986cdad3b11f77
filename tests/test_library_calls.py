"""The library functions behind the CLI, called without click: prepare's configuration,
bench's model options and metric names (the registries, entry points included)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from musiccaps_kit.bench.columns import known_metrics
from musiccaps_kit.bench.settings import joint_model_options, model_options, parse_systems
from musiccaps_kit.cli import main
from musiccaps_kit.data import catalog
from musiccaps_kit.data.preparation import build_config
from musiccaps_kit.data.tokenizers import TOKENIZERS
from musiccaps_kit.resources import DEMO_AUDIO_DIR


def test_prepare_config_defaults_and_refusals(tmp_path):
    demo = catalog.load("demo")
    config = build_config(demo, "demo", tmp_path / "out", rates=(24000, 16000, 16000))
    assert config.source == "local"
    assert config.source_options == {"audio_dir": str(DEMO_AUDIO_DIR), "segment": "auto"}
    assert config.segment.rates == (16000, 24000)
    assert config.cache_dir == str(tmp_path / "out" / "cache")
    youtube = build_config(demo.subset("all"), "musiccaps", tmp_path / "yt", retries=5)
    assert youtube.source == "youtube" and youtube.source_options["retries"] == 5
    musiccaps = catalog.load("musiccaps")
    with pytest.raises(ValueError, match="--source local needs --audio-dir"):
        build_config(musiccaps, "musiccaps", tmp_path / "x", source="local")
    with pytest.raises(ValueError, match="--only-failed: no failures recorded"):
        build_config(demo, "demo", tmp_path / "x", only_failed=True)
    with pytest.raises(ValueError, match="tokenizer: unknown tokenizer 'nosuch'"):
        build_config(demo, "demo", tmp_path / "x", tokenizer="nosuch")
    with pytest.raises(ValueError, match="tokenizer: the cascade tokenizer needs"):
        build_config(demo, "demo", tmp_path / "x", tokenizer="cascade")
    assert not (tmp_path / "x").exists()


def test_the_cascade_plugs_in_through_entry_points():
    assert "cascade" in TOKENIZERS.names()
    metrics = known_metrics()
    assert {"fad_musicnn", "fad_vggish", "kld_leaf", "mcc_clap", "mcc_mulan"} <= set(metrics)
    options = joint_model_options(mcc_checkpoint="joint.pt", clap_amodel="HTSAT-base")
    assert options["mulan"] == options["projection"] == {"checkpoint": "joint.pt"}
    assert options["clap"] == {"checkpoint": "joint.pt", "amodel": "HTSAT-base"}
    assert model_options()["vggish"] == {"frontend": "google2019"}
    # CLAP the embedder (fad_clap, kad_clap, clap_score) has its own settings
    assert model_options(clap_model="m")["clap"] == {"model": "m"}
    help_text = CliRunner().invoke(main, ["bench", "--help"], terminal_width=1000).output
    assert ", ".join(metrics) in help_text


def test_systems_are_name_folder_pairs(tmp_path):
    assert parse_systems([f"mine={tmp_path}"]) == {"mine": str(tmp_path)}
    for bad in ("mine", f"={tmp_path}", f"mine={tmp_path / 'missing'}"):
        with pytest.raises(ValueError, match="expected NAME=FOLDER"):
            parse_systems([bad])
