"""Embedding models behind one interface and one registry (after fadtk's)."""

from musiccaps_kit.bench.embedders.base import (
    EMBEDDERS,
    Embedder,
    known_embedders,
    make_embedder,
    register,
)

__all__ = ["EMBEDDERS", "Embedder", "known_embedders", "make_embedder", "register"]
