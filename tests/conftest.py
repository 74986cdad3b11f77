"""Shared fixtures: real clips (the bundled demo set, ../shared/realmusic) and a loopback
HTTP server that yt-dlp downloads from."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import tempfile
import threading
from functools import partial
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The suite is offline: no bench fetches a release, and none finds one a developer fetched
# (tests that fetch set a mirror and a folder of their own).
os.environ["MCK_OFFLINE"] = "1"
os.environ["MCK_MODELS"] = tempfile.mkdtemp(prefix="mck-models-")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MCK_SHARED", REPO.parent / "shared"))
REALMUSIC = SHARED / "realmusic"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def demo_catalog():
    from musiccaps_kit.data import catalog

    return catalog.load("demo")


def prepare_demo(catalog, out: Path, shards: int) -> dict:
    """Run the real prepare pipeline on the demo set into ``out``; return dataset_info."""
    from musiccaps_kit.data.preparation import PrepareConfig
    from musiccaps_kit.pipelines.prepare import run
    from musiccaps_kit.resources import DEMO_AUDIO_DIR

    config = PrepareConfig(
        name="demo",
        out_dir=str(out),
        cache_dir=str(out / "cache"),
        source_options={"audio_dir": str(DEMO_AUDIO_DIR)},
        shards=shards,
    )
    return run(catalog, config, progress=False)


@pytest.fixture(scope="session")
def demo_records(tmp_path_factory, demo_catalog) -> Path:
    """The demo set prepared once (one shard per split), read by the model tests."""
    out = tmp_path_factory.mktemp("demo-records") / "records"
    prepare_demo(demo_catalog, out, shards=1)
    return out


@pytest.fixture(scope="session")
def realmusic() -> Path:
    if not (REALMUSIC / "manifest.csv").is_file():
        pytest.skip(f"{REALMUSIC} is not present")
    return REALMUSIC


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def do_GET(self):  # noqa: N802 - the base class's name
        self.server.requests.append(self.path)
        failures = self.server.fail_next.get(self.path)
        if failures:
            self.send_error(failures.pop())
            return
        super().do_GET()

    def copyfile(self, source, outputfile):
        try:
            super().copyfile(source, outputfile)
        except (BrokenPipeError, ConnectionResetError):
            pass  # yt-dlp closes the connection once ffmpeg has the section it asked for


class LoopbackServer:
    """Serves a folder on 127.0.0.1 and records every request path."""

    def __init__(self, folder: Path):
        self.folder = folder
        handler = functools.partial(_Handler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.requests = []
        self.httpd.fail_next = {}
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def url_template(self) -> str:
        return f"{self.url}/{{ytid}}.wav"

    @property
    def requests(self) -> list[str]:
        return self.httpd.requests

    def fail_next(self, path: str, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests for ``path`` with ``status``, not the file."""
        self.httpd.fail_next[path] = [status] * times

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve(tmp_path):
    servers = []

    def start(folder: Path) -> LoopbackServer:
        servers.append(LoopbackServer(folder))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture(scope="session")
def tiny_cascade(tmp_path_factory, demo_catalog, demo_records):
    """The demo set prepared, the tiny representation and melody models trained a few
    steps, the demo set tokenized with them, and tiny stages trained on those tokens."""
    from musiccaps_kit.data.preparation import PrepareConfig
    from musiccaps_kit.models.training.loop import train
    from musiccaps_kit.pipelines.prepare import run
    from musiccaps_kit.resources import DEMO_AUDIO_DIR

    root = tmp_path_factory.mktemp("cascade")
    (root / "records").symlink_to(demo_records, target_is_directory=True)
    paths = {}
    for kind, steps in (("codec", 3), ("semantic", 4), ("mulan", 3), ("melody", 5)):
        train(kind, root / "records", "tiny", root / kind, steps=steps, progress=False)
        paths[kind] = root / kind / "model.pt"
    config = PrepareConfig(
        name="demo",
        out_dir=str(root / "tokens"),
        cache_dir=str(root / "records" / "cache"),
        source_options={"audio_dir": str(DEMO_AUDIO_DIR)},
        tokenizer="cascade",
        tokenizer_options={k: str(v) for k, v in paths.items()},
        shards=1,
    )
    run(demo_catalog, config, progress=False)
    train("stages", root / "tokens", "tiny", root / "stages", steps=60, progress=False)
    paths["stages"] = root / "stages" / "model.pt"
    return root, paths


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium through Selenium (audio may play without a gesture)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--autoplay-policy=no-user-gesture-required",
        "--mute-audio",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server (Debian's ``postgresql`` package; the test command
    installs it) started with ``pg_ctl`` in a temporary folder on a free loopback port, as
    the ``postgres`` user when the tests run as root. Yields a URL maker: one fresh
    database per call."""
    import socket
    import subprocess
    import tempfile
    import uuid

    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not bins:
        pytest.fail("PostgreSQL is not installed: the README's test command installs it (apt)")
    bindir = bins[-1].parent
    root = Path(tempfile.mkdtemp(prefix="mck-pg-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    pg_ctl = [*as_user, str(bindir / "pg_ctl"), "-D", str(data)]
    run = partial(subprocess.run, check=True, capture_output=True, text=True)
    run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = "-c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
    run([*pg_ctl, "-o", f"-p {port} -k {root} {settings}", "-l", str(root / "log"), "-w", "start"])
    base = f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    admin = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"

    def fresh_database() -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return f"{base}/{name}"

    try:
        yield fresh_database
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
