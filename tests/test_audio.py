import numpy as np
import pytest
import soundfile as sf

from musiccaps_kit.audio import AudioError, SegmentRecipe, decode, load_segment, resample
from musiccaps_kit.resources import DEMO_AUDIO_DIR

CLIP = DEMO_AUDIO_DIR / "wesnoth-00-0.flac"


def test_segment_has_exact_length_at_every_rate():
    seg = load_segment(CLIP, 2.5, 5.0, SegmentRecipe(rates=(16000, 22050, 24000)))
    assert {r: len(a) for r, a in seg.audio.items()} == {16000: 80000, 22050: 110250, 24000: 120000}
    assert seg.source_rate == 24000 and seg.pad_s == 0 and seg.trim_s == 0
    source, _ = sf.read(CLIP, dtype="float32")
    # At the source rate the segment is the file's samples, untouched.
    np.testing.assert_array_equal(seg.audio[24000], source[60000:180000])


def test_resampled_audio_keeps_the_signal():
    source, rate = sf.read(CLIP, dtype="float32")
    down = resample(source, rate, 16000)
    back = resample(down, 16000, rate)
    # Music above 8 kHz is lost, the rest survives: most of the energy comes back.
    err = np.sum((back[: len(source)] - source) ** 2) / np.sum(source**2)
    assert err < 0.05


def test_short_file_is_padded_and_recorded(tmp_path):
    source, rate = sf.read(CLIP, dtype="float32")
    path = tmp_path / "short.wav"
    sf.write(path, source[: int(9.5 * rate)], rate)
    seg = load_segment(path, 0, 10, SegmentRecipe(max_pad_s=1.0), precut=True)
    assert seg.pad_s == pytest.approx(0.5)
    assert len(seg.audio[16000]) == 160000
    assert np.all(seg.audio[16000][-7000:] == 0)
    with pytest.raises(AudioError, match="too short"):
        load_segment(path, 0, 10, SegmentRecipe(max_pad_s=0.25), precut=True)


def test_long_precut_file_is_trimmed_and_recorded(tmp_path):
    source, rate = sf.read(CLIP, dtype="float32")
    path = tmp_path / "long.wav"
    sf.write(path, np.concatenate([source, source[:rate]]), rate)
    seg = load_segment(path, 0, 10, SegmentRecipe(), precut=True)
    assert seg.trim_s == pytest.approx(1.0)
    assert seg.pad_s == 0


def test_stereo_is_mixed_to_mono_and_other_codecs_decode_in_process(tmp_path):
    import av

    source, rate = sf.read(CLIP, dtype="float32")
    stereo = np.stack([source, 0.5 * source], axis=1)
    wav = tmp_path / "stereo.wav"
    sf.write(wav, stereo, rate, subtype="FLOAT")
    seg = load_segment(wav, 0, 10, SegmentRecipe(rates=(24000,)))
    assert seg.source_channels == 2
    np.testing.assert_allclose(seg.audio[24000], 0.75 * source, atol=1e-6)

    # AAC in MP4 is not libsndfile's: PyAV decodes it in-process.
    m4a = tmp_path / "clip.m4a"
    with av.open(str(m4a), "w") as out:
        stream = out.add_stream("aac", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(source[None, :], format="fltp", layout="mono")
        frame.rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    audio, got_rate = decode(m4a)
    assert got_rate == rate
    assert abs(audio.shape[1] - len(source)) < 3000  # encoder priming and padding
    seg = load_segment(m4a, 0, 10, SegmentRecipe(), precut=True)
    assert len(seg.audio[16000]) == 160000


def test_corrupt_and_non_finite_audio_are_clear_errors(tmp_path):
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF" + bytes(range(256)) * 20)
    with pytest.raises(AudioError, match="cannot decode corrupt.wav"):
        load_segment(bad, 0, 10, SegmentRecipe())
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full(24000 * 10, np.nan, dtype=np.float32), 24000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_segment(nan, 0, 10, SegmentRecipe())
