"""``mck bench`` across processes and machines (``torchrun``): each rank embeds a disjoint
share of every clip the bench needs into the shared ``--cache-dir``, then rank 0 computes
the metrics from the cache and writes the report.

How a rank learns what to embed: it runs the bench's columns with a ``Shard`` on its job.
Every embedding goes through ``Job.embed_set``, which then embeds only the rank's share of
the ids asked for (every ``world``-th of them in sorted order, so the shares are disjoint
and together whole) and stands placeholders in for the others, so that the column goes
on to its next request; what the column computes from them is thrown away. An error
raised while embedding (a bad clip, a bad checkpoint) stops the run as it would in one
process. A ``monitored_barrier`` then waits for every rank, naming any that does not
arrive (it died: rerun, and what it embedded is in the cache).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

# how long rank 0 waits for the others to finish embedding
BARRIER_TIMEOUT = timedelta(hours=12)
PLACEHOLDER = np.zeros((1, 1), dtype=np.float32)


class RankFailed(ConnectionError):
    """A rank that did not reach the end of the embedding phase."""


@dataclass
class Shard:
    rank: int
    world: int
    # clips this rank embedded or found cached, per request
    clips: int = field(default=0)

    def share(self, ids) -> list[str]:
        return sorted(ids)[self.rank :: self.world]


def from_environment() -> Shard | None:
    """The shard of a process that ``torchrun`` started (``RANK``, ``WORLD_SIZE``), or None
    for a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    return Shard(int(os.environ.get("RANK", "0")), world)


def local_device(spec: str) -> str:
    """``--device`` for this rank: a CUDA device becomes ``cuda:LOCAL_RANK``."""
    from musiccaps_kit.bench import device

    if device.resolve(spec).type == "cuda" and ":" not in spec:
        return f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    return spec


def start() -> None:
    """Join the ranks (gloo: only barriers and small objects go over it)."""
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)


def finish_embedding(shard: Shard) -> list[int]:
    """Wait for every rank (naming those that do not arrive); the clips each embedded."""
    import torch.distributed as dist

    try:
        dist.monitored_barrier(timeout=BARRIER_TIMEOUT, wait_all_ranks=True)
    except RuntimeError as e:
        raise RankFailed(
            f"rank {shard.rank}: not every rank finished embedding ({str(e).splitlines()[0]}); "
            "rerun: what was embedded is in the cache"
        ) from None
    counts: list = [None] * shard.world
    dist.all_gather_object(counts, shard.clips)
    return counts


def stop() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
