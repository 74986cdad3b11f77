"""Which weights each column of a bench runs on, settled before the first clip is embedded.

For every column, in order: ``--model METRIC=SPEC`` (that column alone); else the family
option that sets it today (``--clap-model`` for every CLAP column, ``--passt-checkpoint``,
``--openl3-weights``, ...); else the file its protocol used (``releases.for_column``),
found by name or fetched once (``model_store``). Columns with hub ids or TF Hub handles
as their default (EnCodec, VGGish, TRILL) keep loading them as before.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from musiccaps_kit.bench import model_store, releases
from musiccaps_kit.bench.embedders import ssl
from musiccaps_kit.bench.settings import BenchSettings

# the embedder option that names an embedder's weights
WEIGHT_KEY = {
    "leaf": "checkpoint",
    "vggish": "handle",
    "trill": "handle",
    "clap": "model",
    "clap-sao": "model",
    "encodec": "model",
    "passt": "checkpoint",
    "passt-kl": "checkpoint",
    "passt-sao": "checkpoint",
    "openl3": "weights",
    "muq": "model",
    "aes": "model",
    "ssl": "model",
}
# the named columns' option groups (families use their embedder's name)
NAMED_GROUP = {
    "clap_score": "clap",
    "clap_score_sao": "clap-sao",
    "kld_passt": "passt-kl",
    "kld_passt_sao": "passt-sao",
    "fd_openl3": "openl3",
    "mcc_muq": "muq",
    **{f"aes_{axis}": "aes" for axis in ("ce", "cu", "pc", "pq")},
}
# groups whose weights may be a hub id or a TF Hub handle rather than a local path
REMOTE_SPEC = {"clap", "clap-sao", "encodec", "vggish", "trill", "muq", "aes", "ssl"}
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(/[\w.-]+\.pt)?$")


def ssl_family(metric: str) -> str | None:
    """The transformers family key (``wavlm-base-plus``) of a ``fad_``/``kad_`` column."""
    prefix, _, model = metric.partition("_")
    parsed = ssl.parse(model) if prefix in ("fad", "kad") else None
    return None if parsed is None else parsed[0].name.lower()


def weight_group(metric: str) -> str | None:
    """The option group of a column's weights, or None for a column without any."""
    if metric in NAMED_GROUP:
        return NAMED_GROUP[metric]
    if ssl_family(metric):
        return "ssl"
    prefix, _, model = metric.partition("_")
    if prefix in ("fad", "kad", "kld") and model in WEIGHT_KEY:
        return model
    return None


def parse_models(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``METRIC=SPEC`` items as metric -> spec; an unknown metric, a metric without weights
    or a SPEC that is neither a path here nor a hub id is a ValueError naming it."""
    from musiccaps_kit.bench.columns import column

    out = {}
    for item in items:
        name, sep, spec = item.partition("=")
        metric = name.strip().lower().replace("-", "_")
        if not sep or not metric or not spec:
            raise ValueError(f"--model {item!r}: expected METRIC=SPEC or FAMILY=SPEC")
        if metric.replace("_", "-") in ssl.FAMILIES:  # a family: every layer, fad and kad
            metric, group = metric.replace("_", "-"), "ssl"
        else:
            column(metric)  # a ValueError naming the known metrics
            group = weight_group(metric)
        if group is None:
            raise ValueError(f"--model {item}: {metric} takes no model weights")
        remote = group in REMOTE_SPEC and (HUB_ID.match(spec) or "://" in spec)
        if not Path(spec).expanduser().exists() and not remote:
            raise ValueError(f"--model {item}: {spec} does not exist")
        out[metric] = spec
    return out


def _family_given(metric: str, group: str, options: dict[str, dict[str, Any]]) -> bool:
    """Whether today's family options name this column's weights."""
    if group == "passt-sao":  # the 10 s PaSST from whichever PaSST option holds it
        return any(options.get(g, {}).get("checkpoint") for g in ("passt", "passt-kl"))
    return bool(options.get(group, {}).get(WEIGHT_KEY[group]))


def resolve(metrics: tuple[str, ...], settings: BenchSettings, asked: str) -> BenchSettings:
    """``settings`` with ``metric_options`` holding each column's weights (a local file
    for every release it defaults to, fetched now); ``model_store.MissingModels`` names
    every file that cannot be had, before anything is embedded."""
    chosen: dict[str, dict[str, Any]] = {}
    wanted: dict[str, releases.Release] = {}
    for metric in metrics:
        group = weight_group(metric)
        if group is None:
            continue
        key = WEIGHT_KEY[group]
        named = settings.metric_models.get(metric) or settings.metric_models.get(
            ssl_family(metric) or ""
        )
        if named:
            chosen[metric] = {key: named}
        elif not _family_given(metric, group, settings.embedder_options):
            release = releases.for_column(metric)
            if release is not None:
                wanted[metric] = release
    for metric in metrics:  # the transformers families: folder, class, processor, now
        if ssl_family(metric):
            try:
                ssl.make(metric.partition("_")[2], **chosen.get(metric, {}))
            except ValueError as e:
                raise ValueError(f"{metric}: {e}") from None
    if wanted:
        paths = model_store.fetch_all(list(wanted.values()), asked)
        by_release = dict(zip(dict.fromkeys(wanted.values()), paths, strict=True))
        for metric, release in wanted.items():
            chosen[metric] = {WEIGHT_KEY[weight_group(metric)]: str(by_release[release])}
    return replace(settings, metric_options=chosen)


def local(metric: str, settings: BenchSettings) -> bool:
    """Whether a column's weights are here without a download: named by a local path, or
    its release already fetched."""
    group = weight_group(metric)
    if group is None:
        return True
    spec = (
        settings.metric_models.get(metric)
        or settings.metric_models.get(ssl_family(metric) or "")
        or settings.embedder_options.get(group, {}).get(WEIGHT_KEY[group])
    )
    if spec:
        return Path(str(spec)).expanduser().exists()
    if group == "ssl":  # the tools' hub repo, already in the Hugging Face cache
        from huggingface_hub import try_to_load_from_cache

        family = ssl.parse(metric.partition("_")[2])[0]
        return isinstance(try_to_load_from_cache(family.hub, "config.json"), str)
    release = releases.for_column(metric)
    return release is not None and model_store.locate(release) is not None
