"""``kld_passt_sao``: stable-audio-metrics' KL-PaSST (``passt_kld.py``), Stable Audio's
"KL": per id, the softmax of the 10 s PaSST's logits collected over 10 s windows every
5 s (``PasstSao``), then ``F.kl_div((p_ref + 1e-6).log(), p_sys, reduction="sum")`` =
KL(system || reference) with 1e-6 on the reference side (the reverse of AudioCraft's), in
float32 as the tool computes it; the mean over ids. The reference is audio or the tool's
pickled probabilities (``--reference FILE.pkl``). Its model is the 10 s PaSST: its own
(``--model kld_passt_sao=FILE``, else the release fetched by name), or whichever of
``--passt-checkpoint`` and ``--passt-embedding-checkpoint`` holds it."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from musiccaps_kit.bench import releases
from musiccaps_kit.bench.columns.job import Job, MetricResult, mean_with_interval
from musiccaps_kit.bench.embedders.passt import PasstSao
from musiccaps_kit.bench.embedders.passt_network import PasstCheckpointError
from musiccaps_kit.bench.sao_reference import ReferenceProbabilities

EPS = 1e-6


@lru_cache(maxsize=2)
def _model(checkpoints: tuple[str, ...], collect: str) -> PasstSao:
    refused = []
    for checkpoint in checkpoints:
        try:
            return PasstSao(checkpoint, collect)
        except PasstCheckpointError as e:
            refused.append(str(e))
    if not checkpoints:  # its release, fetched by name
        return PasstSao(None, collect)
    raise PasstCheckpointError(
        "kld_passt_sao needs the 10 s PaSST, and no PaSST option holds it: " + "; ".join(refused)
    )


def kl(p_reference: np.ndarray, p_system: np.ndarray) -> float:
    """``F.kl_div((p_ref + 1e-6).log(), p_sys, reduction="sum")`` in float32."""
    import torch
    import torch.nn.functional as F

    ref = torch.as_tensor(p_reference, dtype=torch.float32)
    sys = torch.as_tensor(p_system, dtype=torch.float32)
    return float(F.kl_div((ref + EPS).log(), sys, reduction="sum", log_target=False))


def probabilities(logits: np.ndarray) -> np.ndarray:
    """``F.softmax(collected logits, dim=0)`` in float32, as the tool returns them."""
    import torch

    return torch.softmax(torch.as_tensor(logits[0], dtype=torch.float32), dim=0).numpy()


def compute(name: str, job: Job) -> MetricResult:
    settings = job.settings
    ids = job.require_pairs()
    own = job.options("passt-sao").get("checkpoint")  # --model, or the release fetched
    files = [own] if own else [job.options(k).get("checkpoint") for k in ("passt", "passt-kl")]
    model = _model(tuple(dict.fromkeys(f for f in files if f)), settings.kl_collect)
    if isinstance(job.reference, ReferenceProbabilities):
        p_ref = {i: job.reference.probabilities[i] for i in ids}
        source = f"stable-audio-metrics' probabilities ({job.reference.path.name})"
    else:
        ref = job.embed_set(model, job.reference, ids, "reference")
        p_ref = {i: probabilities(ref[i]) for i in ids}
        source = "the reference clips"
    sys_logits = job.embed_set(model, job.system, ids, job.label)
    with job.timings.phase("statistics"):
        per_id = {i: kl(p_ref[i], probabilities(sys_logits[i])) for i in ids}
    value, ci = mean_with_interval(per_id, job)
    unmet = None if settings.kl_collect == "mean" else "collected by max, not mean"
    claim = releases.claim(
        "as stable-audio-metrics (Stable Audio Open's KL_passt)", ("StableAudio",),
        "stable-audio-metrics", releases.PASST_10S, model.weights_name(),
        model.weights_checksum(), model.audio_path.summary(), unmet,
    )  # fmt: skip
    recipe = {
        **job.model_recipe(model),
        "claim": claim,
        "input_audio": job.audio_recipe(model, ids, ids),
        "reference": source,
        "kl": "F.kl_div((p_ref + 1e-6).log(), p_sys, reduction='sum') = KL(system || "
        "reference + 1e-6) per id in float32, softmax of the collected logits; mean over ids",
        "collect": settings.kl_collect,
        **job.interval_recipe("ids"),
    }
    return MetricResult(value, ci, len(per_id), recipe, per_id)
