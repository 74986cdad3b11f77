"""Two-column text tables (key, value) for summaries printed to people."""

from __future__ import annotations


def format_table(rows: list[tuple[str, str]], title: str) -> str:
    """``title`` and the rows below it, keys padded to one width."""
    width = max(len(k) for k, _ in rows)
    return "\n".join([title, *(f"  {key.ljust(width)}  {value}" for key, value in rows)])
