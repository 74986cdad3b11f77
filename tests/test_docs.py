"""Docs that cannot drift: every `mck ...` command in README.md and docs/ parses with the real
click CLI (options and subcommands exist; files and required options aside), every column
and set the registries know is in docs/metrics.md, every option of every command has its
help line, and the README is a front page (its first bench command within 60 lines)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from musiccaps_kit.bench.columns import known_metrics
from musiccaps_kit.bench.metric_sets import METRIC_SETS
from musiccaps_kit.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def commands(text: str) -> list[str]:
    """The `mck` commands of a Markdown text: lines of fenced code blocks (continuation
    backslashes joined) and inline code spans that start with `mck`."""
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            found.append(line)
    found += re.findall(r"`(mck [^`]+)`", text)
    out = []
    for line in found:
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # MCK_MODELS=DIR mck ...
            words = words[1:]
        if words[:1] == ["mck"]:
            out.append(" ".join(shlex.quote(w) for w in words))
    return out


def parse(command: str) -> None:
    """Parse a `mck` command line with the real CLI's option parsers without running it
    (values are not converted: files need not exist); an unknown option or subcommand
    raises click's error."""
    words = [w for w in shlex.split(command)[1:] if w != "..."]
    cmd, parent, name = main, None, "mck"
    while True:
        ctx = click.Context(cmd, info_name=name, parent=parent, **cmd.context_settings)
        _, rest, _ = cmd.make_parser(ctx).parse_args(args=list(words))  # options only
        if not isinstance(cmd, click.Group) or not rest:
            return
        sub = cmd.get_command(ctx, rest[0])
        if sub is None:
            raise click.UsageError(f"no such command {rest[0]!r} in {name}")
        cmd, parent, name, words = sub, ctx, rest[0], rest[1:]


def test_every_documented_command_parses():
    seen = 0
    for page in PAGES:
        for command in commands(page.read_text()):
            try:
                parse(command)
            except click.ClickException as e:
                pytest.fail(f"{page.name}: `{command}`: {e.format_message()}")
            seen += 1
    assert seen > 40  # the README and every page have their commands


def test_a_made_up_option_fails():
    readme = (ROOT / "README.md").read_text()
    first = next(c for c in commands(readme) if c.startswith("mck bench"))
    parse(first)
    with pytest.raises(click.NoSuchOption):
        parse(first + " --made-up-option 3")
    with pytest.raises(click.UsageError, match="no such command"):
        parse("mck models fetcch musicgen")


def test_every_column_and_set_is_in_metrics_md():
    page = (ROOT / "docs" / "metrics.md").read_text()
    missing = [m for m in [*known_metrics(), *METRIC_SETS] if f"`{m}`" not in page]
    assert not missing, missing


def test_every_option_has_its_help_line():
    lacking = []

    def walk(cmd: click.Command, path: str) -> None:
        for param in cmd.params:
            if isinstance(param, click.Option) and not param.hidden:
                record = param.get_help_record(click.Context(cmd))
                if not record or not record[1].strip():
                    lacking.append(f"{path} {param.opts[0]}")
        if not (cmd.help or "").strip():
            lacking.append(f"{path} (no summary)")
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(main, "mck")
    assert not lacking, lacking


def test_the_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250
    first_bench = next(i for i, line in enumerate(lines) if line.strip().startswith("mck bench"))
    assert first_bench < 60, first_bench
    assert "<ytid>.wav" in "\n".join(lines[:60])
    for page in ("prepare", "bench", "metrics", "listening", "cascade", "scale", "performance",
                 "architecture"):  # fmt: skip
        assert f"docs/{page}.md" in "\n".join(lines) and (ROOT / "docs" / f"{page}.md").is_file()
