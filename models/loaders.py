"""Load the cascade's models for inference (after AudioCraft's ``models/loaders.py``):
reading a ``model.pt`` touches no training code (no DDP, no discriminator, no optimiser).

Each ``load_*`` takes a file from ``mck train ...`` or from its ``*-pretrained`` stand-in
and returns the model in eval mode with a ``rate`` (the sample rate it takes audio at).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from musiccaps_kit.models import pretrained
from musiccaps_kit.models.codec import Codec, CodecConfig
from musiccaps_kit.models.melody import MelodyConfig, MelodyEmbedder
from musiccaps_kit.models.model_files import (
    CODEC_FORMAT,
    CODEC_PRETRAINED_FORMAT,
    MELODY_FORMAT,
    MULAN_FORMAT,
    MULAN_PRETRAINED_FORMAT,
    SEMANTIC_FORMAT,
    SEMANTIC_PRETRAINED_FORMAT,
    STAGES_FORMAT,
    build_model,
    check_format,
    read_model_file,
)
from musiccaps_kit.models.mulan import MuLan, MulanConfig
from musiccaps_kit.models.semantic import SemanticConfig, SemanticModel, SemanticTokenizer
from musiccaps_kit.models.stage import StageConfig, StageTransformer
from musiccaps_kit.models.tokens import Crops, Vocabulary


def _load(
    path: str | Path,
    device: str,
    fmt: str,
    config_cls: type,
    module_cls: type,
    stand_ins: dict[str, Callable[[dict[str, Any]], Any]] | None = None,
    wrap: Callable[[Any, dict[str, Any]], Any] | None = None,
):
    """A trained module of format ``fmt`` (``wrap``-ped with facts from its file), or the
    pretrained stand-in its file points at."""
    blob = read_model_file(path, device)
    if stand_ins and blob["format"] in stand_ins:
        return stand_ins[blob["format"]](blob)
    module = build_model(blob, fmt, path, config_cls, module_cls, device)
    return wrap(module, blob) if wrap else module


def load_codec(path: str | Path, device: str = "cpu"):
    """The codec of ``mck train codec`` (or ``codec-pretrained``)."""
    stand_ins = {CODEC_PRETRAINED_FORMAT: pretrained.load_codec}
    return _load(path, device, CODEC_FORMAT, CodecConfig, Codec, stand_ins)


def load_semantic(path: str | Path, device: str = "cpu"):
    """The tokenizer of ``mck train semantic`` (or ``semantic-pretrained``)."""
    stand_ins = {SEMANTIC_PRETRAINED_FORMAT: pretrained.load_semantic}

    def wrap(model: SemanticModel, blob: dict[str, Any]) -> SemanticTokenizer:
        return SemanticTokenizer(model, blob["centroids"].to(device))

    return _load(path, device, SEMANTIC_FORMAT, SemanticConfig, SemanticModel, stand_ins, wrap)


def load_mulan(path: str | Path, device: str = "cpu"):
    """The MuLan of ``mck train mulan`` (with its fitted RVQ), or a joint model with its
    quantiser (``mck train mulan-pretrained``)."""
    stand_ins = {MULAN_PRETRAINED_FORMAT: pretrained.load_mulan}
    return _load(path, device, MULAN_FORMAT, MulanConfig, MuLan, stand_ins)


def load_melody(path: str | Path, device: str = "cpu") -> MelodyEmbedder:
    """The melody embedder (with its fitted RVQ) of ``mck train melody``."""
    return _load(path, device, MELODY_FORMAT, MelodyConfig, MelodyEmbedder)


# The tokenizer's model kinds, by the ``--tokenizer-option`` name that gives their file.
LOADERS: dict[str, Callable[..., Any]] = {
    "codec": load_codec,
    "semantic": load_semantic,
    "mulan": load_mulan,
    "melody": load_melody,
}


def load_stages(path: str | Path, device: str = "cpu") -> dict[str, Any]:
    """The stage models (eval mode), vocabulary, crops and the tokenizer recipe they were
    trained on (which codec, semantic model and MuLan made their tokens)."""
    blob = read_model_file(path, device)
    check_format(blob, STAGES_FORMAT, path)
    models = {}
    for stage, config in blob["stage_config"].items():
        model = StageTransformer(StageConfig(**config))
        model.load_state_dict(blob["models"][stage])
        models[stage] = model.to(device).eval()
    return {
        "models": models,
        "vocabulary": Vocabulary(**blob["vocabulary"]),
        "crops": Crops(**blob["crops"]),
        "tokenizer": blob["tokenizer"],
        "melody_windows": blob.get("melody_windows"),
    }
