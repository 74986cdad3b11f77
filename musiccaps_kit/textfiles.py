"""Reading the text files users hand us (catalogs, ratings): UTF-8, with or without a
byte-order mark; anything else is refused with the line and byte that are not UTF-8."""

from __future__ import annotations

from pathlib import Path


def read_utf8(path: str | Path) -> str:
    """The file's text; ``OSError`` if it cannot be read, ``ValueError`` naming the file,
    line and byte if it is not UTF-8 (Latin-1 and Windows-1252 files are the usual case)."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ValueError(
            f"{path}: line {line} is not UTF-8 (byte 0x{data[e.start]:02x}); the file may be "
            "Latin-1 or Windows-1252: re-save it as UTF-8"
        ) from None
