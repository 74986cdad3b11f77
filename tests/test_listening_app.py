"""The rating app served on loopback: a rater in headless Chromium, tokens, hostile input,
many raters at once, the export; and the balanced assignment."""

import re
import shutil
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import yaml
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from musiccaps_kit.bench.degrade import degrade_folder
from musiccaps_kit.cli import main
from musiccaps_kit.listening.app import create_app, links, make_server
from musiccaps_kit.listening.assignment import assign
from musiccaps_kit.listening.db import RatingRow, TaskRow, export_rows, make_engine
from musiccaps_kit.listening.ratings import read_csv
from musiccaps_kit.listening.study import StudyError, load_study
from musiccaps_kit.resources import DEMO_AUDIO_DIR
from tests.conftest import LoopbackServer

IDS = sorted(p.stem for p in DEMO_AUDIO_DIR.glob("*.flac"))[:6]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    reference = root / "MusicCaps"
    reference.mkdir()
    for clip_id in IDS:
        shutil.copy(DEMO_AUDIO_DIR / f"{clip_id}.flac", reference)
    return {
        "MusicCaps": reference,
        "noisy": degrade_folder(reference, root / "noisy", "noise", 10),
        "muffled": degrade_folder(reference, root / "muffled", "lowpass", 1000),
    }


def _study_file(folder: Path, folders: dict, **settings) -> Path:
    definition = {
        "name": "demo-study",
        "sources": {k: str(v) for k, v in folders.items()},
        "captions": "demo",
        "raters": 3,
        "per_pair": 6,
        "seed": 0,
        **settings,
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(definition))
    return path


class Served:
    def __init__(self, study_path: Path, db_url: str):
        self.study = load_study(study_path)
        self.engine = make_engine(db_url)
        self.app = create_app(self.study, self.engine)
        self.server = make_server(self.app, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.admin, self.raters = links(self.engine, self.app.config["STUDY_ROW"], self.url)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def close(self):
        self.server.close()

    def ratings(self) -> list[RatingRow]:
        with Session(self.engine) as session:
            return list(session.scalars(select(RatingRow).order_by(RatingRow.id)))

    def tasks_of(self, link: str) -> list[TaskRow]:
        token = link.rsplit("/", 1)[1]
        from musiccaps_kit.listening.db import Rater

        with Session(self.engine) as session:
            rater = session.scalar(select(Rater).where(Rater.token == token))
            return list(
                session.scalars(
                    select(TaskRow).where(TaskRow.rater_id == rater.id).order_by(TaskRow.position)
                )
            )


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """A fresh ratings database URL: a SQLite file, or a database on a real PostgreSQL."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_server")()
    return f"sqlite:///{tmp_path / 'ratings.db'}"


@pytest.fixture
def served_on(folders, tmp_path, database):
    """The study served on each database."""
    s = Served(_study_file(tmp_path, folders), database)
    yield s
    s.close()


@pytest.fixture
def served(folders, tmp_path):
    s = Served(_study_file(tmp_path, folders), f"sqlite:///{tmp_path / 'ratings.db'}")
    yield s
    s.close()


def _progress_becomes(browser, text: str) -> None:
    """Wait for the next page (a submitted form navigates) to show ``text``."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(
        browser, 15, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
    ).until(lambda d: d.find_element(By.ID, "progress").text == text)


def _form(html: str) -> dict:
    return {
        "task_id": re.search(r'name="task_id" value="(\d+)"', html).group(1),
        "form_token": re.search(r'name="form_token" value="([0-9a-f]+)"', html).group(1),
    }


def test_assignment_is_balanced_and_never_repeats_a_comparison(folders, tmp_path):
    study = load_study(_study_file(tmp_path, folders, raters=8, per_pair=40))
    tasks = assign(study)
    pairs = Counter(frozenset((t.source_a, t.source_b)) for t in tasks)
    assert set(pairs.values()) == {40} and len(pairs) == 3
    per_source = Counter(s for t in tasks for s in (t.source_a, t.source_b))
    assert set(per_source.values()) == {80}
    loads = Counter(t.rater for t in tasks)
    assert max(loads.values()) - min(loads.values()) <= 1
    for rater in loads:
        mine = [t.comparison for t in tasks if t.rater == rater]
        assert len(mine) == len(set(mine)), "a rater never sees the same comparison twice"
    shown_first = Counter(t.source_a for t in tasks)
    assert all(0.35 < shown_first[s] / 80 < 0.65 for s in per_source), "A/B order randomised"
    ids = Counter(t.clip_id for t in tasks)
    assert max(ids.values()) - min(ids.values()) <= 3, "ids spread evenly"
    assert assign(study) == tasks, "seeded"
    by_share = _study_file(tmp_path, folders, per_pair=40, per_rater=25)
    definition = yaml.safe_load(by_share.read_text())
    del definition["raters"]
    by_share.write_text(yaml.safe_dump(definition))
    assert load_study(by_share).raters == 5, "120 comparisons, 25 each"
    too_many = load_study(_study_file(tmp_path, folders, raters=1, per_pair=7))
    with pytest.raises(ValueError, match="more raters or ids"):
        assign(too_many)


def test_a_study_that_cannot_run_is_refused(folders, tmp_path):
    broken = dict(folders)
    broken["empty"] = tmp_path / "empty"
    broken["empty"].mkdir()
    with pytest.raises(StudyError, match="'empty' has no clip for 6 ids"):
        load_study(_study_file(tmp_path, broken, ids=IDS))
    with pytest.raises(StudyError, match="have no caption"):
        load_study(_study_file(tmp_path, folders, captions="musiccaps"))
    with pytest.raises(StudyError, match="characters outside"):
        load_study(_study_file(tmp_path, {"<b>": folders["noisy"], "x": folders["muffled"]}))


def test_a_rater_rates_in_a_real_browser(served, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    link = served.raters[0]
    tasks = served.tasks_of(link)
    browser.get(link)
    assert browser.find_element(By.ID, "progress").text == "Comparison 1 of 6"
    caption = browser.find_element(By.ID, "caption").text
    assert caption == served.study.captions[tasks[0].clip_id]
    for player in ("audio-a", "audio-b"):
        browser.execute_script(f"document.getElementById('{player}').play()")
    deadline = time.time() + 20
    while time.time() < deadline:
        played = browser.execute_script(
            "return ['audio-a', 'audio-b'].map(i => document.getElementById(i))"
            ".map(a => [a.currentTime, a.duration])"
        )
        if all(t > 0 for t, _ in played):
            break
        time.sleep(0.2)
    assert all(t > 0 and 9.5 < d < 10.5 for t, d in played), played

    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("1")  # strong preference for A
    body.send_keys(Keys.ENTER)
    _progress_becomes(browser, "Comparison 2 of 6")
    browser.find_element(By.ID, "answer-B_weak").click()
    browser.find_element(By.ID, "reason").send_keys("B follows the caption's tempo")
    browser.find_element(By.ID, "submit").click()
    _progress_becomes(browser, "Comparison 3 of 6")
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("5")
    body.send_keys(Keys.ENTER)
    _progress_becomes(browser, "Comparison 4 of 6")

    ratings = served.ratings()
    assert [r.answer for r in ratings] == ["A_strong", "B_weak", "B_strong"]
    for rating, task in zip(ratings, tasks[:3], strict=True):
        assert rating.task_id == task.id
        assert (rating.source_a, rating.source_b, rating.clip_id) == (
            task.source_a,
            task.source_b,
            task.clip_id,
        )
        assert rating.time_taken_s is not None and rating.time_taken_s >= 0
    assert ratings[1].reason == "B follows the caption's tempo"


def test_tokens_keep_raters_apart(served_on):
    served = served_on
    first, second = served.raters[0], served.raters[1]
    page = requests.get(second, timeout=10).text
    task_of_second = int(_form(page)["task_id"])
    assert task_of_second in {t.id for t in served.tasks_of(second)}
    assert task_of_second not in {t.id for t in served.tasks_of(first)}
    assert requests.get(f"{second}/audio/{task_of_second}/A", timeout=10).status_code == 200
    assert requests.get(f"{first}/audio/{task_of_second}/A", timeout=10).status_code == 404
    assert requests.get(f"{served.url}/r/not-a-token", timeout=10).status_code == 404
    assert requests.get(f"{served.url}/admin/not-the-token", timeout=10).status_code == 404
    assert requests.get(served.admin, timeout=10).status_code == 200


def test_hostile_input_is_stored_safely_or_refused(served_on, browser, tmp_path):
    served = served_on
    from selenium.webdriver.common.by import By

    link = served.raters[0]
    browser.get(link)
    browser.find_element(By.ID, "answer-none").click()
    script = "<script>window.pwned = 1</script><img src=x onerror='window.pwned=2'>"
    sql = "'); DROP TABLE ratings; --"
    browser.find_element(By.ID, "comments").send_keys(script)
    browser.find_element(By.ID, "reason").send_keys(sql)
    browser.find_element(By.ID, "submit").click()
    _progress_becomes(browser, "Comparison 2 of 6")
    stored = served.ratings()
    assert (stored[0].comments, stored[0].reason) == (script, sql)
    browser.get(served.admin)
    assert browser.execute_script("return window.pwned") is None
    assert "&lt;script&gt;window.pwned" in browser.page_source
    assert browser.find_element(By.ID, "comments").text == f"rater-0: {script}"

    session = requests.Session()
    page = session.get(link, timeout=10).text
    form = _form(page)
    post = f"{link}/rate"
    other_task = served.tasks_of(served.raters[1])[0].id
    forged = {**form, "task_id": str(other_task), "answer": "A_strong"}
    assert session.post(post, data=forged, timeout=10).status_code == 403
    assert (
        session.post(
            post, data={**form, "form_token": "0" * 64, "answer": "A_weak"}, timeout=10
        ).status_code
        == 403
    )
    assert (
        session.post(
            post,
            data={**form, "answer": "A_weak"},
            headers={"Origin": "http://evil.example"},
            timeout=10,
        ).status_code
        == 403
    )
    assert session.post(post, data={**form, "answer": "maybe"}, timeout=10).status_code == 400
    assert (
        session.post(
            post, data={**form, "answer": "A_weak", "comments": "x" * 5000}, timeout=10
        ).status_code
        == 400
    )
    assert len(served.ratings()) == 1, "nothing stored by refused posts"
    replay = {**form, "answer": "A_weak"}
    assert session.post(post, data=replay, timeout=10).status_code == 200
    assert session.post(post, data=replay, timeout=10).status_code == 200
    assert len(served.ratings()) == 2, "a replayed post is stored once"
    token = link.rsplit("/", 1)[1]
    for path in (
        f"/r/{token}/audio/1/..%2F..%2F..%2Fetc%2Fpasswd",
        f"/r/{token}/audio/{form['task_id']}/C",
        "/static/..%2F..%2Fapp.py",
    ):
        assert requests.get(served.url + path, timeout=10).status_code == 404

    # A page on another origin that posts to the app (cross-site request forgery).
    evil = tmp_path / "evil"
    evil.mkdir()
    page = session.get(link, timeout=10).text
    form = _form(page)
    (evil / "index.html").write_text(
        f'<form id="f" method="post" action="{post}">'
        f'<input name="task_id" value="{form["task_id"]}">'
        f'<input name="form_token" value="{form["form_token"]}">'
        '<input name="answer" value="B_strong"></form>'
        "<script>document.getElementById('f').submit()</script>"
    )
    attacker = LoopbackServer(evil)
    try:
        browser.get(f"{attacker.url}/index.html")
        time.sleep(1.0)
        assert "Forbidden" in browser.page_source or "403" in browser.page_source
    finally:
        attacker.close()
    assert len(served.ratings()) == 2, "the cross-site post stored nothing"


def test_many_raters_at_once_lose_and_duplicate_nothing(folders, tmp_path, database):
    served = Served(_study_file(tmp_path, folders, raters=12, per_pair=24), database)
    try:

        def rate_all(link: str) -> list[int]:
            session = requests.Session()
            statuses = []
            for _ in range(6):
                form = _form(session.get(link, timeout=30).text)
                data = {**form, "answer": "A_weak", "comments": f"from {link[-6:]}"}
                # a double click: the same form posted twice at once
                with ThreadPoolExecutor(2) as pool:
                    statuses += [
                        r.status_code
                        for r in pool.map(
                            lambda d: session.post(f"{link}/rate", data=d, timeout=30), [data, data]
                        )
                    ]
            return statuses

        with ThreadPoolExecutor(12) as pool:
            results = list(pool.map(rate_all, served.raters, timeout=120))
        assert all(s == 200 for statuses in results for s in statuses)
        ratings = served.ratings()
        assert len(ratings) == 72
        assert len({r.task_id for r in ratings}) == 72
        with Session(served.engine) as session:
            assert session.scalar(select(func.count(TaskRow.id))) == 72
    finally:
        served.close()


def test_export_has_the_order_shown_and_the_raw_answer(served, tmp_path):
    session = requests.Session()
    link = served.raters[2]
    for answer in ("A_strong", "none", "B_weak"):
        form = _form(session.get(link, timeout=10).text)
        session.post(f"{link}/rate", data={**form, "answer": answer}, timeout=10)
    admin = requests.get(served.admin, timeout=10).text
    assert "<tr><td>rater-2</td><td>3</td><td>6</td></tr>" in admin
    assert "<tr><td>rater-0</td><td>0</td><td>6</td></tr>" in admin
    csv_text = requests.get(f"{served.admin}/ratings.csv", timeout=10).text
    out = tmp_path / "export.csv"
    result = CliRunner().invoke(
        main, ["listen", "export", "--db", str(served.engine.url), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes().decode() == csv_text
    rows = read_csv(out)
    tasks = served.tasks_of(link)
    assert [(r["source_a"], r["source_b"], r["answer"]) for r in rows] == [
        (t.source_a, t.source_b, a)
        for t, a in zip(tasks, ("A_strong", "none", "B_weak"), strict=False)
    ]
    assert export_rows(served.engine, "demo-study")[0]["rater"] == "rater-2"


def test_mck_listen_serve_prints_links_that_work(folders, tmp_path):
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    study = _study_file(tmp_path, folders)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "musiccaps_kit.cli",
            "listen",
            "serve",
            "--study",
            str(study),
            "--db",
            f"sqlite:///{tmp_path / 'serve.db'}",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [process.stdout.readline() for _ in range(5)]
        raters = [line.split()[-1] for line in lines if line.startswith("rater:")]
        assert len(raters) == 3 and lines[1].startswith("admin")
        deadline = time.time() + 30
        while True:
            try:
                response = requests.get(raters[0], timeout=5)
                break
            except requests.ConnectionError:
                assert time.time() < deadline
                time.sleep(0.2)
        assert response.status_code == 200 and "Comparison 1 of 6" in response.text
    finally:
        process.terminate()
        process.wait(10)


def test_hostile_tokens_and_null_origins_are_refused_not_errors(served_on):
    served = served_on
    link = served.raters[0]
    base = link.rsplit("/r/", 1)[0]
    for path in ("/admin/%C3%A9%E2%82%AC", "/admin/\u00e9", "/r/%C3%A9t%C3%A9", "/admin/%ED%A0%80"):
        assert requests.get(base + path, timeout=10).status_code == 404
    session = requests.Session()
    form = _form(session.get(link, timeout=10).text)
    bad = {**form, "form_token": "\u00e9\u20ac" * 8, "answer": "A_weak"}
    assert session.post(f"{link}/rate", data=bad, timeout=10).status_code == 403
    null = session.post(
        f"{link}/rate", data={**form, "answer": "A_weak"}, headers={"Origin": "null"}, timeout=10
    )
    assert null.status_code == 403
    assert served.ratings() == []


def test_the_export_neutralises_spreadsheet_formulas(served, tmp_path):
    session = requests.Session()
    link = served.raters[1]
    hostile = ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "plain"]
    for text in hostile:
        form = _form(session.get(link, timeout=10).text)
        session.post(
            f"{link}/rate", data={**form, "answer": "A_weak", "comments": text}, timeout=10
        )
    csv_text = requests.get(f"{served.admin}/ratings.csv", timeout=10).text
    assert "'=HYPERLINK" in csv_text and "'+1+1" in csv_text and "'-2" in csv_text
    assert "'@SUM(A1)" in csv_text and ",plain" in csv_text
    assert "\n=" not in csv_text and ",=" not in csv_text
    stored = sorted(r.comments for r in served.ratings())
    assert stored == sorted(hostile)  # stored verbatim; only the export is neutralised


def test_serve_on_a_taken_port_is_a_clean_error(folders, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main,
            ["listen", "serve", "--study", str(_study_file(tmp_path, folders))]
            + ["--db", f"sqlite:///{tmp_path / 's.db'}", "--port", str(port)],
        )
    assert result.exit_code == 1
    assert f"cannot serve on 127.0.0.1:{port}: Address already in use" in result.output
    assert "rater:" not in result.output and "Traceback" not in result.output


def test_a_crowd_of_raters_on_keep_alive_connections(folders, tmp_path, database):
    """200 raters at once, each on its own keep-alive session (as browsers are), rating
    all their comparisons, one in four double-posting: every rating is stored exactly
    once, no request fails, within a hard time limit."""
    served = Served(_study_file(tmp_path, folders, raters=200, per_pair=200), database)
    statuses: list[int] = []
    lock = threading.Lock()
    # every rater holds its connection open while the others rate, as a browser tab does
    everyone_in, everyone_done = threading.Barrier(200, timeout=90), threading.Barrier(200)

    def rate_all(index_link) -> None:
        index, link = index_link
        session = requests.Session()
        page = session.get(link, timeout=60)
        mine = [page.status_code]
        everyone_in.wait()
        for task in range(3):
            if task:
                page = session.get(link, timeout=60)
                mine.append(page.status_code)
            data = {**_form(page.text), "answer": "B_strong"}
            for _ in range(2 if index % 4 == 0 else 1):
                mine.append(session.post(f"{link}/rate", data=data, timeout=60).status_code)
        with lock:
            statuses.extend(mine)
        everyone_done.wait(timeout=90)
        session.close()

    try:
        started = time.time()
        with ThreadPoolExecutor(200) as pool:
            list(pool.map(rate_all, enumerate(served.raters), timeout=180))
        seconds = time.time() - started
        ratings = served.ratings()
        kind = database.split(":")[0]
        print(f"crowd ({kind}): {len(statuses)} requests from 200 raters in {seconds:.1f} s")
        assert len(statuses) == 200 * 3 + 50 * 3 + 200 * 3  # pages, posts, double posts
        assert all(s < 500 for s in statuses), Counter(statuses)
        assert len(ratings) == 600 and len({r.task_id for r in ratings}) == 600
        assert seconds < 180
    finally:
        served.close()
