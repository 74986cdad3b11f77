"""A listening study's definition, read from a YAML or JSON file and checked up front.

    name: musiclm-vs-baselines
    sources:                    # name -> folder of clips named {id}.{ext}
      MusicCaps: data/reference
      MusicLM: gen/musiclm
      Mubert: gen/mubert
    captions: musiccaps         # a catalog: musiccaps, demo, hub or a CSV path
    ids: [abc123def45, ...]     # optional: default, the ids every source has
    per_pair: 200               # comparisons per pair of sources
    raters: 10                  # rater links to make, or instead:
    per_rater: 60               # ratings per rater (raters = all comparisons / per_rater)
    seed: 0

Relative folders are relative to the study file. Every source must have a clip for every
id, and every id a caption: a study that cannot be run is refused before anything starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from musiccaps_kit.data import catalog
from musiccaps_kit.data.catalog import CLIP_ID_PATTERN
from musiccaps_kit.data.sources.local import AUDIO_EXTENSIONS

SOURCE_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-. ()")


class StudyError(ValueError):
    """A study file that is malformed or names clips, sources or captions that are missing."""


@dataclass(frozen=True)
class Study:
    name: str
    sources: dict[str, Path]
    captions: dict[str, str]
    ids: tuple[str, ...]
    raters: int
    per_pair: int
    seed: int
    files: dict[str, dict[str, Path]]

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """Every unordered pair of sources, K(K-1)/2 of them, in name order."""
        names = sorted(self.sources)
        return [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]

    def audio_path(self, source: str, clip_id: str) -> Path:
        """The file of ``clip_id`` in ``source``, from the index built at load time only."""
        return self.files[source][clip_id]

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sources": {k: str(v) for k, v in sorted(self.sources.items())},
            "ids": list(self.ids),
            "raters": self.raters,
            "per_pair": self.per_pair,
            "seed": self.seed,
        }


def _index(folder: Path) -> dict[str, Path]:
    return {
        p.stem: p.resolve()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and CLIP_ID_PATTERN.match(p.stem)
    }


def _positive_int(raw: dict[str, Any], key: str, default: int | None = None) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if key == "seed" else 1):
        raise StudyError(f"study: {key!r} must be a positive integer, got {value!r}")
    return value


def load_study(path: str | Path) -> Study:
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text)
        else:
            raw = json.loads(text)
    except Exception as e:
        raise StudyError(f"{path}: cannot parse the study file: {e}") from None
    if not isinstance(raw, dict):
        raise StudyError(f"{path}: expected a mapping at the top level")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise StudyError(f"{path}: 'name' is required")
    sources_raw = raw.get("sources")
    if not isinstance(sources_raw, dict) or len(sources_raw) < 2:
        raise StudyError(f"{path}: 'sources' must map at least two names to folders")
    sources, files = {}, {}
    for source, folder in sources_raw.items():
        if not isinstance(source, str) or not set(source) <= SOURCE_NAME_CHARS:
            raise StudyError(
                f"{path}: source name {source!r} has characters outside [A-Za-z0-9_-. ()]"
            )
        folder = (path.parent / str(folder)).resolve()
        if not folder.is_dir():
            raise StudyError(f"{path}: folder of source {source!r} not found: {folder}")
        sources[source], files[source] = folder, _index(folder)
    common = set.intersection(*(set(f) for f in files.values()))
    ids = raw.get("ids")
    if ids is None:
        ids = sorted(common)
    if not isinstance(ids, list) or not ids:
        raise StudyError(f"{path}: no ids to compare (no id is in every source's folder)")
    for source, index in files.items():
        missing = [i for i in ids if i not in index]
        if missing:
            raise StudyError(
                f"{path}: source {source!r} has no clip for {len(missing)} ids "
                f"(first: {', '.join(map(str, missing[:5]))})"
            )
    try:
        by_id = {c.ytid: c.caption for c in catalog.load(str(raw.get("captions", "musiccaps")))}
    except (catalog.CatalogError, FileNotFoundError) as e:
        raise StudyError(f"{path}: captions: {e}") from None
    lacking = [i for i in ids if i not in by_id]
    if lacking:
        raise StudyError(
            f"{path}: {len(lacking)} ids have no caption (first: {', '.join(lacking[:5])})"
        )
    per_pair = _positive_int(raw, "per_pair")
    if "raters" in raw:
        raters = _positive_int(raw, "raters")
    elif "per_rater" in raw:
        comparisons = len(sources) * (len(sources) - 1) // 2 * per_pair
        raters = -(-comparisons // _positive_int(raw, "per_rater"))
    else:
        raise StudyError(f"{path}: give 'raters' (how many links) or 'per_rater'")
    return Study(
        name=name.strip(),
        sources=sources,
        captions={i: by_id[i] for i in ids},
        ids=tuple(ids),
        raters=raters,
        per_pair=per_pair,
        seed=_positive_int(raw, "seed", 0),
        files=files,
    )
