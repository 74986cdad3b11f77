"""The Mubert adapter against a loopback server with the API's shapes: auth headers, a 429
then success, a track pending for a few polls, an expired link, 5xx and malformed answers,
a killed run that resumes without paying twice, and credentials that never leak."""

from __future__ import annotations

import io
import json
import logging

import numpy as np
import pytest
import requests
import soundfile as sf

from musiccaps_kit.audio import decode
from musiccaps_kit.baselines import mubert
from musiccaps_kit.baselines.system_folder import Retry
from musiccaps_kit.data import catalog
from musiccaps_kit.resources import DEMO_AUDIO_DIR
from tests.mubert_server import CUSTOMER, PAT, TOKEN, MubertServer, Script

ENV = {"MUBERT_CUSTOMER_ID": CUSTOMER, "MUBERT_ACCESS_TOKEN": TOKEN, "MUBERT_PAT": PAT}


def _wav(clip_id: str) -> bytes:
    wave, rate = decode(DEMO_AUDIO_DIR / f"{clip_id}.flac")
    buffer = io.BytesIO()
    sf.write(buffer, wave.T, rate, format="WAV")
    return buffer.getvalue()


@pytest.fixture
def server():
    s = MubertServer()
    yield s
    s.close()


@pytest.fixture(scope="module")
def clips():
    return list(catalog.load("demo"))[:6]


def _settings(server, **kwargs) -> mubert.MubertSettings:
    sleeps = kwargs.pop("sleeps", [])
    return mubert.MubertSettings(
        api_url=f"{server.url}/api/v3",
        poll_s=0.0,
        requests_per_minute=1e6,
        retry=Retry(attempts=4, base_s=0.01, sleep=sleeps.append),
        **kwargs,
    )


def test_prompts_fit_in_200_characters_by_whole_sentences_or_aspects():
    musiccaps = list(catalog.load("musiccaps"))
    long = sum(len(c.caption) > 200 for c in musiccaps) / len(musiccaps)
    assert 0.75 < long < 0.9  # about 82 % need shortening
    for clip in musiccaps[:500]:
        prompt = mubert.shorten(clip.caption)
        assert 0 < len(prompt) <= 200 and clip.caption.startswith(prompt.split(" ")[0])
        if len(clip.caption) > 200 and len(clip.caption.split(". ")[0]) < 200:
            assert prompt.endswith((".", "!", "?"))
        aspects = mubert.aspects_prompt(clip.aspects)
        assert len(aspects) <= 200
    assert (
        mubert.shorten("word " * 60).endswith("word") and len(mubert.shorten("word " * 60)) <= 200
    )


def test_v3_end_to_end_with_retries_polls_and_failures(server, clips, tmp_path, caplog):
    settings = _settings(server)
    prompts = mubert.make_prompts(clips, settings)
    ids = [c.ytid for c in clips]
    audio = {i: _wav(i) for i in ids}
    server.scripts = {
        prompts[ids[0]]: Script(audio[ids[0]]),
        prompts[ids[1]]: Script(audio[ids[1]], post_errors=[429]),
        prompts[ids[2]]: Script(audio[ids[2]], pending_polls=3),
        prompts[ids[3]]: Script(audio[ids[3]], expired=True),
        prompts[ids[4]]: Script(audio[ids[4]], poll_errors=[500, 503], malformed_polls=1),
        prompts[ids[5]]: Script(audio[ids[5]], post_errors=[500] * 10),
    }
    caplog.set_level(logging.DEBUG)
    credentials = mubert.Credentials("v3", ENV)
    out = tmp_path / "mubert"
    system = mubert.generate(clips, out, settings, credentials, progress=False)

    for i in ids[:3] + ids[4:5]:
        written, rate = sf.read(out / f"{i}.wav")
        reference, _ = sf.read(io.BytesIO(audio[i]))
        assert np.array_equal(written, reference)
    failures = {r.split(",")[0]: r for r in (out / "failures.csv").read_text().splitlines()[1:]}
    assert set(failures) == {ids[3], ids[5]}
    assert "unavailable" in failures[ids[3]] and "expired" in failures[ids[3]]
    assert "network" in failures[ids[5]] and "HTTP 500" in failures[ids[5]]
    assert system["clips"]["failed_by_category"] == {"network": 1, "unavailable": 1}
    assert system["prompts"] == prompts and system["api_version"] == "v3"

    posts = [r for r in server.log if r["method"] == "POST"]
    for r in posts:
        assert r["headers"]["customer-id"] == CUSTOMER and r["headers"]["access-token"] == TOKEN
        body = json.loads(r["body"])
        assert set(body) == {"prompt", "duration", "bitrate", "format", "intensity", "mode"}
        assert len(body["prompt"]) <= 200 and body["format"] == "wav" and body["duration"] == 10
    # one successful creation per clip that got a track; the 429 and 500s were retried
    created = [json.loads(r["body"])["prompt"] for r in posts]
    assert created.count(prompts[ids[1]]) == 2 and created.count(prompts[ids[5]]) == 4
    assert len(server.tracks) == 5

    # a rerun retries the failures without creating the expired clip's track again
    server.scripts[prompts[ids[3]]].expired = False
    server.scripts[prompts[ids[5]]].post_errors = []
    before = len([r for r in server.log if r["method"] == "POST"])
    system = mubert.generate(clips, out, settings, credentials, progress=False)
    after = [r for r in server.log if r["method"] == "POST"][before:]
    assert [json.loads(r["body"])["prompt"] for r in after] == [prompts[ids[5]]]
    assert system["clips"]["written"] == 6 and system["clips"]["failed"] == 0

    # the credentials are nowhere: files, system.json, logs
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert TOKEN.encode() not in data and CUSTOMER.encode() not in data, path
    assert TOKEN not in caplog.text and CUSTOMER not in caplog.text
    assert TOKEN not in repr(credentials)


class _KilledOnPoll(requests.Session):
    """A session whose run dies (as if killed) when it first polls the given track."""

    def __init__(self, track: str):
        super().__init__()
        self.track = track

    def request(self, method, url, *args, **kwargs):
        if method == "GET" and url.endswith(f"/tracks/{self.track}"):
            raise KeyboardInterrupt
        return super().request(method, url, *args, **kwargs)


def test_a_killed_run_resumes_and_pays_for_no_track_twice(server, clips, tmp_path):
    settings = _settings(server)
    credentials = mubert.Credentials("v3", ENV)
    server.default = Script(_wav(clips[0].ytid))
    out = tmp_path / "mubert"
    with pytest.raises(KeyboardInterrupt):
        mubert.generate(clips[:4], out, settings, credentials, _KilledOnPoll("track-3"), False)
    assert sorted(p.name for p in out.glob("*.wav")) == sorted(f"{c.ytid}.wav" for c in clips[:2])
    system = mubert.generate(clips[:4], out, settings, credentials, progress=False)
    assert system["clips"]["written"] == 4
    assert len([r for r in server.log if r["method"] == "POST"]) == 4  # one per clip
    assert sorted(server.tracks) == ["track-1", "track-2", "track-3", "track-4"]


def test_wrong_credentials_and_missing_ones_are_clear(server, clips, tmp_path):
    with pytest.raises(ValueError, match="MUBERT_ACCESS_TOKEN"):
        mubert.Credentials("v3", {"MUBERT_CUSTOMER_ID": "x"})
    wrong = mubert.Credentials("v3", {**ENV, "MUBERT_ACCESS_TOKEN": "wrong-token-123"})
    server.default = Script(b"")
    system = mubert.generate(clips[:1], tmp_path / "m", _settings(server), wrong, progress=False)
    failures = (tmp_path / "m" / "failures.csv").read_text()
    assert "sign_in_or_age" in failures and "HTTP 401" in failures
    assert "wrong-token-123" not in failures and system["clips"]["failed"] == 1


def test_a_download_that_is_not_audio_is_bad_media(server, clips, tmp_path):
    server.default = Script(b"<html>oops</html>")
    credentials = mubert.Credentials("v3", ENV)
    mubert.generate(clips[:1], tmp_path / "m", _settings(server), credentials, progress=False)
    assert "bad_media" in (tmp_path / "m" / "failures.csv").read_text()
    assert not list((tmp_path / "m").glob("*.wav"))


def test_requests_are_paced(server):
    sleeps = []
    settings = _settings(server, sleeps=sleeps)
    settings.requests_per_minute = 60
    client = mubert.Client(settings, mubert.Credentials("v3", ENV))
    for _ in range(3):
        client.request("GET", f"{server.url}/nothing")
    assert len(sleeps) == 2 and all(0.9 < s <= 1.0 for s in sleeps)


def test_v2_protocol_tags_from_minilm(server, clips, tmp_path):
    tags = tmp_path / "tags.txt"
    tags.write_text("\n".join(["orchestral", "epic", "electronic", "techno", "piano", "jazz"]))
    server.default = Script(_wav(clips[0].ytid), download_errors=[404, 404])
    settings = mubert.MubertSettings(
        api="v2",
        api_url=f"{server.url}/v2",
        tags_file=str(tags),
        poll_s=0.0,
        requests_per_minute=1e6,
        retry=Retry(attempts=3, base_s=0.01, sleep=lambda s: None),
    )
    credentials = mubert.Credentials("v2", ENV)
    system = mubert.generate(clips[:2], tmp_path / "v2", settings, credentials, progress=False)
    assert system["clips"]["written"] == 2 and system["api_version"] == "v2"
    for clip in clips[:2]:
        chosen = system["tags"][clip.ytid]
        assert len(chosen) == 3 and set(chosen) <= set(tags.read_text().split())
    body = json.loads(next(r for r in server.log if r["method"] == "POST")["body"])
    assert body["method"] == "RecordTrackTTM" and body["params"]["pat"] == PAT
    assert body["params"]["tags"] == system["tags"][clips[0].ytid]
    assert PAT not in (tmp_path / "v2" / "system.json").read_text()


def test_bench_carries_the_adapters_recipes_into_the_leaderboard(server, clips, tmp_path):
    from musiccaps_kit.bench.run import BenchSettings, bench_to_folder

    server.default = Script(b"")
    for clip in clips:
        server.scripts[mubert.shorten(clip.caption)] = Script(_wav(clip.ytid))
    credentials = mubert.Credentials("v3", ENV)
    folder = tmp_path / "mubert"
    made = mubert.generate(clips, folder, _settings(server), credentials, progress=False)
    reference = tmp_path / "reference"
    reference.mkdir()
    for clip in clips:
        (reference / f"{clip.ytid}.flac").symlink_to(DEMO_AUDIO_DIR / f"{clip.ytid}.flac")
    settings = BenchSettings(metrics=("fad_musicnn",), bootstrap_rounds=10)
    result, _ = bench_to_folder(reference, {"mubert": folder}, settings, tmp_path / "b")
    board = json.loads((tmp_path / "b" / "leaderboard.json").read_text())
    (row,) = board["rows"]
    assert row["made_by"] == made and row["made_by"]["adapter"] == "mubert"
    # the served audio is the reference's own: FAD about 0
    assert row["n_common"] == len(clips) and row["metrics"]["fad_musicnn"]["value"] < 1e-3


def test_a_failed_generation_is_asked_for_again_next_run(server, clips, tmp_path):
    server.default = Script(_wav(clips[0].ytid), failed_generations=1)
    credentials = mubert.Credentials("v3", ENV)
    out = tmp_path / "m"
    first = mubert.generate(clips[:1], out, _settings(server), credentials, progress=False)
    assert first["clips"]["failed_by_category"] == {"internal": 1}
    assert "generation failed" in (out / "failures.csv").read_text()
    second = mubert.generate(clips[:1], out, _settings(server), credentials, progress=False)
    assert second["clips"]["written"] == 1 and second["clips"]["failed"] == 0
    assert len(server.tracks) == 2  # a new track only because the first one failed
    (out / ".state" / f"{clips[0].ytid}.json").write_text("{not json")
    (out / f"{clips[0].ytid}.wav").unlink()
    with pytest.raises(ValueError, match=r"\.state/.*\.json: unreadable state"):
        mubert.generate(clips[:1], out, _settings(server), credentials, progress=False)
