"""The leaderboard's columns: each metric as its tool computes it, one module per kind of
column (after AudioCraft's one metric class per file). A column module has a
``compute(model, job) -> MetricResult``; this registry maps metric names to it.

Families take a model name after their prefix (``fad_vggish``, ``kld_musicnn``,
``mcc_clap``; fadtk's and kadtk's transformers families with their layer suffix,
``kad_wavlm_base_plus_3``); the named columns stand alone. A new column is its own module
plus one line here.
"""

from __future__ import annotations

from collections.abc import Callable

from musiccaps_kit.bench.columns import (
    aes,
    clap_score,
    clap_score_sao,
    fad,
    fd_openl3,
    kad,
    kld,
    kld_passt,
    kld_passt_sao,
    mcc,
    mcc_muq,
)
from musiccaps_kit.bench.columns.job import Job, MetricResult, Skipped
from musiccaps_kit.bench.embedders import known_embedders, ssl
from musiccaps_kit.bench.joint import known_joint_models

Compute = Callable[[str, Job], MetricResult]

# prefix -> (the column's compute, the model names it takes)
FAMILIES: dict[str, tuple[Compute, Callable[[], list[str]]]] = {
    "fad": (fad.compute, lambda: [*known_embedders(), *ssl.family_names()]),
    "kad": (kad.compute, lambda: [*known_embedders(), *ssl.family_names()]),
    "kld": (kld.compute, lambda: list(kld.CLASSIFIERS)),
    "mcc": (mcc.compute, known_joint_models),
}
# metric name -> (the column's compute, the embedder options it reads)
NAMED: dict[str, tuple[Compute, str]] = {
    "clap_score": (clap_score.compute, "clap"),
    "fad_vggish_audiocraft": (fad.compute_audiocraft, "vggish"),
    "kld_passt": (kld_passt.compute, "passt-kl"),
    "fd_openl3": (fd_openl3.compute, "openl3"),
    "kld_passt_sao": (kld_passt_sao.compute, "passt-sao"),
    "clap_score_sao": (clap_score_sao.compute, "clap-sao"),
    "mcc_muq": (mcc_muq.compute, "muq"),
    **{f"aes_{axis}": (aes.compute, "aes") for axis in ("ce", "cu", "pc", "pq")},
}


def known_metrics() -> list[str]:
    """Every metric name ``--metrics`` takes, from the registries."""
    family = [f"{prefix}_{m}" for prefix, (_, models) in FAMILIES.items() for m in models()]
    return family + list(NAMED)


def column(metric: str) -> tuple[Compute, str]:
    """The compute function and model behind a metric name, checked before work starts."""
    if metric in NAMED:
        return NAMED[metric]
    prefix, _, model = metric.partition("_")
    if prefix in FAMILIES and model in FAMILIES[prefix][1]():
        return FAMILIES[prefix][0], model
    if prefix in ("fad", "kad"):
        try:
            found = ssl.parse(model)
        except ValueError as e:  # a layer the model does not have, a layer on Whisper
            raise ValueError(f"{metric}: {e}") from None
        if found is not None:
            return FAMILIES[prefix][0], model
    raise ValueError(f"unknown metric {metric!r}: known are {', '.join(known_metrics())}")


__all__ = ["Job", "MetricResult", "Skipped", "column", "known_metrics"]
