"""Hugging Face ``transformers`` models named by a hub id or a local folder, resolved and
checksummed without building the model, so a cached bench run never loads it.

A hub id downloads once into the Hugging Face cache (``HF_HUB_OFFLINE=1`` then works
offline); a folder written by ``save_pretrained`` is used as it is. The folder's
``config.json`` says which model class it holds: a folder of another kind is refused with
a message that names it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from musiccaps_kit.checksums import checksum_files

# what the weights and settings of a saved model are in (tokenizer and extractor files too)
MODEL_FILES = ("*.json", "*.safetensors", "*.txt", "*.model")


@dataclass(frozen=True)
class ModelFolder:
    """A resolved model: the name the user gave, its local folder, its config, checksum."""

    spec: str
    folder: Path
    config: dict
    checksum: str


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def resolve(spec: str, model_type: str, option: str) -> ModelFolder:
    """The local folder of ``spec`` (a folder, or a hub id downloaded on first use) whose
    ``config.json`` has ``model_type``; a clear ``ValueError`` naming ``option`` otherwise."""
    path = Path(spec).expanduser()
    if path.is_dir():
        folder = path
    elif path.exists():
        raise ValueError(f"{option} {spec}: expected a model folder or a hub id, got a file")
    elif not HUB_ID.match(spec):
        raise ValueError(f"{option} {spec}: no such folder")
    else:
        folder = _download(spec, option)
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ValueError(f"{option} {spec}: {folder} has no config.json (not a saved model)")
    try:
        config = json.loads(config_file.read_text())
    except ValueError as e:
        raise ValueError(f"{option} {spec}: {config_file} is not valid JSON ({e})") from None
    found = config.get("model_type")
    if found != model_type:
        raise ValueError(
            f"{option} {spec}: {config_file} holds a {found!r} model, not a {model_type!r} one"
        )
    weights = [p for pattern in MODEL_FILES for p in folder.glob(pattern) if p.is_file()]
    if not any(p.suffix == ".safetensors" for p in weights) and not list(folder.glob("*.bin")):
        raise ValueError(f"{option} {spec}: {folder} has no weight file (.safetensors or .bin)")
    weights += list(folder.glob("*.bin"))
    return ModelFolder(spec, folder, config, checksum_files(weights))


def _download(repo_id: str, option: str) -> Path:
    folder = snapshot(repo_id, MODEL_FILES, option)
    if not list(folder.glob("*.safetensors")):  # an older repo: PyTorch pickles only
        folder = snapshot(repo_id, [*MODEL_FILES, "*.bin"], option)
    return folder


def snapshot(repo_id: str, patterns, option: str) -> Path:
    """The files of a hub repo matching ``patterns``, downloaded once into the Hugging Face
    cache; a clear ``ValueError`` naming ``option`` when the hub does not give them."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=list(patterns)))
    except Exception as e:  # offline, unknown repo, no access: the hub's own words
        first = str(e).splitlines()[0] if str(e) else ""
        raise ValueError(
            f"{option} {repo_id}: not a local file or folder, and the Hugging Face hub did not "
            f"give it ({type(e).__name__}: {first}); download it where there is network and "
            "pass the folder"
        ) from None
