"""``fd_openl3``: stable-audio-metrics' FD-openl3 (``openl3_fd.py``), Stable Audio's "FD":
every file of each side (not only the ids they share: the tool globs both folders), their
OpenL3 frames pooled, mean and covariance (n - 1), the Fréchet distance. The reference may
be the tool's own statistics (``--reference-stats load/openl3_fd/*.npz``: ``mu_ref``,
``sigma_ref``). Its published configuration: 44.1 kHz, 2 channels, hop 0.5 s, the mel256
music weights."""

from __future__ import annotations

from musiccaps_kit.bench import releases
from musiccaps_kit.bench.columns.fad import frechet
from musiccaps_kit.bench.columns.job import Job, MetricResult

HEADER = "as stable-audio-metrics (Stable Audio Open's FD_openl3)"


def compute(name: str, job: Job) -> MetricResult:
    def claim(model, path: str) -> dict:
        unmet = None
        if (model.rate, model.channels) != (44100, 2):
            unmet = f"at {model.rate} Hz with {model.channels} channel(s), not 44100 Hz stereo"
        return releases.claim(
            HEADER, ("StableAudio",), "stable-audio-metrics", releases.OPENL3_MEL256_MUSIC,
            model.weights_name(), model.weights_checksum(), path, unmet,
        )  # fmt: skip

    return frechet("openl3", job, paired=False, claim=claim)
