"""Mubert as a bench system, through its HTTP API.

**v3** (the current API, as MubertAI/skills ``mubert-generate/references/api_reference.md``
documents it): ``POST {api}/public/tracks`` with JSON ``prompt`` (at most 200 characters),
``duration``, ``bitrate``, ``format``, ``intensity``, ``mode``, headers ``customer-id`` and
``access-token``; the answer is a track model (``id``, ``generations[]`` with ``status``,
``url``, ``expired_at``); ``GET {api}/public/tracks/{id}`` until a generation is
``completed``, then its ``url`` is downloaded before ``expired_at``. Credentials come from
``MUBERT_CUSTOMER_ID`` / ``MUBERT_ACCESS_TOKEN`` only, and never reach a log, a message or a
file.

**v2** (the MusicLM paper's 2022 protocol, from MubertAI's public Mubert-Text-to-Music
notebook): all-MiniLM-L6-v2 embeds the caption and every Mubert tag, the 3 nearest tags by
cosine go to ``POST {api}/RecordTrackTTM`` as ``{"method": "RecordTrackTTM", "params":
{"pat", "duration", "tags", "mode"}}``; the answer's ``data.tasks[0].download_link`` is
polled until it serves the file. The personal access token comes from ``MUBERT_PAT``; the
tag list is the user's file (one tag per line), as the notebook ships its own.

Prompts are at most 200 characters and about 82 % of MusicCaps captions are longer, so a
prompt strategy makes them: ``sentences`` (whole sentences while they fit; a first
sentence longer than 200 is cut at a word), ``aspects`` (the aspect list, whole aspects
while they fit) or ``file`` (a CSV ``id,prompt`` of the user's). The prompt sent for each
id is in ``system.json``.

A track id is saved the moment the API returns it, so a rerun (or the rest of a killed
run) polls that track instead of paying for a new one. 429, 5xx, malformed answers and
network errors are retried with backoff (``Retry-After`` honoured); what still fails is
recorded by category in ``failures.csv``.
"""

from __future__ import annotations

import csv
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from tqdm import tqdm

from musiccaps_kit.baselines.system_folder import BaselineError, Retry, SystemFolder
from musiccaps_kit.data.catalog import Clip
from musiccaps_kit.data.sources.failures import Category

DEFAULT_API = {"v3": "https://music-api.mubert.com/api/v3", "v2": "https://api-b2b.mubert.com/v2"}
PROMPT_LIMIT = 200
PROMPT_STRATEGIES = ("sentences", "aspects", "file")
INTENSITIES = ("low", "medium", "high")
MODES = ("track", "loop")
FORMATS = ("wav", "mp3")
TAGS_PER_PROMPT = 3  # the notebook's top_n


@dataclass
class MubertSettings:
    api: str = "v3"
    api_url: str | None = None
    prompt_strategy: str = "sentences"
    prompts_file: str | None = None
    tags_file: str | None = None
    duration: int = 10
    intensity: str = "high"
    mode: str = "track"
    format: str = "wav"
    bitrate: int = 128
    requests_per_minute: float = 30.0
    poll_s: float = 2.0
    timeout_s: float = 600.0
    retry: Retry = field(default_factory=Retry)

    def __post_init__(self):
        for value, allowed, name in (
            (self.api, ("v2", "v3"), "api"),
            (self.prompt_strategy, PROMPT_STRATEGIES, "prompt strategy"),
            (self.intensity, INTENSITIES, "intensity"),
            (self.mode, MODES, "mode"),
            (self.format, FORMATS, "format"),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        if self.prompt_strategy == "file" and not self.prompts_file:
            raise ValueError("the file prompt strategy needs a prompts CSV (id,prompt)")
        if self.api == "v2" and not self.tags_file:
            raise ValueError("the v2 protocol needs a tags file (one Mubert tag per line)")
        self.api_url = (self.api_url or DEFAULT_API[self.api]).rstrip("/")

    def recipe(self) -> dict[str, Any]:
        out = asdict(self)
        out["retry"] = {"attempts": self.retry.attempts, "base_s": self.retry.base_s}
        return out


def shorten(text: str, limit: int = PROMPT_LIMIT) -> str:
    """Whole sentences of ``text`` while they fit in ``limit`` characters; a first sentence
    longer than that is cut at the last word boundary."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]
    out = ""
    for sentence in sentences:
        joined = f"{out} {sentence}".strip()
        if len(joined) > limit:
            break
        out = joined
    if not out:
        cut = text.strip()[: limit + 1]
        out = cut[: cut.rfind(" ")] if " " in cut else cut[:limit]
    return out.strip()


def aspects_prompt(aspects: Sequence[str], limit: int = PROMPT_LIMIT) -> str:
    out = ""
    for aspect in aspects:
        joined = f"{out}, {aspect}" if out else aspect
        if len(joined) > limit:
            break
        out = joined
    return out


def make_prompts(clips: Sequence[Clip], settings: MubertSettings) -> dict[str, str]:
    """The prompt for every clip under the settings' strategy; a missing or too-long
    prompt from a file is an error naming the id."""
    if settings.prompt_strategy == "sentences":
        return {c.ytid: shorten(c.caption) for c in clips}
    if settings.prompt_strategy == "aspects":
        return {c.ytid: aspects_prompt(c.aspects) or shorten(c.caption) for c in clips}
    with open(settings.prompts_file, newline="", encoding="utf-8-sig") as f:
        given = {row["id"]: row["prompt"] for row in csv.DictReader(f)}
    missing = [c.ytid for c in clips if c.ytid not in given]
    if missing:
        raise ValueError(f"{settings.prompts_file}: no prompt for {', '.join(missing[:10])}")
    long = [c.ytid for c in clips if len(given[c.ytid]) > PROMPT_LIMIT]
    if long:
        raise ValueError(f"{settings.prompts_file}: prompts over 200 characters: {long[:10]}")
    return {c.ytid: given[c.ytid] for c in clips}


def nearest_tags(prompts: dict[str, str], tags_file: str) -> dict[str, list[str]]:
    """The paper's v2 protocol: the 3 Mubert tags nearest each prompt (MiniLM, cosine)."""
    import numpy as np

    from musiccaps_kit.bench.joint import text_encoder

    tags = [t.strip() for t in Path(tags_file).read_text().splitlines() if t.strip()]
    if not tags:
        raise ValueError(f"{tags_file}: no tags")
    ids = list(prompts)
    tag_vectors = text_encoder.encode(tags)
    prompt_vectors = text_encoder.encode([prompts[i] for i in ids])

    def unit(v):
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    similarity = unit(prompt_vectors) @ unit(tag_vectors).T
    order = np.argsort(-similarity, axis=1, kind="stable")[:, :TAGS_PER_PROMPT]
    return {i: [tags[j] for j in row] for i, row in zip(ids, order, strict=True)}


class Credentials:
    """API credentials from the environment; ``redact`` keeps them out of every message."""

    def __init__(self, api: str, environ: dict[str, str] | None = None):
        env = os.environ if environ is None else environ
        names = ("MUBERT_CUSTOMER_ID", "MUBERT_ACCESS_TOKEN") if api == "v3" else ("MUBERT_PAT",)
        missing = [n for n in names if not env.get(n)]
        if missing:
            raise ValueError(f"set {' and '.join(missing)} in the environment (Mubert {api})")
        self._values = {n: env[n] for n in names}

    def headers(self) -> dict[str, str]:
        return {
            "customer-id": self._values["MUBERT_CUSTOMER_ID"],
            "access-token": self._values["MUBERT_ACCESS_TOKEN"],
        }

    @property
    def pat(self) -> str:
        return self._values["MUBERT_PAT"]

    def redact(self, text: str) -> str:
        for value in self._values.values():
            text = text.replace(value, "***")
        return text

    def __repr__(self) -> str:
        return "Credentials(***)"


class Client:
    """HTTP calls with rate limiting, classification of errors and bounded retries."""

    def __init__(self, settings: MubertSettings, credentials: Credentials, session=None):
        self.settings, self.credentials = settings, credentials
        self.session = session or requests.Session()
        self._last = 0.0

    def _pace(self) -> None:
        gap = 60.0 / self.settings.requests_per_minute
        wait = self._last + gap - time.monotonic()
        if wait > 0:
            self.settings.retry.sleep(wait)
        self._last = time.monotonic()

    def _once(self, method: str, url: str, api: bool, **kwargs) -> requests.Response:
        if api:
            self._pace()
        try:
            response = self.session.request(method, url, timeout=60, **kwargs)
        except requests.RequestException as e:
            raise BaselineError(
                Category.NETWORK, self.credentials.redact(f"{method} {url}: {e}"), True
            ) from None
        if response.status_code == 429 or response.status_code >= 500:
            error = BaselineError(
                Category.BOT_CHECK if response.status_code == 429 else Category.NETWORK,
                f"{method} {url}: HTTP {response.status_code}",
                transient=True,
            )
            retry_after = response.headers.get("Retry-After", "")
            error.retry_after = float(retry_after) if retry_after.isdigit() else None
            raise error
        return response

    def request(self, method: str, url: str, api: bool = True, **kwargs) -> requests.Response:
        return self.settings.retry.run(lambda: self._once(method, url, api, **kwargs))

    def json(self, method: str, url: str, **kwargs) -> dict[str, Any]:
        """An API call whose answer must be a JSON object (a malformed one is retried)."""

        def call():
            response = self._once(method, url, True, **kwargs)
            if response.status_code in (401, 403):
                raise BaselineError(
                    Category.SIGN_IN, f"{method} {url}: HTTP {response.status_code}"
                )
            if response.status_code >= 400:
                body = self.credentials.redact(response.text[:300])
                raise BaselineError(
                    Category.UNAVAILABLE, f"{method} {url}: HTTP {response.status_code}: {body}"
                )
            try:
                data = response.json()
            except ValueError:
                raise BaselineError(
                    Category.INTERNAL, f"{method} {url}: the answer is not JSON", True
                ) from None
            if not isinstance(data, dict):
                raise BaselineError(Category.INTERNAL, f"{method} {url}: not a JSON object", True)
            return data

        return self.settings.retry.run(call)


def _expired(generation: dict[str, Any], now: Callable[[], datetime]) -> bool:
    stamp = generation.get("expired_at")
    if not stamp:
        return False
    try:
        when = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return False
    return when <= now()


class V3:
    """Mubert API v3: create a track, poll it, download its completed generation."""

    def __init__(self, client: Client, now: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.client, self.settings, self.now = client, client.settings, now

    def create(self, prompt: str) -> str:
        s = self.settings
        body = {
            "prompt": prompt,
            "duration": s.duration,
            "bitrate": s.bitrate,
            "format": s.format,
            "intensity": s.intensity,
            "mode": s.mode,
        }
        track = self.client.json(
            "POST",
            f"{s.api_url}/public/tracks",
            json=body,
            headers=self.client.credentials.headers(),
        )
        if not track.get("id"):
            raise BaselineError(Category.INTERNAL, "the track model has no id")
        return str(track["id"])

    def fetch(self, track_id: str) -> bytes:
        s = self.settings
        deadline = time.monotonic() + s.timeout_s
        refreshed = False
        while True:
            track = self.client.json(
                "GET",
                f"{s.api_url}/public/tracks/{track_id}",
                headers=self.client.credentials.headers(),
            )
            generations = track.get("generations") or []
            failed = [g for g in generations if g.get("status") in ("failed", "error")]
            done = [g for g in generations if g.get("status") == "completed" and g.get("url")]
            if done:
                generation = done[-1]
                if _expired(generation, self.now):
                    if refreshed:
                        raise BaselineError(
                            Category.UNAVAILABLE,
                            f"track {track_id}: the link expired at {generation['expired_at']}",
                        )
                    refreshed = True
                    continue
                response = self.client.request("GET", generation["url"], api=False)
                if response.status_code != 200:
                    raise BaselineError(
                        Category.UNAVAILABLE,
                        f"track {track_id}: download answered HTTP {response.status_code}",
                    )
                return response.content
            if failed and not done:
                error = BaselineError(Category.INTERNAL, f"track {track_id}: generation failed")
                error.request_failed = True  # the next run asks for a new track
                raise error
            if time.monotonic() > deadline:
                raise BaselineError(
                    Category.NETWORK, f"track {track_id}: not ready after {s.timeout_s:g} s"
                )
            s.retry.sleep(s.poll_s)


class V2:
    """The 2022 TTM API: RecordTrackTTM with tags, then poll the download link."""

    def __init__(self, client: Client):
        self.client, self.settings = client, client.settings

    def create(self, tags: list[str]) -> str:
        s = self.settings
        body = {
            "method": "RecordTrackTTM",
            "params": {
                "pat": self.client.credentials.pat,
                "duration": s.duration,
                "tags": tags,
                "mode": s.mode,
            },
        }
        data = self.client.json("POST", f"{s.api_url}/RecordTrackTTM", json=body)
        if data.get("status") != 1:
            error = (data.get("error") or {}).get("text", "status is not 1")
            raise BaselineError(Category.UNAVAILABLE, self.client.credentials.redact(str(error)))
        try:
            return str(data["data"]["tasks"][0]["download_link"])
        except (KeyError, IndexError, TypeError):
            raise BaselineError(Category.INTERNAL, "RecordTrackTTM: no download link") from None

    def fetch(self, link: str) -> bytes:
        s = self.settings
        deadline = time.monotonic() + s.timeout_s
        while True:
            response = self.client.request("GET", link, api=False)
            if response.status_code == 200:
                return response.content
            if time.monotonic() > deadline:
                raise BaselineError(Category.NETWORK, f"not ready after {s.timeout_s:g} s")
            s.retry.sleep(s.poll_s)


def generate(
    clips: Sequence[Clip],
    out: str | Path,
    settings: MubertSettings,
    credentials: Credentials | None = None,
    session=None,
    progress: bool = True,
) -> dict[str, Any]:
    """``mck baseline mubert``: one file per clip into a system folder; returns
    ``system.json``'s content."""
    credentials = credentials or Credentials(settings.api)
    prompts = make_prompts(clips, settings)
    tags = nearest_tags(prompts, settings.tags_file) if settings.api == "v2" else {}
    client = Client(settings, credentials, session)
    api = V3(client) if settings.api == "v3" else V2(client)
    folder = SystemFolder(out, settings.format)
    todo = [c for c in clips if not folder.done(c.ytid)]
    for clip in tqdm(todo, desc=f"mubert {settings.api}", unit="clip", disable=not progress):
        state = folder.state(clip.ytid)
        try:
            if "request" not in state:
                request = api.create(tags[clip.ytid] if tags else prompts[clip.ytid])
                state = {"request": request, "created": time.time()}
                folder.save_state(clip.ytid, state)
            folder.write_bytes(clip.ytid, api.fetch(state["request"]))
        except BaselineError as e:
            folder.fail(clip.ytid, e)
            if getattr(e, "request_failed", False):
                folder.forget_state(clip.ytid)
    info = {
        "adapter": "mubert",
        "api_version": settings.api,
        "settings": settings.recipe(),
        "prompts": prompts,
        **({"tags": tags} if tags else {}),
    }
    return folder.finish(info, [c.ytid for c in clips])
