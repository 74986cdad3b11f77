"""Beam runner options shared by the pipelines.

Locally the pipelines run on Beam's Python FnApiRunner with one worker thread per core
(Beam 2.77's DirectRunner would first try to download the Prism runner binary); any
other runner is chosen with ``--runner`` and its options pass through untouched.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions


def pipeline_options(beam_args: Sequence[str]) -> tuple[PipelineOptions, Any]:
    """Options from the user's Beam flags, and an explicit local runner when none is named."""
    args = list(beam_args)
    if any(a == "--runner" or a.startswith("--runner=") for a in args):
        return PipelineOptions(args), None
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    defaults = {
        "--direct_num_workers": str(os.cpu_count() or 1),
        "--direct_running_mode": "multi_threading",
    }
    for flag, value in defaults.items():
        if not any(a == flag or a.startswith(flag + "=") for a in args):
            args.append(f"{flag}={value}")
    return PipelineOptions(args), FnApiRunner()
