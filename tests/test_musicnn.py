"""Our PyTorch port of musicnn against librosa and the original TF1 graph."""

import os
import subprocess
import sys

import librosa
import numpy as np
import pytest
import soundfile as sf

from musiccaps_kit.audio import resample
from musiccaps_kit.bench.embedders import make_embedder
from musiccaps_kit.bench.embedders.musicnn import log_mel, patches, tag_names
from musiccaps_kit.mel import mel_filterbank
from musiccaps_kit.resources import DEMO_AUDIO_DIR

ORACLE = os.path.join(os.path.dirname(__file__), "oracles", "musicnn_original.py")
CLIPS = ["nexuiz-00-0", "wesnoth-00-0", "planetblupi-00-0"]


def _wave(clip_id):
    wave, rate = sf.read(DEMO_AUDIO_DIR / f"{clip_id}.flac", dtype="float32")
    return resample(wave[: 10 * rate], rate, 16000)


def test_front_end_matches_librosa():
    np.testing.assert_allclose(
        mel_filterbank(16000, 512, 96),
        librosa.filters.mel(sr=16000, n_fft=512, n_mels=96),
        atol=1e-7,
    )
    wave = _wave(CLIPS[0])
    mel = librosa.feature.melspectrogram(y=wave, sr=16000, hop_length=256, n_fft=512, n_mels=96)
    # musicnn rounds to float16 and then (with 2019 NumPy) computes the log in float32.
    expected = np.log10(10000 * mel.T.astype(np.float16).astype(np.float32) + 1)
    ours = log_mel(wave)
    assert ours.shape == expected.shape == (626, 96)
    np.testing.assert_allclose(ours, expected, atol=2e-3)
    assert patches(ours).shape == (3, 187, 96)


@pytest.mark.parametrize("model", ["MTT_musicnn", "MSD_musicnn"])
def test_network_matches_the_original_graph(model, tmp_path):
    embedder = make_embedder("musicnn", model=model)
    batch = np.concatenate([patches(log_mel(_wave(c))) for c in CLIPS])
    np.save(tmp_path / "patches.npy", batch)
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run(
        [sys.executable, ORACLE, model, str(tmp_path / "patches.npy"), str(tmp_path / "o.npz")],
        env=env,
        check=True,
        capture_output=True,
    )
    oracle = np.load(tmp_path / "o.npz")
    import torch

    with torch.no_grad():
        penultimate, logits = embedder.net(torch.from_numpy(batch))
    np.testing.assert_allclose(torch.sigmoid(logits).numpy(), oracle["taggram"], atol=1e-5)
    np.testing.assert_allclose(penultimate.numpy(), oracle["penultimate"], atol=1e-4)


def test_tags_make_sense_on_real_music():
    tagger = make_embedder("musicnn", output="taggram")
    names = tag_names("MTT_musicnn")
    assert len(names) == 50
    probs = tagger(_wave("nexuiz-00-0"), 16000).mean(axis=0)
    top = [names[i] for i in np.argsort(probs)[::-1][:5]]
    assert {"techno", "electronic", "beat", "fast", "drums", "synth"} & set(top), top
    assert make_embedder("musicnn")(_wave("nexuiz-00-0"), 16000).shape == (3, 200)


def test_a_batch_of_clips_gives_what_each_clip_gives_alone():
    from musiccaps_kit.bench.embedders import musicnn

    clips = []
    for path in sorted(DEMO_AUDIO_DIR.glob("*.flac"))[:3]:
        wave, rate = sf.read(path, dtype="float32")
        clips.append(wave[: rate * (4 + 3 * len(clips))])  # 1, 2 and 3 patches
    model = make_embedder("musicnn")
    batched = model.batch(clips, 24000)
    musicnn._RECENT.clear()
    alone = [model(wave, 24000) for wave in clips]
    assert [len(b) for b in batched] == [1, 2, 3]
    for b, a in zip(batched, alone, strict=True):  # bit for bit: fixed-size network calls
        np.testing.assert_array_equal(b, a)
