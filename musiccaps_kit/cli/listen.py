"""``mck listen``: the paper's A-vs-B listening study (serve the rating app, export and
analyse ratings)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def listen() -> None:
    """The listening study: serve the rating app, export and analyse ratings."""


@listen.command("serve")
@click.option(
    "--study", "study_file", required=True, type=click.Path(exists=True, dir_okay=False),
    help="the study file (YAML or JSON: sources, their folders, captions, pairs)",
)  # fmt: skip
@click.option("--db", default="sqlite:///ratings.db", show_default=True, help="SQLAlchemy URL")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=int, default=8000, show_default=True, help="port to listen on")
@click.option("--base-url", help="how raters reach the server [default: http://HOST:PORT]")
@click.option(
    "--threads", type=click.IntRange(min=1), default=32, show_default=True, help="worker threads"
)
@click.option(
    "--connection-limit",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="open connections at once (browsers keep theirs alive)",
)
def listen_serve(
    study_file: str,
    db: str,
    host: str,
    port: int,
    base_url: str | None,
    threads: int,
    connection_limit: int,
) -> None:
    """Serve a study: prints the admin link and one link per rater."""
    from sqlalchemy.exc import SQLAlchemyError

    from musiccaps_kit.listening.app import create_app, links, make_server
    from musiccaps_kit.listening.db import make_engine
    from musiccaps_kit.listening.study import StudyError, load_study

    try:
        study = load_study(study_file)
        engine = make_engine(db)
        app = create_app(study, engine)
    except (StudyError, ValueError, SQLAlchemyError) as e:
        raise click.ClickException(f"{e}") from None
    try:
        server = make_server(app, host, port, threads, connection_limit)
    except OSError as e:
        raise click.ClickException(f"cannot serve on {host}:{port}: {e.strerror}") from None
    admin, raters = links(engine, app.config["STUDY_ROW"], base_url or f"http://{host}:{port}")
    click.echo(f"study {study.name}: {len(study.pairs)} pairs x {study.per_pair} comparisons")
    click.echo(f"admin (progress, export): {admin}")
    for link in raters:
        click.echo(f"rater: {link}")
    server.run()


@listen.command("export")
@click.option("--db", required=True, help="SQLAlchemy URL of the ratings database")
@click.option("--study", "study_name", help="only this study")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="the CSV to write (one row per rating)",
)  # fmt: skip
def listen_export(db: str, study_name: str | None, out: Path) -> None:
    """Ratings as CSV, with the order shown and the raw answer."""
    from musiccaps_kit.listening.db import export_rows, make_engine
    from musiccaps_kit.listening.ratings import write_csv

    try:
        rows = export_rows(make_engine(db, must_exist=True), study_name)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{len(rows)} ratings: {write_csv(rows, out)}")
    click.echo("text cells starting with =, +, -, @ are prefixed with ' (spreadsheet formulas)")


@listen.command("analyze")
@click.option("--ratings", required=True, help="an exported CSV, or a database URL")
@click.option("--study", "study_name", help="only this study's ratings")
@click.option("--sources", help="comma-separated source names expected [default: those rated]")
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.01,
    show_default=True,
    help="family-wise significance level, in (0, 1)",
)
@click.option(
    "--zero-method",
    type=click.Choice(["wilcox", "pratt", "zsplit"]),
    default="wilcox",
    show_default=True,
    help="how the Wilcoxon test treats no-preference ratings",
)
@click.option(
    "--bootstrap", type=click.IntRange(min=10), default=1000, show_default=True,
    help="bootstrap rounds for the win rates' intervals",
)  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="the bootstrap's seed")
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="folder for listening.json, the tables and Figs. 7-8",
)  # fmt: skip
def listen_analyze(
    ratings: str,
    study_name: str | None,
    sources: str | None,
    alpha: float,
    zero_method: str,
    bootstrap: int,
    seed: int,
    out: Path,
) -> None:
    """Wins, the pairwise matrix, win percentages, Wilcoxon + Bonferroni, sign tests and
    Bradley-Terry strengths (JSON, Markdown, Fig. 7 and Fig. 8 as PNG)."""
    from musiccaps_kit.listening import report
    from musiccaps_kit.listening.analysis import AnalysisSettings, analyze
    from musiccaps_kit.listening.ratings import load_ratings

    settings = AnalysisSettings(
        alpha=alpha, zero_method=zero_method, bootstrap_rounds=bootstrap, seed=seed
    )
    expected = [s.strip() for s in sources.split(",")] if sources else None
    try:
        result = analyze(load_ratings(ratings, study_name), expected, settings)
    except (ValueError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    files = report.write(result, out)
    click.echo(files["markdown"].read_text())
    click.echo(f"report: {files['json']}, {files['fig7']}, {files['fig8']}")
