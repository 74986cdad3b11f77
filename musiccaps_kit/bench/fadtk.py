"""Reference statistics in fadtk's format: one ``.npz`` with ``MODEL.mu`` and ``MODEL.cov``
(fadtk ships e.g. FMA-Pop statistics that way).

Ours add ``MODEL.n`` (frames) and ``MODEL.recipe`` (the embedder recipe as JSON), so a file
written by ``mck stats --format fadtk`` is checked against the embedder it will meet.
fadtk's own files carry no recipe, and none of fadtk's models is one of our embedder
profiles (below), so they are refused with the reason instead of giving a wrong FAD.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.atomic import write_bytes
from musiccaps_kit.bench.metrics.frechet import GaussianStats

# fadtk's model names and how ours differ (no fadtk model equals one of our profiles).
FADTK_MODELS = {
    "vggish": "fadtk's VGGish is the PyTorch port (torchvggish) without the PCA / "
    "quantisation post-processing and with the final ReLU removed, on 0.96 s "
    "non-overlapping frames; ours is TF Hub vggish/1 with Google's 2019 FAD front-end "
    "(1 s windows, 0.5 s hop, peak normalisation): the statistics are not comparable",
    "clap-laion-audio": "our clap embedder follows fadtk's clap-laion-music, not the audio model",
    "clap-laion-music": "fad_clap computes fadtk's clap-laion-music frames, but a file without "
    "a recipe cannot show it was made with music_audioset_epoch_15_esc_90.14.pt and fadtk's "
    "audio path: compute the reference's statistics with mck stats or embed the reference",
    "encodec-emb": "fad_encodec computes fadtk's encodec-emb frames, but a file without a "
    "recipe cannot show it was made with facebook/encodec_24khz and fadtk's audio path: "
    "compute the reference's statistics with mck stats or embed the reference",
    "encodec-emb-48k": "our encodec embedder is the 24 kHz model (fadtk's encodec-emb)",
    "dac-44kHz": "DAC is not an embedder here",
    "MERT-v1-95M": "fad_MERT-v1-95M computes fadtk's frames, but a file without a recipe "
    "cannot show which weights and layer made it: compute the reference's statistics here",
}


def parse_spec(spec: str) -> tuple[Path, str]:
    """``FILE.npz:MODEL`` -> (path, model)."""
    path, sep, model = spec.rpartition(":")
    if not sep or not path or not model:
        raise ValueError(f"{spec!r}: expected FILE.npz:MODEL")
    if not Path(path).is_file():
        raise FileNotFoundError(f"reference statistics {path} not found")
    return Path(path), model


def write(path: str | Path, model: str, stats: GaussianStats, recipe: dict[str, Any]) -> Path:
    """``MODEL.mu``, ``MODEL.cov`` (n - 1), ``MODEL.n`` and ``MODEL.recipe`` in one .npz."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        **{
            f"{model}.mu": stats.mean,
            f"{model}.cov": stats.cov,
            f"{model}.n": np.array(stats.count),
            f"{model}.recipe": np.array(json.dumps(recipe, sort_keys=True)),
        },
    )
    write_bytes(path, buffer.getvalue())
    return Path(path)


def read(spec: str, recipe: dict[str, Any]) -> GaussianStats:
    """The reference statistics of ``FILE.npz:MODEL`` for an embedder with ``recipe``;
    refused when the file's recipe differs, or when it is fadtk's own (no recipe)."""
    path, model = parse_spec(spec)
    with np.load(path) as data:
        keys = set(data.files)
        if f"{model}.mu" not in keys or f"{model}.cov" not in keys:
            models = sorted({k.rsplit(".", 1)[0] for k in keys})
            raise ValueError(f"{path} has no statistics for {model!r} (it has {models})")
        if f"{model}.recipe" not in keys:
            why = FADTK_MODELS.get(model, "the file does not say how its embeddings were made")
            raise ValueError(
                f"{path}:{model} carries no embedder recipe, so it cannot be checked against "
                f"{recipe['embedder']}: {why}"
            )
        theirs = json.loads(str(data[f"{model}.recipe"]))
        if theirs != json.loads(json.dumps(recipe, sort_keys=True)):
            keys = theirs.keys() | recipe.keys()
            changed = sorted(k for k in keys if theirs.get(k) != recipe.get(k))
            raise ValueError(f"{path}:{model} was made with another recipe (differs in {changed})")
        mu, cov, n = data[f"{model}.mu"], data[f"{model}.cov"], int(data[f"{model}.n"])
    return GaussianStats(n, mu * n, cov * (n - 1) + n * np.outer(mu, mu))
