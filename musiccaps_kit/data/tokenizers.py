"""The tokenize step of ``mck prepare``: a registry of tokenizers behind one interface.

A tokenizer turns a clip's waveforms (by sample rate) into named integer arrays that go
into the record as ``tokens/{name}``. ``identity`` adds none; the cascade's tokenizer
(codec, semantic, MuLan and melody tokens) plugs in through the ``musiccaps_kit.tokenizers``
entry point and records its checkpoints' checksums, so a record set knows which models
made its tokens.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from musiccaps_kit.registry import Registry


class Tokenizer(Protocol):
    """Loads its model in ``setup()`` (once per worker) and tokenizes one clip at a time."""

    name: str
    token_names: tuple[str, ...]

    def setup(self) -> None: ...

    def __call__(self, audio: dict[int, np.ndarray]) -> dict[str, np.ndarray]: ...

    def recipe(self) -> dict[str, Any]: ...


class IdentityTokenizer:
    """Writes no tokens: records hold waveforms and metadata only."""

    name = "identity"
    token_names: tuple[str, ...] = ()

    def setup(self) -> None:
        pass

    def __call__(self, audio: dict[int, np.ndarray]) -> dict[str, np.ndarray]:
        return {}

    def recipe(self) -> dict[str, Any]:
        return {"tokenizer": self.name, "token_names": list(self.token_names)}


TOKENIZERS: Registry[Tokenizer] = Registry("tokenizer", group="tokenizers")
TOKENIZERS.register("identity")(IdentityTokenizer)
make_tokenizer = TOKENIZERS.make
