"""The rating web app (Flask): one link per rater, the paper's A-vs-B page, an admin page.

* ``/r/<token>``: the rater's next comparison: the caption, players A and B, the five
  answers, an optional reason and comments, a progress counter, keyboard shortcuts.
* ``POST /r/<token>/rate``: stores one rating; the form carries a token bound to the
  rater and the task, and a post from another origin is refused. A task that is not the
  rater's is refused; a second post for a rated task changes nothing.
* ``/r/<token>/audio/<task>/<A|B>``: audio, looked up from the study's own index of its
  folders: no path from the request ever reaches the filesystem.
* ``/admin/<token>`` and ``/admin/<token>/ratings.csv``: progress and the export.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from urllib.parse import urlsplit

from flask import Flask, Response, abort, redirect, render_template_string, request, send_file
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from musiccaps_kit.listening import pages
from musiccaps_kit.listening.db import (
    Rater,
    RatingRow,
    StudyRow,
    TaskRow,
    export_rows,
    open_study,
    raters_of,
)
from musiccaps_kit.listening.ratings import ANSWER_LABELS, ANSWERS, MAX_TEXT, csv_text
from musiccaps_kit.listening.study import Study


def form_token(secret: str, rater_token: str, task_id: int) -> str:
    message = f"{rater_token}:{task_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def same_token(given: str, expected: str) -> bool:
    """Constant-time comparison of the bytes (``compare_digest`` refuses non-ASCII str:
    a hostile token must be a plain mismatch, never a server error)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def create_app(study: Study, engine: Engine) -> Flask:
    """The app for ``study``, its ratings in ``engine`` (the study is created on first use)."""
    study_row = open_study(engine, study)
    secret = study_row.admin_token
    app = Flask(__name__, static_folder="static")
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024

    def page(title: str, template: str, **values) -> str:
        body = Markup(render_template_string(template, **values))
        return render_template_string(pages.LAYOUT, title=title, body=body)

    def rater_or_404(session: Session, token: str) -> Rater:
        rater = session.scalar(
            select(Rater).where(Rater.token == token, Rater.study_id == study_row.id)
        )
        if rater is None:
            abort(404)
        return rater

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; media-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/r/<token>")
    def rate_page(token: str):
        with Session(engine) as session:
            rater = rater_or_404(session, token)
            total = session.scalar(select(func.count()).where(TaskRow.rater_id == rater.id))
            rated = select(RatingRow.task_id).where(RatingRow.rater_id == rater.id)
            task = session.scalar(
                select(TaskRow)
                .where(TaskRow.rater_id == rater.id, TaskRow.id.not_in(rated))
                .order_by(TaskRow.position)
                .limit(1)
            )
            if task is None:
                return page("Thank you", pages.DONE, total=total)
            done = session.scalar(select(func.count()).where(RatingRow.rater_id == rater.id))
            if task.served_at is None:
                task.served_at = dt.datetime.now(dt.UTC)
                session.commit()
            return page(
                "Listening study",
                pages.RATE,
                done=done,
                total=total,
                caption=study.captions[task.clip_id],
                audio_a=f"/r/{token}/audio/{task.id}/A",
                audio_b=f"/r/{token}/audio/{task.id}/B",
                action=f"/r/{token}/rate",
                task_id=task.id,
                form_token=form_token(secret, token, task.id),
                answers=[(a, ANSWER_LABELS[a]) for a in ANSWERS],
                max_text=MAX_TEXT,
            )

    @app.post("/r/<token>/rate")
    def rate(token: str):
        origin = request.headers.get("Origin")
        # a sandboxed or privacy-redirected page sends "null": not our page either
        if origin and (origin == "null" or urlsplit(origin).netloc != request.host):
            abort(403, "cross-site post refused")
        with Session(engine) as session:
            rater = rater_or_404(session, token)
            try:
                task_id = int(request.form.get("task_id", ""))
            except ValueError:
                abort(400, "bad task id")
            given = request.form.get("form_token", "")
            if not same_token(given, form_token(secret, token, task_id)):
                abort(403, "invalid form token")
            task = session.get(TaskRow, task_id)
            if task is None or task.rater_id != rater.id:
                abort(403, "not your comparison")
            answer = request.form.get("answer", "")
            if answer not in ANSWERS:
                abort(400, "choose one of the five answers")
            reason = request.form.get("reason", "")
            comments = request.form.get("comments", "")
            if len(reason) > MAX_TEXT or len(comments) > MAX_TEXT:
                abort(400, f"reason and comments are limited to {MAX_TEXT} characters")
            now = dt.datetime.now(dt.UTC)
            served = task.served_at
            if served is not None and served.tzinfo is None:  # SQLite drops the zone
                served = served.replace(tzinfo=dt.UTC)
            session.add(
                RatingRow(
                    task_id=task.id,
                    rater_id=rater.id,
                    clip_id=task.clip_id,
                    source_a=task.source_a,
                    source_b=task.source_b,
                    answer=answer,
                    reason=reason,
                    comments=comments,
                    time_taken_s=(now - served).total_seconds() if served else None,
                    rated_at=now,
                )
            )
            try:
                session.commit()
            except IntegrityError:  # rated already: a resubmission or a double click
                session.rollback()
        return redirect(f"/r/{token}", code=303)

    @app.get("/r/<token>/audio/<int:task_id>/<side>")
    def audio(token: str, task_id: int, side: str):
        if side not in ("A", "B"):
            abort(404)
        with Session(engine) as session:
            rater = rater_or_404(session, token)
            task = session.get(TaskRow, task_id)
            if task is None or task.rater_id != rater.id:
                abort(404)
            source = task.source_a if side == "A" else task.source_b
            path = study.audio_path(source, task.clip_id)
        return send_file(path, conditional=True, max_age=0)

    def admin_or_404(token: str) -> None:
        if not same_token(token, secret):
            abort(404)

    @app.get("/admin/<token>")
    def admin(token: str):
        admin_or_404(token)
        with Session(engine) as session:
            progress = session.execute(
                select(Rater.number, func.count(TaskRow.id), func.count(RatingRow.id))
                .join(TaskRow, TaskRow.rater_id == Rater.id)
                .outerjoin(RatingRow, RatingRow.task_id == TaskRow.id)
                .where(Rater.study_id == study_row.id)
                .group_by(Rater.number)
                .order_by(Rater.number)
            ).all()
            latest = session.execute(
                select(Rater.number, RatingRow.comments)
                .join(Rater, RatingRow.rater_id == Rater.id)
                .where(Rater.study_id == study_row.id, RatingRow.comments != "")
                .order_by(RatingRow.id.desc())
                .limit(20)
            ).all()
        return page(
            f"Study {study.name}",
            pages.ADMIN,
            study=study.name,
            export=f"/admin/{token}/ratings.csv",
            raters=[(f"rater-{n}", done, total) for n, total, done in progress],
            comments=[(f"rater-{n}", text) for n, text in latest],
        )

    @app.get("/admin/<token>/ratings.csv")
    def export(token: str):
        admin_or_404(token)
        return Response(
            csv_text(export_rows(engine, study.name)),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{study_row.id}.csv"'},
        )

    app.config["STUDY_ROW"] = study_row
    return app


def links(engine: Engine, study_row: StudyRow, base_url: str) -> tuple[str, list[str]]:
    """The admin link and one link per rater."""
    base = base_url.rstrip("/")
    rater_links = [f"{base}/r/{r.token}" for r in raters_of(engine, study_row.id)]
    return f"{base}/admin/{study_row.admin_token}", rater_links


# Sized for a few hundred raters on keep-alive connections (browsers keep them open):
# waitress' own defaults (100 connections, 4 threads) queue everyone past the 100th.
THREADS = 32
CONNECTION_LIMIT = 1000


def make_server(
    app: Flask,
    host: str,
    port: int,
    threads: int = THREADS,
    connection_limit: int = CONNECTION_LIMIT,
):
    """A waitress server bound to ``host:port`` (``OSError`` when the port is taken);
    ``.run()`` serves, ``.close()`` stops."""
    from waitress import create_server

    return create_server(
        app, host=host, port=port, threads=threads, connection_limit=connection_limit
    )
