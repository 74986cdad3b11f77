"""What a bench is asked to do: ``BenchSettings`` and the per-model options built from the
command line's flags (one place, so that the CLI and the library build them alike)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from musiccaps_kit.bench.joint import known_joint_models


@dataclass(frozen=True)
class BenchSettings:
    # MusicGen's Table 1 columns, each on its released weights (fetched by name)
    metrics: tuple[str, ...] = ("musicgen",)
    embedder_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    kl_convention: str = "bernoulli"
    bootstrap_rounds: int = 200
    confidence: float = 0.95
    seed: int = 0
    batch_size: int = 16
    # captions for text metrics: "auto" (the reference records' caption table, else
    # MusicCaps'), a catalog name or a CSV
    captions: str = "auto"
    # fadtk-format statistics (FILE.npz:MODEL) in place of the reference clips for fad_MODEL
    reference_stats: str | None = None
    # the joint model --mcc-checkpoint belongs to (for the metric sets)
    mcc_model: str | None = None
    # per joint model (mcc_*): its settings, apart from the embedders' (CLAP is both)
    joint_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    # a listening study (mck listen analyze's listening.json): which metric agrees with it
    listening: str | None = None
    # FAD-inf and KAD-inf (25 more FADs or KADs per metric: KAD's cost grows with frames^2)
    inf: bool = True
    # AudioCraft's loudness step (-14 LUFS) on the system's audio for MusicGen's columns
    loudness: bool = True
    # stable-audio-metrics' KL: the windows' logits collected by "mean" (its default) or "max"
    kl_collect: str = "mean"
    # where the torch models and KAD run (auto: a GPU when torch sees one), and the precision
    # of their matrix products (float32; tf32 on CUDA only, when asked)
    device: str = "auto"
    precision: str = "float32"
    # how the embedding was shared out: {"processes": N, "clips_per_process": [...]}
    embedding: dict[str, Any] = field(default_factory=dict)
    # ids taken out of the reference (a file of ids, or a named list such as sao-musiccaps)
    exclude_reference: str | None = None
    # one column's weights (--model METRIC=SPEC), over the family options
    metric_models: dict[str, str] = field(default_factory=dict)
    # each column's weights as the bench settled them (``column_weights.resolve``): a
    # column's own options, over its embedder's
    metric_options: dict[str, dict[str, Any]] = field(default_factory=dict)


def model_options(
    vggish: str | None = None,
    vggish_frontend: str = "google2019",
    trill: str | None = None,
    trill_output: str = "embedding",
    leaf_checkpoint: str | None = None,
    clap_model: str | None = None,
    clap_tokenizer: str | None = None,
    encodec_model: str | None = None,
    passt_checkpoint: str | None = None,
    passt_embedding_checkpoint: str | None = None,
    openl3_weights: str | None = None,
    openl3_rate: int = 44100,
    openl3_channels: int = 2,
    muq_mulan_model: str | None = None,
    muq_tokenizer: str | None = None,
    aes_model: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Per-embedder settings (``BenchSettings.embedder_options``) from the bench's options:
    TF Hub handles, the LEAF checkpoint, the CLAP and EnCodec models (hub id or local), the
    PaSST checkpoints: ``passt`` is kadtk's embedding (fad_passt, kad_passt), ``passt-kl``
    AudioCraft's KL classifier (kld_passt); each falls back on the other's file. The CLAP of
    stable-audio-metrics' score (``clap-sao``) is ``--clap-model`` too, its own default
    (630k-audioset-fusion-best.pt) when none is given; OpenL3's weights, evaluation rate and
    channels; MuQ-MuLan's release and text tokenizer (mcc_muq); Audiobox Aesthetics' release
    (aes_*)."""
    options: dict[str, dict[str, Any]] = {
        "vggish": {"frontend": vggish_frontend},
        "trill": {"output": trill_output},
    }
    if vggish:
        options["vggish"]["handle"] = vggish
    if trill:
        options["trill"]["handle"] = trill
    if leaf_checkpoint:
        options["leaf"] = {"checkpoint": leaf_checkpoint}
    if clap_model:
        options["clap"] = {"model": clap_model}
    if clap_tokenizer:
        options.setdefault("clap", {})["tokenizer"] = clap_tokenizer
        options["clap-sao"] = {"tokenizer": clap_tokenizer}
    if clap_model:
        options.setdefault("clap-sao", {})["model"] = clap_model
    options["openl3"] = {"rate": openl3_rate, "channels": openl3_channels}
    if openl3_weights:
        options["openl3"]["weights"] = openl3_weights
    if encodec_model:
        options["encodec"] = {"model": encodec_model}
    if muq_mulan_model:
        options["muq"] = {"model": muq_mulan_model}
    if muq_tokenizer:
        options.setdefault("muq", {})["tokenizer"] = muq_tokenizer
    if aes_model:
        options["aes"] = {"model": aes_model}
    kl_file = passt_checkpoint or passt_embedding_checkpoint
    embedding_file = passt_embedding_checkpoint or passt_checkpoint
    if embedding_file:
        options["passt"] = {"checkpoint": embedding_file}
    if kl_file:
        options["passt-kl"] = {"checkpoint": kl_file}
    return options


def joint_model_options(
    mcc_checkpoint: str | None = None, clap_amodel: str = "HTSAT-tiny"
) -> dict[str, dict[str, Any]]:
    """Per-joint-model settings (``BenchSettings.joint_options``): the checkpoint for every
    MCC model, and LAION-CLAP's audio tower."""
    if not mcc_checkpoint:
        return {}
    options = {joint: {"checkpoint": mcc_checkpoint} for joint in known_joint_models()}
    options["clap"]["amodel"] = clap_amodel
    return options


def parse_systems(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``NAME=FOLDER`` items as a name -> folder mapping; a bad item is a ValueError."""
    named = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not Path(path).is_dir():
            raise ValueError(f"{item!r}: expected NAME=FOLDER")
        named[name] = path
    return named
