"""The model files each published protocol was computed with, and the claim a column makes.

A column's header says "as MusicGen Table 1" (or "as kadtk", ...) only when its checkpoint
is the file that protocol used, known by its released name (a file name, a hub id or a TF
Hub handle), and its audio took the protocol's path; otherwise it says "<tool>'s recipe,
other weights (<name>)" and no published row is put in its column. The claim carries the
checkpoint's name and the first 12 hex of its sha256, so a reader can check the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Release:
    """A published model file: the names it goes by, and where it is downloaded from.

    ``file`` is the name in the release's URL, ``size`` its bytes where the release says
    (PaSST's GitHub assets), ``hub`` the Hugging Face ``(repo, file)`` that hosts it, and
    ``columns`` the metrics that use it by default. A file released gzipped (openl3's) is
    kept unpacked under ``local_name``."""

    label: str
    names: tuple[str, ...]
    url: str
    file: str | None = None
    size: int | None = None
    hub: tuple[str, str] | None = None
    columns: tuple[str, ...] = ()

    def matches(self, spec: str | Path | None) -> bool:
        """Whether a checkpoint option names this release: the hub id or handle itself, or
        a local file or folder of the released name."""
        if not spec:
            return False
        text = str(spec).rstrip("/")
        return text in self.names or Path(text).name in self.names

    @property
    def packed(self) -> bool:
        return bool(self.file and self.file.endswith(".gz"))

    @property
    def local_name(self) -> str | None:
        """The file name it is kept under: the released name, less ``.gz``."""
        return self.file.removesuffix(".gz") if self.file else None


CLAP_MUSIC = Release(
    "LAION-CLAP music_audioset_epoch_15_esc_90.14.pt",
    ("music_audioset_epoch_15_esc_90.14.pt",),
    "https://huggingface.co/lukewys/laion_clap/resolve/main/music_audioset_epoch_15_esc_90.14.pt",
    file="music_audioset_epoch_15_esc_90.14.pt",
    hub=("lukewys/laion_clap", "music_audioset_epoch_15_esc_90.14.pt"),
    columns=("clap_score", "fad_clap", "kad_clap"),
)
PASST_10S = Release(
    "PaSST-S 10 s (passt_s_swa_p16_128_ap476)",
    ("passt-s-f128-p16-s10-ap.476-swa.pt",),
    "https://github.com/kkoutini/PaSST/releases/download/v0.0.1-audioset/"
    "passt-s-f128-p16-s10-ap.476-swa.pt",
    file="passt-s-f128-p16-s10-ap.476-swa.pt",
    size=344_665_734,
    columns=("fad_passt", "kad_passt", "kld_passt_sao"),
)
PASST_20S = Release(
    "PaSST-S 20 s (passt_20sec)",
    ("passt-s-f128-20sec-p16-s10-ap.474-swa.pt",),
    "https://github.com/kkoutini/PaSST/releases/download/v0.0.5/"
    "passt-s-f128-20sec-p16-s10-ap.474-swa.pt",
    file="passt-s-f128-20sec-p16-s10-ap.474-swa.pt",
    size=344_975_942,
    columns=("kld_passt",),
)
ENCODEC_24K = Release(
    "EnCodec 24 kHz (transformers' facebook/encodec_24khz)",
    ("facebook/encodec_24khz", "encodec_24khz"),
    "https://huggingface.co/facebook/encodec_24khz",
)
CLAP_FUSION_630K = Release(
    "LAION-CLAP 630k-audioset-fusion-best.pt (stable-audio-metrics' default)",
    ("630k-audioset-fusion-best.pt", "lukewys/laion_clap/630k-audioset-fusion-best.pt"),
    "https://huggingface.co/lukewys/laion_clap/resolve/main/630k-audioset-fusion-best.pt",
    file="630k-audioset-fusion-best.pt",
    hub=("lukewys/laion_clap", "630k-audioset-fusion-best.pt"),
    columns=("clap_score_sao",),
)
OPENL3_MEL256_MUSIC = Release(
    "openl3 0.4 audio mel256 music",
    ("openl3_audio_mel256_music.h5", "openl3_audio_mel256_music-v0_4_0.h5"),
    "https://github.com/marl/openl3/raw/models/openl3_audio_mel256_music-v0_4_0.h5.gz",
    file="openl3_audio_mel256_music-v0_4_0.h5.gz",
    columns=("fd_openl3", "fad_openl3", "kad_openl3"),
)
VGGISH = Release(
    "VGGish (TF Hub google/vggish/1)",
    (
        "https://tfhub.dev/google/vggish/1",
        "https://www.kaggle.com/models/google/vggish/TensorFlow2/vggish/1",
        "google/vggish/1",
    ),
    "https://tfhub.dev/google/vggish/1",
)
TRILL = Release(
    "TRILL (TF Hub trill/3)",
    (
        "https://tfhub.dev/google/nonsemantic-speech-benchmark/trill/3",
        "google/nonsemantic-speech-benchmark/trill/3",
    ),
    "https://tfhub.dev/google/nonsemantic-speech-benchmark/trill/3",
)


MUQ_MULAN = Release(
    "MuQ-MuLan large (hub OpenMuQ/MuQ-MuLan-large)",
    ("OpenMuQ/MuQ-MuLan-large", "MuQ-MuLan-large"),
    "https://huggingface.co/OpenMuQ/MuQ-MuLan-large",
)
AUDIOBOX_AESTHETICS = Release(
    "Audiobox Aesthetics (hub facebook/audiobox-aesthetics)",
    ("facebook/audiobox-aesthetics", "audiobox-aesthetics", "checkpoint.pt"),
    "https://huggingface.co/facebook/audiobox-aesthetics",
)

# the single-file releases a bench fetches by name (``bench.model_store``)
FILES = (PASST_20S, PASST_10S, CLAP_MUSIC, CLAP_FUSION_630K, OPENL3_MEL256_MUSIC)


def hub_release(repo: str) -> Release:
    """A model released as a hub repository (fadtk's and kadtk's transformers families)."""
    return Release(f"hub {repo}", (repo,), f"https://huggingface.co/{repo}")


def for_column(metric: str) -> Release | None:
    """The release a column uses when no option names its weights."""
    return next((r for r in FILES if metric in r.columns), None)


def claim(
    header: str,
    tables: tuple[str, ...],
    tool: str,
    release: Release | None,
    checkpoint: str | Path | None,
    sha256: str | None,
    audio_path: str,
    unmet: str | None = None,
) -> dict[str, Any]:
    """The claim of one column. ``header`` and ``tables`` (the published tables whose rows
    may sit in the column) hold when ``checkpoint`` is ``release`` (or no release applies)
    and nothing in ``unmet`` (a reason the audio path is not the protocol's) stands."""
    local = checkpoint is not None and Path(str(checkpoint)).exists()
    name = Path(str(checkpoint)).name if local else checkpoint
    weights_ok = release is None or release.matches(checkpoint)
    if weights_ok and not unmet:
        said, shown = header, tables
    elif not weights_ok:
        said, shown = f"{tool}'s recipe, other weights ({name})", ()
    else:
        said, shown = f"{tool}'s recipe, {unmet}", ()
    return {
        "header": said,
        "tables": list(shown),
        "checkpoint": None if checkpoint is None else str(name),
        "release": release.label if release else None,
        "sha256": sha256[:12] if sha256 else None,
        "audio_path": audio_path,
    }
