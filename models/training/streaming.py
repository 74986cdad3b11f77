"""Training crops streamed from a record split's shards, for sets too large to hold.

``StreamingCrops`` is a ``torch.utils.data.IterableDataset``: every reader (a DataLoader
worker of a rank) reads its own shards (shard ``i`` to reader ``i % readers``) in an order
drawn per epoch, keeps a shuffle buffer of ``buffer`` clips and emits a random crop of a
clip drawn from the buffer as each new clip comes in; at most ``buffer`` clips per reader
are ever in memory. ``streaming_batches`` wraps it in a ``DataLoader`` that yields the
``Batch`` the tasks take. Seeded: the same seed, rank, worker count and shards give the
same crops. Unlike the in-memory clip bank, the order depends on the number of readers,
so a resumed or re-sharded run sees other crops (the bank's draws are exact).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from musiccaps_kit.audio import resample
from musiccaps_kit.data import schema
from musiccaps_kit.data.records import shard_paths
from musiccaps_kit.data.tfrecord import read_records
from musiccaps_kit.models.records import Batch


class StreamingCrops(torch.utils.data.IterableDataset):
    def __init__(
        self,
        records: str | Path,
        rate: int,
        crop: int,
        seed: int = 0,
        buffer: int = 64,
        rank: int = 0,
        world: int = 1,
        split: str = "train",
        epochs: int | None = None,
    ):
        self.paths = shard_paths(records, split)
        self.rate, self.crop, self.seed, self.buffer = rate, crop, seed, buffer
        self.rank, self.world, self.epochs = rank, world, epochs

    def _reader(self) -> tuple[int, int]:
        worker = torch.utils.data.get_worker_info()
        workers, worker_id = (worker.num_workers, worker.id) if worker else (1, 0)
        readers = self.world * workers
        if len(self.paths) < readers:
            raise ValueError(
                f"{len(self.paths)} shards for {readers} readers ({self.world} ranks x "
                f"{workers} workers): prepare at least as many shards as readers"
            )
        return self.rank * workers + worker_id, readers

    def _clips(self, shards: list[Path], rng: np.random.Generator) -> Iterator[tuple]:
        for k in rng.permutation(len(shards)):
            for blob in read_records(shards[k]):
                record = schema.decode(blob)
                source = self.rate if self.rate in record.audio else max(record.audio)
                wave = resample(record.audio[source], source, self.rate)
                yield wave, record.caption, record.id

    def _crop(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        start = int(rng.integers(0, max(len(wave) - self.crop, 0) + 1))
        piece = wave[start : start + self.crop]
        return np.pad(piece, (0, self.crop - len(piece)))

    def __iter__(self) -> Iterator[tuple[np.ndarray, str, str]]:
        me, readers = self._reader()
        shards = self.paths[me::readers]
        epoch = 0
        while self.epochs is None or epoch < self.epochs:
            rng = np.random.default_rng([self.seed, me, epoch])
            held: list[tuple] = []
            for clip in self._clips(shards, rng):
                held.append(clip)
                if len(held) >= self.buffer:
                    wave, caption, clip_id = held.pop(int(rng.integers(len(held))))
                    yield self._crop(wave, rng), caption, clip_id
            while held:  # the epoch's last clips
                wave, caption, clip_id = held.pop(int(rng.integers(len(held))))
                yield self._crop(wave, rng), caption, clip_id
            epoch += 1


def collate_crops(items: list[tuple[np.ndarray, str, str]]) -> Batch:
    return Batch(
        torch.from_numpy(np.stack([i[0] for i in items])),
        [i[1] for i in items],
        [i[2] for i in items],
    )


def streaming_batches(
    records: str | Path,
    rate: int,
    crop: int,
    batch_size: int,
    seed: int = 0,
    workers: int = 0,
    buffer: int = 64,
    rank: int = 0,
    world: int = 1,
    epochs: int | None = None,
) -> torch.utils.data.DataLoader:
    """Batches of streamed crops for this rank (``batch_size``: this rank's share)."""
    dataset = StreamingCrops(records, rate, crop, seed, buffer, rank, world, epochs=epochs)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=collate_crops,
        persistent_workers=workers > 0,
    )
