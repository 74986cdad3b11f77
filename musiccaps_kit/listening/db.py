"""Ratings in a real database through SQLAlchemy: SQLite by default, PostgreSQL by URL.

One rating per task, enforced by a unique constraint: a resubmitted form or a double
click cannot make a second row. SQLite runs in WAL mode with a busy timeout, so many
raters at once wait for the write lock instead of failing.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from musiccaps_kit.listening.assignment import assign
from musiccaps_kit.listening.study import Study


class Base(DeclarativeBase):
    pass


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class StudyRow(Base):
    __tablename__ = "studies"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    definition: Mapped[dict] = mapped_column(JSON)
    admin_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Rater(Base):
    __tablename__ = "raters"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    number: Mapped[int] = mapped_column(Integer)
    token: Mapped[str] = mapped_column(String(64), unique=True, index=True)


class TaskRow(Base):
    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("rater_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("raters.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    clip_id: Mapped[str] = mapped_column(String(32))
    source_a: Mapped[str] = mapped_column(String(200))
    source_b: Mapped[str] = mapped_column(String(200))
    served_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RatingRow(Base):
    __tablename__ = "ratings"
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), unique=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("raters.id"), index=True)
    clip_id: Mapped[str] = mapped_column(String(32))
    source_a: Mapped[str] = mapped_column(String(200))
    source_b: Mapped[str] = mapped_column(String(200))
    answer: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    comments: Mapped[str] = mapped_column(Text, default="")
    time_taken_s: Mapped[float | None] = mapped_column(Float)
    rated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


def make_engine(url: str, must_exist: bool = False) -> Engine:
    """An engine for ``url`` (``sqlite:///ratings.db``, ``postgresql+psycopg://...``).

    ``must_exist`` (reading ratings: export, analyze) refuses a SQLite file that is not
    there instead of creating an empty database.
    """
    if url.startswith("sqlite"):
        database = make_url(url).database
        if must_exist and database not in (None, "", ":memory:") and not Path(database).is_file():
            raise ValueError(f"{url}: no ratings database at {database}")
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record):
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    else:
        # one connection per server thread (``app.THREADS``), with room for bursts
        engine = create_engine(url, pool_pre_ping=True, pool_size=32, max_overflow=32)
    Base.metadata.create_all(engine)
    return engine


def open_study(engine: Engine, study: Study) -> StudyRow:
    """The study's row, created with its raters and balanced tasks on first use.

    Reopening a study with a different definition is refused: ratings already given
    belong to the old assignment.
    """
    definition = json.loads(json.dumps(study.definition()))
    with Session(engine, expire_on_commit=False) as session:
        row = session.scalar(select(StudyRow).where(StudyRow.name == study.name))
        if row is not None:
            if row.definition != definition:
                raise ValueError(
                    f"study {study.name!r} already exists in the database with another "
                    "definition: give the changed study a new name"
                )
            return row
        row = StudyRow(name=study.name, definition=definition, admin_token=_token())
        session.add(row)
        session.flush()
        raters = [Rater(study_id=row.id, number=n, token=_token()) for n in range(study.raters)]
        session.add_all(raters)
        session.flush()
        session.add_all(
            TaskRow(
                rater_id=raters[t.rater].id,
                position=t.position,
                clip_id=t.clip_id,
                source_a=t.source_a,
                source_b=t.source_b,
            )
            for t in assign(study)
        )
        try:
            session.commit()
        except IntegrityError:  # another process created it at the same moment
            session.rollback()
            return session.scalar(select(StudyRow).where(StudyRow.name == study.name))
        return row


def _token() -> str:
    return secrets.token_urlsafe(24)


def raters_of(engine: Engine, study_id: int) -> list[Rater]:
    with Session(engine, expire_on_commit=False) as session:
        return list(
            session.scalars(select(Rater).where(Rater.study_id == study_id).order_by(Rater.number))
        )


def export_rows(engine: Engine, study_name: str | None = None) -> list[dict[str, Any]]:
    """Every rating (of one study, or all), with the order shown and the raw answer."""
    query = (
        select(RatingRow, Rater.number, StudyRow.name)
        .join(Rater, RatingRow.rater_id == Rater.id)
        .join(StudyRow, Rater.study_id == StudyRow.id)
        .order_by(RatingRow.id)
    )
    if study_name is not None:
        query = query.where(StudyRow.name == study_name)
    with Session(engine) as session:
        return [
            {
                "study": name,
                "rater": f"rater-{number}",
                "clip_id": r.clip_id,
                "source_a": r.source_a,
                "source_b": r.source_b,
                "answer": r.answer,
                "reason": r.reason,
                "comments": r.comments,
                "time_taken_s": r.time_taken_s,
                "rated_at": r.rated_at.isoformat(),
            }
            for r, number, name in session.execute(query)
        ]
