"""The ``cascade`` tokenizer of ``mck prepare``: acoustic (A), semantic (S) and MuLan (M_A)
tokens from trained checkpoints, in the schema's ``tokens/{name}`` fields.

    mck prepare ... --tokenizer cascade --tokenizer-option codec=runs/codec/model.pt \\
        --tokenizer-option semantic=runs/semantic/model.pt \\
        --tokenizer-option mulan=runs/mulan/model.pt

* ``acoustic``: ``[frames, levels]`` codec tokens of the 24 kHz audio (50 Hz; the first
  ``coarse_levels`` are the coarse stage's, the rest the fine stage's);
* ``semantic``: ``[frames]`` tokens of the 16 kHz audio (25 Hz; a pretrained model's
  rate and frame rate when ``mck train semantic-pretrained`` made the checkpoint);
* ``mulan``: ``[12]`` conditioning tokens of the clip's MuLan audio embedding (M_A);
* ``melody``: ``[windows, 24]`` melody tokens (4 s windows, 3 s hop: 3 per 10 s clip).

Any subset of the three checkpoints may be given. The recipe records each checkpoint's
sha256, so a record set knows which models made its tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.checksums import checksum_files
from musiccaps_kit.models.loaders import LOADERS
from musiccaps_kit.models.tokens import ACOUSTIC, MELODY, MULAN, SEMANTIC

# the token stream each model kind writes, in the order streams are listed
TOKEN_NAMES = {"codec": ACOUSTIC, "semantic": SEMANTIC, "mulan": MULAN, "melody": MELODY}
KINDS = tuple(TOKEN_NAMES)


class CascadeTokenizer:
    name = "cascade"

    def __init__(
        self,
        codec: str | None = None,
        semantic: str | None = None,
        mulan: str | None = None,
        melody: str | None = None,
    ):
        given = {"codec": codec, "semantic": semantic, "mulan": mulan, "melody": melody}
        # absolute: generation and memorisation find the models from the recipe later
        self.paths = {k: Path(v).resolve() for k, v in given.items() if v}
        if not self.paths:
            raise ValueError(
                "the cascade tokenizer needs at least one of codec=, semantic=, mulan="
            )
        for kind, path in self.paths.items():
            if not path.is_file():
                raise FileNotFoundError(f"{kind} checkpoint {path} not found")
        self.token_names = tuple(TOKEN_NAMES[k] for k in KINDS if k in self.paths)
        self.checksums = {k: checksum_files([p]) for k, p in self.paths.items()}
        self.models: dict[str, Any] = {}

    def setup(self) -> None:
        self.models = {kind: LOADERS[kind](path) for kind, path in self.paths.items()}

    def __call__(self, audio: dict[int, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        out = {}
        for kind, model in self.models.items():
            wave = audio[model.rate]
            if kind == "codec":
                tokens = model.encode(torch.from_numpy(np.ascontiguousarray(wave))[None])[0]
            elif kind == "mulan":
                tokens = model.tokens(model.clip_embedding(wave)[None])[0]
            else:
                tokens = model.tokens(wave)
            out[TOKEN_NAMES[kind]] = tokens.numpy().astype(np.int64)
        return out

    def vocabulary(self) -> dict[str, dict[str, int]]:
        """Codebook sizes and levels of each stream (the stages' vocabulary)."""
        if not self.models:
            self.setup()
        out = {}
        if "codec" in self.models:
            c = self.models["codec"].config
            out[ACOUSTIC] = {
                "levels": c.levels,
                "codebook": c.codebook_size,
                "coarse_levels": c.coarse_levels,
            }
        if "semantic" in self.models:
            out[SEMANTIC] = {"levels": 1, "codebook": len(self.models["semantic"].centroids)}
        if "mulan" in self.models:
            q = self.models["mulan"].quantizer
            out[MULAN] = {"levels": q.levels, "codebook": q.codebook_size}
        if "melody" in self.models:
            q = self.models["melody"].quantizer
            out[MELODY] = {"levels": q.levels, "codebook": q.codebook_size}
        return out

    def recipe(self) -> dict[str, Any]:
        return {
            "vocabulary": self.vocabulary(),
            "tokenizer": self.name,
            "token_names": list(self.token_names),
            "checkpoints": {
                TOKEN_NAMES[k]: {"path": str(p), "sha256": self.checksums[k]}
                for k, p in self.paths.items()
            },
            "rates": {TOKEN_NAMES[k]: m.rate for k, m in self.models.items()},
        }
