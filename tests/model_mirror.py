"""A loopback HTTP mirror of released model files, as a web server or CDN answers: Range
requests (206), and on demand a 5xx, a 404, an HTML error page, a connection cut after
some bytes, or a slow transfer; every request is logged with its Range header."""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def do_GET(self):  # noqa: N802 - the base class's name
        mirror: ModelMirror = self.server.mirror
        name = self.path.lstrip("/")
        mirror.log.append((name, self.headers.get("Range")))
        plan = mirror.plans.get(name, [])
        action = plan.pop(0) if plan else None
        if isinstance(action, int):
            self.send_error(action)
            return
        if action == "html":
            body = b"<!DOCTYPE html><html><body>Sign in to continue</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        path = mirror.folder / name
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        wanted = self.headers.get("Range")
        if wanted and wanted.startswith("bytes="):
            start = int(wanted[6:].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if isinstance(action, tuple) and action[0] == "cut":  # announce all, send a part
            body = body[: action[1]]
        try:
            step = max(1, len(body) // 20)
            for i in range(0, len(body), step):
                self.wfile.write(body[i : i + step])
                self.wfile.flush()
                time.sleep(mirror.delay_s / 20)
        except (BrokenPipeError, ConnectionResetError):
            return
        if isinstance(action, tuple):
            self.close_connection = True


class ModelMirror:
    """Serves ``folder`` on 127.0.0.1. ``plan(name, *actions)`` queues what the next
    requests for ``name`` get: an HTTP status, ``"html"``, or ``("cut", n_bytes)``."""

    def __init__(self, folder: Path, delay_s: float = 0.0):
        self.folder, self.delay_s = Path(folder), delay_s
        self.log: list[tuple[str, str | None]] = []
        self.plans: dict[str, list] = {}
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.mirror = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def plan(self, name: str, *actions) -> None:
        self.plans.setdefault(name, []).extend(actions)

    def requests_for(self, name: str) -> list[str | None]:
        return [r for n, r in self.log if n == name]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
