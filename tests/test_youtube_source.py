"""The real yt-dlp against a loopback HTTP server standing in for YouTube."""

import numpy as np
import pytest
import soundfile as sf

from musiccaps_kit.audio import SegmentRecipe, load_segment
from musiccaps_kit.data.catalog import Clip
from musiccaps_kit.data.sources import Category, FetchError, classify
from musiccaps_kit.data.sources.youtube import YoutubeSource
from musiccaps_kit.resources import DEMO_AUDIO_DIR


@pytest.fixture
def served(tmp_path, serve):
    folder = tmp_path / "www"
    folder.mkdir()
    a, rate = sf.read(DEMO_AUDIO_DIR / "wesnoth-00-0.flac", dtype="float32")
    b, _ = sf.read(DEMO_AUDIO_DIR / "nexuiz-00-0.flac", dtype="float32")
    long_audio = np.concatenate([a, b, a])  # 30 s
    sf.write(folder / "goodclip001.wav", long_audio, rate, subtype="FLOAT")
    sf.write(folder / "shortclip01.wav", a[: 3 * rate], rate)
    (folder / "corruptid01.wav").write_bytes(b"RIFF" + bytes(range(256)) * 40)
    return serve(folder), long_audio, rate


def _clip(ytid, start=10.0, end=20.0):
    return Clip(ytid=ytid, start_s=start, end_s=end, caption="x")


def _source(tmp_path, server, **kw):
    return YoutubeSource(raw_dir=tmp_path / "raw", url_template=server.url_template, **kw)


def test_fetches_only_the_section_and_cuts_exactly(tmp_path, served):
    server, long_audio, rate = served
    fetched = _source(tmp_path, server).fetch(_clip("goodclip001"))
    assert fetched.downloaded and fetched.precut
    seg = load_segment(fetched.path, 0, 10, SegmentRecipe(rates=(rate,)), precut=True)
    expected = long_audio[10 * rate : 20 * rate]
    # Exact cut: the section lines up with the source to the sample (float WAV, no codec).
    corr = np.dot(seg.audio[rate], expected) / np.linalg.norm(expected) ** 2
    assert corr == pytest.approx(1.0, abs=1e-3)
    assert abs(seg.file_seconds - 10) < 0.05
    # A second fetch reuses the downloaded file: no request reaches the server.
    before = len(server.requests)
    again = _source(tmp_path, server).fetch(_clip("goodclip001"))
    assert not again.downloaded and again.path == fetched.path
    assert len(server.requests) == before


@pytest.mark.parametrize(
    ("ytid", "category"),
    [("missingid01", Category.UNAVAILABLE), ("corruptid01", Category.BAD_MEDIA)],
)
def test_failures_are_categorised(tmp_path, served, ytid, category):
    server, _, _ = served
    with pytest.raises(FetchError) as err:
        _source(tmp_path, server, retries=0).fetch(_clip(ytid))
    assert err.value.category == category
    assert ytid in err.value.message
    assert not list((tmp_path / "raw").glob(f"{ytid}*")), "no partial file may stay behind"


def test_invalid_id_is_refused_before_any_request(tmp_path, served):
    server, _, _ = served
    with pytest.raises(FetchError) as err:
        _source(tmp_path, server).fetch(_clip("not-a-youtube-id"))
    assert err.value.category == Category.INVALID_ID
    assert server.requests == []


def test_transient_errors_are_retried_with_backoff(tmp_path, served):
    server, _, _ = served
    server.fail_next("/goodclip001.wav", 503)
    fetched = _source(tmp_path, server, retries=2, backoff_s=0.01).fetch(_clip("goodclip001"))
    assert fetched.downloaded
    assert server.requests.count("/goodclip001.wav") >= 2


def test_retries_are_bounded(tmp_path, served):
    server, _, _ = served
    server.fail_next("/goodclip001.wav", 503, times=10)
    with pytest.raises(FetchError) as err:
        _source(tmp_path, server, retries=2, backoff_s=0.01).fetch(_clip("goodclip001"))
    assert err.value.category == Category.NETWORK
    assert "503" in err.value.message
    assert server.requests.count("/goodclip001.wav") == 3  # the first try and two retries


@pytest.mark.parametrize(
    ("message", "category"),
    [
        ("[youtube] abc: Video unavailable", Category.UNAVAILABLE),
        ("[youtube] abc: Private video. Sign in if you've been granted access", Category.PRIVATE),
        (
            "[youtube] abc: This video is no longer available because the YouTube account "
            "associated with this video has been terminated.",
            Category.REMOVED,
        ),
        ("[youtube] abc: This video has been removed by the uploader", Category.REMOVED),
        (
            "[youtube] abc: Video unavailable. This video is no longer available due to a "
            "copyright claim by Sony Music",
            Category.COPYRIGHT,
        ),
        (
            "[youtube] abc: Sign in to confirm your age. This video may be inappropriate "
            "for some users.",
            Category.SIGN_IN,
        ),
        ("[youtube] abc: Sign in to confirm you\u2019re not a bot", Category.BOT_CHECK),
        ("Unable to download webpage: HTTP Error 429: Too Many Requests", Category.BOT_CHECK),
        (
            "Unable to download webpage: <urlopen error [Errno 111] Connection refused>",
            Category.NETWORK,
        ),
        ("ffmpeg exited with code 183", Category.BAD_MEDIA),
        ("something nobody has seen before", Category.INTERNAL),
    ],
)
def test_youtube_messages_are_classified(message, category):
    assert classify(message) == category
