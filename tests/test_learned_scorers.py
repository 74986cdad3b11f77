"""MCC on MuQ-MuLan (``mcc_muq``) and Audiobox Aesthetics (``aes_*``) against the packages'
own code (their numbers recorded once by tests/oracles/muq_package.py and
audiobox_package.py in a side environment, on the same seeded weights and clips) and
against their steps written out, on real clips of 10 s, 9.9 s and 25 s, stereo 44.1 kHz
and mono 48 kHz; through `mck bench --metrics learned` with its cache; and bad input."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from musiccaps_kit.bench.audio_paths import AUDIOBOX, LIBROSA_MONO
from musiccaps_kit.bench.embedders import muq_network as M
from musiccaps_kit.bench.embedders.aesthetics import Aesthetics, windows
from musiccaps_kit.bench.embedders.aesthetics_network import AesWeightsError, frame_padding
from musiccaps_kit.bench.embedders.muq import MuqAudio, MuqMulanModel
from musiccaps_kit.cli import main
from tests.learned_fixtures import (
    AES_TRANSFORM,
    CLIPS,
    FIXTURES,
    aes_shapes,
    aes_weights,
    save_aes_release,
    write_clips,
)

MUQ = FIXTURES / "muq" / "MuQ-MuLan-small"


@pytest.fixture(scope="module")
def clips(realmusic, tmp_path_factory):
    return write_clips(realmusic, tmp_path_factory.mktemp("learned-clips"))


def decoded(path, path_kind, rate):
    x, source = sf.read(path, dtype="float32", always_2d=True)
    return path_kind.apply(x.T, source, rate)[0]


# --- MuQ-MuLan ------------------------------------------------------------------------------


def test_mcc_muq_equals_the_package(clips):
    """Each clip's audio embedding (the pieces' mean) and each caption's text embedding as
    muq 0.1.0's MuQMuLan gives them on the same release files: within 2e-5."""
    package = dict(np.load(FIXTURES / "muq_package.npz"))
    audio = MuqAudio(str(MUQ))
    for name, path in clips.items():
        frames = audio.embed(decoded(path, LIBROSA_MONO, 24000))
        np.testing.assert_allclose(frames.mean(0), package[name], atol=2e-5, err_msg=name)
    captions = [k[5:] for k in package if k.startswith("text:")]
    for caption, row in zip(captions, audio.model.text(captions), strict=True):
        np.testing.assert_allclose(row, package[f"text:{caption}"], atol=2e-5)


def test_mcc_muq_steps_written_out(clips):
    """librosa's load (mono, soxr HQ, length fix), librosa's HTK mel and power_to_db, the
    pieces padded with the clip's own start, the mean of unit vectors not re-normalised,
    and each caption alone (padding is in the text mean)."""
    import librosa

    ten = decoded(clips["ten_stereo44"], LIBROSA_MONO, 24000)
    assert len(ten) == 240001  # ceil(441000 * (24000 / 44100)) in float64: 240000.00000000003
    loaded, _ = librosa.load(clips["ten_stereo44"], sr=24000)
    np.testing.assert_allclose(ten, loaded, atol=1e-6)
    # the front end: torchaudio's MelSpectrogram + AmplitudeToDB, last frame dropped
    mel = librosa.feature.melspectrogram(
        y=ten[:48000].astype(np.float64), sr=24000, n_fft=2048, hop_length=240, n_mels=128,
        htk=True, norm=None, pad_mode="reflect", power=2.0,
    )  # fmt: skip
    expected = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)[:, :-1]
    got = M.MelFrontEnd()(torch.from_numpy(ten[:48000])).numpy()
    assert got.shape == expected.shape == (128, 200)
    np.testing.assert_allclose(got, expected, atol=2e-3)
    # pieces: 9.9 s -> one, padded with the first 0.1 s; 25 s -> two of 10 s and the last
    # 5 s followed by the clip's first 5 s
    nine9 = torch.from_numpy(decoded(clips["nine9_mono48"], LIBROSA_MONO, 24000))
    one = M.pieces_of(nine9, 240000)
    assert one.shape == (1, 240000) and torch.equal(one[0, 237600:], nine9[:2400])
    long = torch.from_numpy(decoded(clips["twentyfive_stereo44"], LIBROSA_MONO, 24000))
    three = M.pieces_of(long, 240000)
    assert three.shape == (3, 240000)
    assert torch.equal(three[2], torch.cat([long[480000:], long[: 240000 - 120000]]))
    audio = MuqAudio(str(MUQ))
    frames = audio.embed(long.numpy())
    assert frames.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(frames, axis=1), 1.0, atol=1e-5)
    assert np.linalg.norm(frames.mean(0)) < 0.99999  # averaged, not re-normalised
    # a caption's embedding depends on the batch it is padded in: alone, as the scripts do
    short, long_caption = "piano", "a slow sad piano ballad with strings and a soft voice"
    alone = audio.model.text([short])[0]
    net, tokenizer = audio.model.net(), audio.model.tokenizer()
    tokens = tokenizer([short, long_caption], return_tensors="pt", padding=True)
    with torch.no_grad():
        batched = net.text_latents(tokens["input_ids"], tokens["attention_mask"])[0].numpy()
    assert np.abs(alone - batched).max() > 1e-3


def test_muq_files_of_another_architecture_are_refused(tmp_path):
    shutil.copytree(MUQ.parent, tmp_path / "muq")  # the audio model's config beside it
    wrong = tmp_path / "muq" / MUQ.name
    state = torch.load(MUQ / "pytorch_model.bin", weights_only=True)
    key = "mulan.text_to_latents.weight"
    torch.save({**state, key: torch.zeros(3, 3)}, wrong / "pytorch_model.bin")
    with pytest.raises(ValueError, match=f"{key} is \\(3, 3\\), the config gives"):
        MuqMulanModel(str(wrong)).net()
    del state[key]
    torch.save(state, wrong / "pytorch_model.bin")
    with pytest.raises(ValueError, match=f"pytorch_model.bin: no {key}"):
        MuqMulanModel(str(wrong)).net()
    data = (MUQ / "pytorch_model.bin").read_bytes()
    (wrong / "pytorch_model.bin").write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ValueError, match="pytorch_model.bin: not a readable weights file"):
        MuqMulanModel(str(wrong)).net()


# --- Audiobox Aesthetics --------------------------------------------------------------------


@pytest.fixture(scope="module")
def aes_release(tmp_path_factory):
    return save_aes_release(tmp_path_factory.mktemp("aes"), aes_weights(aes_shapes()))


def test_aes_equals_the_package_in_both_formats(clips, aes_release):
    """AesPredictor's four scores per clip (audiobox-aesthetics 0.0.4 on the same seeded
    weights): within 2e-4, the hub folder and checkpoint.pt alike; and torchaudio's
    resampling written out equals torchaudio's own output."""
    package = dict(np.load(FIXTURES / "audiobox_package.npz"))
    hub, checkpoint = aes_release
    scores = {}
    for spec in (hub, checkpoint):
        model = Aesthetics(str(spec))
        for name, path in clips.items():
            wave = decoded(path, AUDIOBOX, 16000)
            np.testing.assert_allclose(wave[:2000], package[f"resampled:{name}"], atol=1e-6)
            scores[spec.name, name] = model.embed(wave)[0]
            np.testing.assert_allclose(scores[spec.name, name], package[name], atol=2e-4)
    for name in CLIPS:
        np.testing.assert_array_equal(scores[hub.name, name], scores[checkpoint.name, name])
    assert np.ptp([scores[hub.name, n][0] for n in CLIPS]) > 0.01  # the scores vary by clip


def test_aes_steps_written_out(clips, aes_release):
    """10 s windows, the last zero-padded and masked; a frame is padding only when all its
    320 samples are (fewer than transformers' length rule would mask); per axis the layers'
    softmax-weighted sum, the masked time mean, L2 norm, the head, x * std + mean; windows
    weighted by length / 10 s."""
    wave = decoded(clips["twentyfive_stereo44"], AUDIOBOX, 16000)
    wavs, masks, weights = windows(wave)
    assert wavs.shape == (3, 160000) and list(weights) == [1.0, 1.0, 0.5]
    assert masks[2].sum() == 80000 and not wavs[2, 80000:].any()
    model = Aesthetics(str(aes_release[0]))
    net = model.net()
    with torch.no_grad():
        states, padding = net.hidden_states(torch.from_numpy(wavs), torch.from_numpy(masks))
    assert states.shape == (3, 499, 768, 13)
    # the frame rule: 160000 samples -> 499 frames of 320 (the last 320 samples dropped);
    # frame i is padding when samples [320 i, 320 i + 320) all are
    first_padded = int(np.ceil(80000 / 320))
    assert padding[2, :first_padded].logical_not().all() and padding[2, first_padded:].all()
    assert not padding[:2].any()
    rows = []
    for axis in ("CE", "CU", "PC", "PQ"):
        w = torch.softmax(net.layer_weights[axis].detach(), dim=0)
        keep = (~padding).float()[..., None]
        embed = ((states * w).sum(-1) * keep).sum(1) / keep.sum(1)
        embed = embed / embed.norm(dim=-1, keepdim=True)
        raw = net.proj_layer[axis](embed).squeeze(-1).detach()
        scaled = raw * AES_TRANSFORM[axis]["std"] + AES_TRANSFORM[axis]["mean"]
        rows.append(float((scaled * torch.from_numpy(weights)).sum() / weights.sum()))
    np.testing.assert_allclose(model.embed(wave)[0], rows, atol=1e-5)
    # a silent clip and a very short one give numbers, never NaN
    assert np.isfinite(model.embed(np.zeros(16000, np.float32))).all()
    assert np.isfinite(model.embed(wave[:500])).all()
    assert frame_padding(torch.ones(1, 640, dtype=torch.bool), 2).all()


def test_aes_files_of_another_architecture_are_refused(aes_release, tmp_path):
    _, checkpoint = aes_release
    blob = torch.load(checkpoint, weights_only=True)
    key = "model.proj_layer.PQ.0.weight"
    del blob["state_dict"][key]
    torch.save(blob, tmp_path / "checkpoint.pt")
    with pytest.raises(AesWeightsError, match="no proj_layer.PQ.0.weight"):
        Aesthetics(str(tmp_path / "checkpoint.pt")).net()
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(AesWeightsError, match="not an Audiobox Aesthetics checkpoint.pt"):
        Aesthetics(str(tmp_path / "other.pt")).net()


# --- the bench ------------------------------------------------------------------------------


def test_bench_learned_set_and_its_cache(clips, aes_release, tmp_path, monkeypatch):
    """`mck bench --metrics learned`: per-clip values in per_clip.csv equal the packages',
    a clip without a caption is listed and not scored, higher is better, the cached rerun
    loads no model."""
    package_muq = dict(np.load(FIXTURES / "muq_package.npz"))
    package_aes = dict(np.load(FIXTURES / "audiobox_package.npz"))
    system = tmp_path / "sys"
    system.mkdir()
    for name, path in clips.items():
        shutil.copy(path, system / f"{name}.wav")
    captions = tmp_path / "captions.csv"
    captions.write_text(
        "ytid,caption\nten_stereo44,calm piano with soft strings\n"
        'twentyfive_stereo44,"a loud rock song with drums and distorted guitar, fast tempo"\n'
    )
    args = ["bench", "--reference", str(system), "--system", f"mine={system}",
            "--metrics", "learned", "--muq-mulan-model", str(MUQ), "--aes-model",
            str(aes_release[0]), "--captions", str(captions), "--bootstrap", "10",
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "board")])
    assert result.exit_code == 0, result.output
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    assert board["metrics"] == ["mcc_muq", "aes_ce", "aes_cu", "aes_pc", "aes_pq"]
    assert board["columns"]["mcc_muq"]["protocol"].startswith("MuQ-MuLan's recipe, other")
    per_clip = {
        (r["metric"], r["id"]): float(r["value"])
        for r in csv.DictReader(open(tmp_path / "board" / "per_clip.csv"))
    }
    for name, caption in (("ten_stereo44", "calm piano with soft strings"),
                          ("twentyfive_stereo44", "a loud rock song with drums and distorted "
                           "guitar, fast tempo")):  # fmt: skip
        expected = float(package_muq[name] @ package_muq[f"text:{caption}"])
        assert per_clip["mcc_muq", name] == pytest.approx(expected, abs=2e-5)
    assert ("mcc_muq", "nine9_mono48") not in per_clip
    row = board["rows"][0]["metrics"]
    assert row["mcc_muq"]["recipe"]["no_caption"] == ["nine9_mono48"]
    for k, axis in enumerate(("ce", "cu", "pc", "pq")):
        for name in CLIPS:
            assert per_clip[f"aes_{axis}", name] == pytest.approx(package_aes[name][k], abs=2e-4)
        assert row[f"aes_{axis}"]["n"] == 3
        assert (
            row[f"aes_{axis}"]["ci"][0]
            <= row[f"aes_{axis}"]["value"]
            <= row[f"aes_{axis}"]["ci"][1]
        )  # noqa: E501
    assert "LIBROSA" not in json.dumps(board) and "librosa-soxr_hq" in json.dumps(row["mcc_muq"])

    def no_model(*_):
        raise AssertionError("a cached rerun built a model")

    monkeypatch.setattr(MuqMulanModel, "net", no_model)
    monkeypatch.setattr(Aesthetics, "net", no_model)
    again = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    rerun = json.loads((tmp_path / "again" / "leaderboard.json").read_text())["rows"][0]
    assert rerun["metrics"]["aes_pq"]["value"] == row["aes_pq"]["value"]
