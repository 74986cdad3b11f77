"""A loopback server with Mubert's API shapes (v3 public tracks, v2 RecordTrackTTM), for
the adapter's tests. Each track's behaviour is scripted by the test; every request is
logged (method, path, headers, body)."""

from __future__ import annotations

import copy
import http.server
import json
import threading
from dataclasses import dataclass, field
from typing import Any

CUSTOMER, TOKEN, PAT = "cust-7f3a", "tok-s3cr3t-91b2", "pat-0ddba11"


@dataclass
class Script:
    """How one track behaves: polls before it completes, failures to inject, its audio."""

    audio: bytes
    pending_polls: int = 0
    post_errors: list[int] = field(default_factory=list)  # HTTP statuses before success
    poll_errors: list[int] = field(default_factory=list)
    malformed_polls: int = 0
    expired: bool = False
    download_errors: list[int] = field(default_factory=list)
    failed_generations: int = 0  # tracks whose generation fails on the server


class MubertServer:
    def __init__(self, default: Script | None = None):
        # by prompt (v3) or first tag (v2); ``default`` for keys without a script
        self.scripts: dict[str, Script] = {}
        self.default = default
        self.tracks: dict[str, dict[str, Any]] = {}
        self.log: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes, kind: str = "application/json"):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _record(self, body: bytes):
                with server.lock:
                    server.log.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body.decode("utf-8", "replace"),
                        }
                    )

            def do_POST(self):  # noqa: N802 - the base class's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._record(body)
                server.handle_post(self, json.loads(body))

            def do_GET(self):  # noqa: N802
                self._record(b"")
                server.handle_get(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _authorised(self, handler) -> bool:
        return (
            handler.headers.get("customer-id") == CUSTOMER
            and handler.headers.get("access-token") == TOKEN
        )

    def handle_post(self, handler, body: dict[str, Any]) -> None:
        if handler.path == "/v2/RecordTrackTTM":
            return self._v2_record(handler, body)
        if handler.path != "/api/v3/public/tracks":
            return handler._send(404, b'{"error": "not found"}')
        if not self._authorised(handler):
            return handler._send(401, b'{"error": "unauthorized"}')
        prompt = body.get("prompt", "")
        if not prompt or len(prompt) > 200 or not isinstance(body.get("duration"), int):
            return handler._send(422, b'{"error": "invalid body"}')
        script = self.script(prompt)
        if script.post_errors:
            status = script.post_errors.pop(0)
            handler.send_response(status)
            if status == 429:
                handler.send_header("Retry-After", "0")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return None
        with self.lock:
            track_id = f"track-{len(self.tracks) + 1}"
            self.tracks[track_id] = {"prompt": prompt, "polls": 0, "body": body}
        return handler._send(200, json.dumps(self._track(track_id)).encode())

    def script(self, key: str) -> Script:
        if key not in self.scripts:
            self.scripts[key] = copy.deepcopy(self.default)
        return self.scripts[key]

    def _track(self, track_id: str) -> dict[str, Any]:
        track = self.tracks[track_id]
        script = self.script(track["prompt"])
        ready = track["polls"] > script.pending_polls
        failed = track.setdefault("failed", script.failed_generations > 0)
        if failed and "counted" not in track:
            script.failed_generations -= 1
            track["counted"] = True
        generation = {
            "session_id": "g",
            "format": track["body"]["format"],
            "bitrate": track["body"]["bitrate"],
            "status": "failed" if failed else "completed" if ready else "processing",
            "generated_at": "2026-01-01T00:00:00Z",
            "expired_at": "2020-01-01T00:00:00Z" if script.expired else "2099-01-01T00:00:00Z",
            "created_at": "2026-01-01T00:00:00Z",
            "url": f"{self.url}/files/{track_id}" if ready else None,
        }
        return {"id": track_id, "prompt": track["prompt"], "generations": [generation]}

    def handle_get(self, handler) -> None:
        path = handler.path
        if path.startswith("/api/v3/public/tracks/"):
            if not self._authorised(handler):
                return handler._send(401, b'{"error": "unauthorized"}')
            track_id = path.rsplit("/", 1)[-1]
            if track_id not in self.tracks:
                return handler._send(404, b'{"error": "no track"}')
            script = self.script(self.tracks[track_id]["prompt"])
            if script.poll_errors:
                return handler._send(script.poll_errors.pop(0), b"")
            if script.malformed_polls:
                script.malformed_polls -= 1
                return handler._send(200, b'{"id": "track-1", "generations": [')
            self.tracks[track_id]["polls"] += 1
            return handler._send(200, json.dumps(self._track(track_id)).encode())
        if path.startswith("/files/"):
            key = path.rsplit("/", 1)[-1]
            script = self.script(self.tracks[key]["prompt"])
            if script.download_errors:
                return handler._send(script.download_errors.pop(0), b"")
            return handler._send(200, script.audio, "audio/wav")
        return handler._send(404, b"")

    def _v2_record(self, handler, body: dict[str, Any]) -> None:
        params = body.get("params", {})
        if body.get("method") != "RecordTrackTTM" or params.get("pat") != PAT:
            return handler._send(200, b'{"status": 2, "error": {"text": "bad pat"}}')
        key = params["tags"][0]
        with self.lock:
            track_id = f"v2-{len(self.tracks) + 1}"
            self.tracks[track_id] = {"prompt": key, "polls": 0, "body": params}
        link = f"{self.url}/files/{track_id}"
        answer = {"status": 1, "data": {"tasks": [{"task_id": track_id, "download_link": link}]}}
        return handler._send(200, json.dumps(answer).encode())
