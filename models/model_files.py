"""The ``model.pt`` files the cascade writes and reads: one format string per model family,
atomic writes, and clear errors for missing or foreign files.

A file is a ``torch.save`` dict with ``format`` plus either a configuration and weights
(``save_model``) or a pointer to a pretrained folder with its checksum
(``save_folder_pointer``). Training writes them; ``models.loaders`` reads them back.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from musiccaps_kit.atomic import atomic_path
from musiccaps_kit.checksums import checksum_dir

MODEL = "model.pt"
CODEC_FORMAT = "musiccaps-kit/codec/1"
MULAN_FORMAT = "musiccaps-kit/mulan/1"
SEMANTIC_FORMAT = "musiccaps-kit/semantic/1"
MELODY_FORMAT = "musiccaps-kit/melody/1"
STAGES_FORMAT = "musiccaps-kit/stages/1"
CODEC_PRETRAINED_FORMAT = "musiccaps-kit/codec-pretrained/1"
SEMANTIC_PRETRAINED_FORMAT = "musiccaps-kit/semantic-pretrained/1"
MULAN_PRETRAINED_FORMAT = "musiccaps-kit/mulan-pretrained/1"


def config_from(cls, values: dict[str, Any]):
    """A frozen config dataclass from JSON values (lists become tuples)."""
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def save_checkpoint(path: Path, blob: dict[str, Any]) -> None:
    """``torch.save`` atomically: a killed run never leaves half a file."""
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def save_model(path: Path, fmt: str, config, module: torch.nn.Module, **extra: Any) -> None:
    """An inference file: format, configuration, weights, and any extra facts."""
    blob = {"format": fmt, "config": asdict(config), "state_dict": module.state_dict()}
    save_checkpoint(path, {**blob, **extra})


def read_model_file(path: str | Path, device: str = "cpu") -> dict[str, Any]:
    """A ``model.pt``'s contents; a missing or foreign file is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} not found")
    try:
        blob = torch.load(path, map_location=device, weights_only=False)
    except Exception as e:
        raise ValueError(f"{path} is not a readable model file: {e}") from None
    if not isinstance(blob, dict) or "format" not in blob:
        raise ValueError(f"{path} is not a musiccaps-kit model file")
    return blob


def check_format(blob: dict[str, Any], fmt: str, path: str | Path) -> None:
    if blob["format"] != fmt:
        raise ValueError(f"{path} is a {blob['format']} file, not {fmt}")


def build_model(blob: dict, fmt: str, path, config_cls, module_cls, device: str = "cpu"):
    """The module (eval mode) of a ``save_model`` file of format ``fmt``."""
    check_format(blob, fmt, path)
    module = module_cls(config_from(config_cls, blob["config"]))
    module.load_state_dict(blob["state_dict"])
    return module.to(device).eval()


def save_folder_pointer(out: str | Path, fmt: str, model_dir: str | Path, **extra: Any) -> Path:
    """``out/model.pt`` naming a pretrained model folder (with its checksum) and settings."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": fmt,
        "model_dir": str(Path(model_dir).resolve()),
        "model_sha256": checksum_dir(model_dir),
        **extra,
    }
    save_checkpoint(out / MODEL, blob)
    return out / MODEL


def pointed_folder(blob: dict[str, Any]) -> str:
    """The folder a pointer names, refused if its files changed since."""
    if checksum_dir(blob["model_dir"]) != blob["model_sha256"]:
        raise ValueError(f"{blob['model_dir']} changed since it was registered")
    return blob["model_dir"]
