"""Named sets of metrics (``--metrics offline``, ``paper``, ``musicgen``, ``fadtk``, ``kad``)
and what each leaves out when a model is not at hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from musiccaps_kit.bench.columns import column, known_metrics
from musiccaps_kit.bench.embedders import known_embedders
from musiccaps_kit.bench.settings import BenchSettings

METRIC_SETS = ("offline", "paper", "musicgen", "fadtk", "kad", "sao")
# the option that makes an embedder local (offline) for the ``offline`` and ``kad`` sets
LOCAL_OPTION = {
    "leaf": "checkpoint",
    "vggish": "handle",
    "trill": "handle",
    "clap": "model",
    "encodec": "model",
    "passt": "checkpoint",
    "passt-kl": "checkpoint",
    "openl3": "weights",
}


def _local(options: dict[str, Any], key: str) -> bool:
    value = options.get(key)
    return bool(value) and Path(str(value)).exists()


def available(model: str, options: dict[str, dict[str, Any]]) -> bool:
    """Whether an embedder runs without a download: musicnn ships in its package; the
    others when their option names a local file or folder."""
    if model == "musicnn":
        return True
    key = LOCAL_OPTION.get(model)
    return key is not None and _local(options.get(model, {}), key)


def _names(names: str | tuple[str, ...]) -> list[str]:
    if isinstance(names, str):
        names = tuple(names.split(","))
    return [n.strip().lower().replace("-", "_") for n in names if n.strip()]


def vggish_protocol(names: str | tuple[str, ...], settings: BenchSettings) -> tuple[str, list]:
    """Which published FAD-VGGish ``fad_vggish`` follows, and a note when two sets asked
    for both: ``musicgen`` (AudioCraft's files) when asked for, or when ``auto`` and the
    musicgen set is in the list; else ``musiclm`` (Google's FAD on the files as given)."""
    asked = set(_names(names))
    if settings.vggish_protocol != "auto":
        return settings.vggish_protocol, []
    if "musicgen" not in asked:
        return "musiclm", []
    notes = []
    if "paper" in asked:
        notes.append(
            "fad_vggish follows MusicGen's protocol (the musicgen set); MusicLM's needs "
            "--vggish-protocol musiclm in a bench of its own"
        )
    return "musicgen", notes


def resolve_metrics(
    names: str | tuple[str, ...], settings: BenchSettings
) -> tuple[tuple[str, ...], list[str]]:
    """Metric names (dashes or underscores, comma-separated or a tuple) with the named sets
    expanded, and notes on what a set left out.

    ``offline``: every metric whose model needs no download (musicnn; LEAF, VGGish, TRILL
    and the MCC model when they are local files). ``paper``: MusicLM's Table 1 (FAD-TRILL,
    FAD-VGGish, KLD: LEAF if a checkpoint is given, else musicnn standing in; MCC: the
    configured joint model, MuLan by default). ``musicgen``: MusicGen's Table 1 (FAD-VGGish,
    KL-PaSST when a PaSST checkpoint is given, CLAP score). ``fadtk``: FAD on CLAP and
    EnCodec. ``kad``: KAD on every embedder available without a download. ``sao``:
    stable-audio-metrics' FD-openl3 (with ``--openl3-weights``), KL-PaSST (with a 10 s PaSST)
    and CLAP score. The published
    sets (paper, musicgen, fadtk) download hub models a user has not given as files."""
    options, notes, out = settings.embedder_options, [], []
    mcc_model = settings.mcc_model or "mulan"
    has_mcc = _local(settings.joint_options.get(mcc_model, {}), "checkpoint")
    for name in _names(names):
        if name == "offline":
            out += ["fad_musicnn", "kld_musicnn"]
            if available("leaf", options):
                out += ["fad_leaf", "kld_leaf"]
            out += [f"fad_{m}" for m in ("vggish", "trill") if available(m, options)]
            if settings.mcc_model and has_mcc:
                out.append(f"mcc_{settings.mcc_model}")
        elif name == "paper":
            out += ["fad_trill", "fad_vggish"]
            if available("leaf", options):
                out.append("kld_leaf")
            else:
                out.append("kld_musicnn")
                notes.append("paper set: kld_musicnn stands in for KLD (no --leaf-checkpoint)")
            if has_mcc:
                out.append(f"mcc_{mcc_model}")
            else:
                notes.append("paper set: MCC left out (no --mcc-checkpoint)")
        elif name == "musicgen":
            out += ["fad_vggish", "kld_passt", "clap_score"]
            if not available("passt-kl", options):
                out.remove("kld_passt")
                notes.append("musicgen set: kld_passt left out (no --passt-checkpoint)")
        elif name == "fadtk":
            out += ["fad_clap", "fad_encodec"]
        elif name == "sao":
            out += ["fd_openl3", "kld_passt_sao", "clap_score_sao"]
            if not available("openl3", options):
                out.remove("fd_openl3")
                notes.append("sao set: fd_openl3 left out (no --openl3-weights)")
            if not (available("passt", options) or available("passt-kl", options)):
                out.remove("kld_passt_sao")
                notes.append("sao set: kld_passt_sao left out (no 10 s PaSST checkpoint)")
        elif name == "kad":
            for model in known_embedders():
                if available(model, options):
                    out.append(f"kad_{model}")
                else:
                    notes.append(f"kad set: kad_{model} left out (its model is not a local file)")
        else:
            try:
                column(name)
            except ValueError:
                known = ", ".join([*known_metrics(), *METRIC_SETS])
                raise ValueError(f"unknown metric {name!r}: known are {known}") from None
            out.append(name)
    return tuple(dict.fromkeys(out)), notes
