"""Named sets of metrics (``--metrics offline``, ``paper``, ``musicgen``, ``fadtk``, ``kad``)
and what each leaves out when a model is not at hand."""

from __future__ import annotations

from pathlib import Path

from musiccaps_kit.bench.column_weights import local
from musiccaps_kit.bench.columns import column, known_metrics
from musiccaps_kit.bench.embedders import known_embedders, ssl
from musiccaps_kit.bench.settings import BenchSettings

METRIC_SETS = ("offline", "paper", "musicgen", "fadtk", "kad", "sao", "aes", "learned")
AES = ["aes_ce", "aes_cu", "aes_pc", "aes_pq"]


def _local(options: dict, key: str) -> bool:
    value = options.get(key)
    return bool(value) and Path(str(value)).exists()


def _names(names: str | tuple[str, ...]) -> list[str]:
    if isinstance(names, str):
        names = tuple(names.split(","))
    return [n.strip().lower().replace("-", "_") for n in names if n.strip()]


def resolve_metrics(
    names: str | tuple[str, ...], settings: BenchSettings
) -> tuple[tuple[str, ...], list[str]]:
    """Metric names (dashes or underscores, comma-separated or a tuple) with the named sets
    expanded, and notes on what a set left out.

    ``offline``: every metric whose model needs no download (musicnn; LEAF, VGGish, TRILL
    and the MCC model when they are local files). ``paper``: MusicLM's Table 1 (FAD-TRILL,
    FAD-VGGish, KLD: LEAF if a checkpoint is given, else musicnn standing in; MCC: the
    configured joint model, MuLan by default). ``musicgen``: MusicGen's Table 1 (FAD-VGGish
    on AudioCraft's files, KL-PaSST, CLAP score). ``fadtk``: FAD on CLAP and EnCodec.
    ``kad``: KAD on every embedder whose weights are here (named by a local path, or a
    release already fetched).
    ``sao``: stable-audio-metrics' FD-openl3, KL-PaSST and CLAP score. The published sets
    fetch the released files their columns use (``column_weights``)."""
    notes, out = [], []
    mcc_model = settings.mcc_model or "mulan"
    has_mcc = _local(settings.joint_options.get(mcc_model, {}), "checkpoint")
    for name in _names(names):
        if name == "offline":
            out += ["fad_musicnn", "kld_musicnn"]
            if local("fad_leaf", settings):
                out += ["fad_leaf", "kld_leaf"]
            out += [f"fad_{m}" for m in ("vggish", "trill") if local(f"fad_{m}", settings)]
            if settings.mcc_model and has_mcc:
                out.append(f"mcc_{settings.mcc_model}")
        elif name == "paper":
            out += ["fad_trill", "fad_vggish"]
            if local("kld_leaf", settings):
                out.append("kld_leaf")
            else:
                out.append("kld_musicnn")
                notes.append("paper set: kld_musicnn stands in for KLD (no --leaf-checkpoint)")
            if has_mcc:
                out.append(f"mcc_{mcc_model}")
            elif _muq_at_hand(settings):
                out.append("mcc_muq")
            else:
                notes.append(
                    "paper set: MCC left out (no --mcc-checkpoint, no MuQ-MuLan weights here)"
                )
        elif name == "musicgen":
            out += ["fad_vggish_audiocraft", "kld_passt", "clap_score"]
        elif name == "fadtk":
            out += ["fad_clap", "fad_encodec"]
        elif name == "sao":
            out += ["fd_openl3", "kld_passt_sao", "clap_score_sao"]
        elif name == "aes":
            out += AES
        elif name == "learned":
            out += ["mcc_muq", *AES]
        elif name == "kad":
            models = [*known_embedders(), *ssl.family_names()]
            here = [m for m in models if local(f"kad_{m}", settings)]
            out += [f"kad_{m}" for m in here]
            gone = [f"kad_{m}" for m in models if m not in here]
            if gone:
                notes.append(f"kad set: {', '.join(gone)} left out (their models are not here)")
        else:
            try:
                column(name)
            except ValueError as e:
                if not str(e).startswith("unknown metric"):
                    raise  # a known family with a layer it does not have
                known = ", ".join([*known_metrics(), *METRIC_SETS])
                raise ValueError(f"unknown metric {name!r}: known are {known}") from None
            out.append(name)
    return tuple(dict.fromkeys(out)), notes


def _muq_at_hand(settings: BenchSettings) -> bool:
    """Whether MuQ-MuLan's weights are here: a local folder named, or the release in the
    Hugging Face cache."""
    spec = settings.metric_models.get("mcc_muq") or settings.embedder_options.get("muq", {}).get(
        "model"
    )
    if spec:
        return Path(spec).expanduser().is_dir()
    from huggingface_hub import try_to_load_from_cache

    from musiccaps_kit.bench.embedders.muq import DEFAULT_MODEL, WEIGHTS

    found = try_to_load_from_cache(DEFAULT_MODEL, WEIGHTS)
    return isinstance(found, str)


def set_columns(name: str) -> list[str]:
    """Every column a named set may hold, whatever is at hand (what ``mck models fetch
    SET`` brings the weights of)."""
    full = {
        "offline": [],
        "paper": ["fad_trill", "fad_vggish", "kld_leaf"],
        "musicgen": ["fad_vggish_audiocraft", "kld_passt", "clap_score"],
        "fadtk": ["fad_clap", "fad_encodec"],
        "sao": ["fd_openl3", "kld_passt_sao", "clap_score_sao"],
        "kad": [f"kad_{m}" for m in [*known_embedders(), *ssl.family_names()]],
        "aes": AES,
        "learned": ["mcc_muq", *AES],
    }
    return full[name]


def fetch_named(names: str, folder: Path | None = None) -> list[Path]:
    """The released files of sets, metrics or file names (comma- or space-separated), each
    found or fetched once into ``folder`` (default ``$MCK_MODELS``)."""
    from musiccaps_kit.bench import model_store, releases

    wanted = []
    for name in names.replace(",", " ").split():
        key = name.strip().lower().replace("-", "_")
        if key in METRIC_SETS:
            wanted += [r for m in set_columns(key) if (r := releases.for_column(m))]
        elif name in model_store.names() or name in {r.local_name for r in releases.FILES}:
            wanted.append(model_store.by_name(name))
        else:
            column(key)  # a ValueError naming the known metrics
            release = releases.for_column(key)
            if release is None:
                raise ValueError(f"{name}: its weights are not a released file mck fetches")
            wanted.append(release)
    return model_store.fetch_all(wanted, names, folder)
