"""Paths of the data files shipped inside the package (one place owns them)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_DATA = resources.files("musiccaps_kit") / "assets"


def data_path(name: str) -> Path:
    """Path of a file under ``musiccaps_kit/assets``."""
    return Path(str(_DATA / name))


MUSICCAPS_CSV = data_path("musiccaps-public.csv")
AUDIOSET_CLASS_MAP = data_path("audioset-class-map.csv")
PAPER_TABLE1 = data_path("paper-table1.json")
MUSICGEN_TABLE1 = data_path("musicgen-table1.json")
DEMO_DIR = data_path("demo")
DEMO_CSV = DEMO_DIR / "demo.csv"
DEMO_AUDIO_DIR = DEMO_DIR / "clips"
REFERENCE_EXCLUSIONS = data_path("reference-exclusions.json")
# stable-audio-metrics' copies (MIT; the captions under their own CC licences): see
# assets/STABLE-AUDIO-METRICS.md
SDD_CSV = data_path("song_describer.csv")
SDD_NOSINGING_CSV = data_path("song_describer-nosinging.csv")
MUSICCAPS_NOSINGING_CSV = data_path("musiccaps-public-nosinging.csv")
