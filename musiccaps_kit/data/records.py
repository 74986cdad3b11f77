"""A prepared record set: its ``dataset_info.json`` and its records, read back as plain
Python, tf.data, or a PyTorch DataLoader.

All three readers go through ``dataset_info.json`` to find the shards of a split and
through ``schema`` to decode them, so they agree field by field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.data import schema
from musiccaps_kit.data.tfrecord import read_records

DATASET_INFO = "dataset_info.json"


def read_info(out_dir: str | Path) -> dict[str, Any]:
    """``dataset_info.json`` of a prepared folder, with a clear error when it is missing."""
    path = Path(out_dir) / DATASET_INFO
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {out_dir} a folder made by mck prepare?")
    return json.loads(path.read_text())


def shard_paths(records_dir: str | Path, split: str) -> list[Path]:
    """The shard files of ``split``, in order, as listed in ``dataset_info.json``."""
    info = read_info(records_dir)
    if split not in info["splits"]:
        known = ", ".join(info["splits"]) or "none"
        raise KeyError(f"{records_dir} has no split {split!r} (splits: {known})")
    return [Path(records_dir) / s["file"] for s in info["splits"][split]["shards"]]


def iter_records(records_dir: str | Path, split: str) -> Iterator[schema.Record]:
    """Every record of ``split`` as a ``schema.Record``, shard by shard."""
    for path in shard_paths(records_dir, split):
        for blob in read_records(path):
            yield schema.decode(blob)


def record_to_item(record: schema.Record) -> dict[str, Any]:
    """A flat dict of a record: waveforms as ``audio_{rate}``, tokens as ``tokens_{name}``."""
    item: dict[str, Any] = {
        "id": record.id,
        "split": record.split,
        "caption": record.caption,
        "aspects": record.aspects,
        "labels": record.labels,
        "is_balanced_subset": record.is_balanced_subset,
        "is_audioset_eval": record.is_audioset_eval,
        "pad_s": record.pad_s,
        "trim_s": record.trim_s,
    }
    item.update({f"audio_{rate}": wave for rate, wave in record.audio.items()})
    item.update({f"tokens_{name}": tokens for name, tokens in record.tokens.items()})
    return item


def tf_dataset(records_dir: str | Path, split: str):
    """A ``tf.data.Dataset`` of dicts: the schema's features, waveforms as float32 vectors."""
    import tensorflow as tf

    info = read_info(records_dir)
    rates = info["recipe"]["segment"]["rates"]
    token_names = info["recipe"]["tokenizer"]["token_names"]
    spec = schema.tf_feature_spec(rates, token_names)

    def parse(serialized):
        parsed = tf.io.parse_single_example(serialized, spec)
        out = {}
        for key, value in parsed.items():
            if isinstance(value, tf.sparse.SparseTensor):
                value = tf.sparse.to_dense(value)
            out[key] = value
        for rate in rates:
            key = schema.audio_key(rate)
            out[key] = tf.io.decode_raw(out[key], tf.float32, little_endian=True)
        for name in token_names:
            out[schema.token_key(name)] = tf.reshape(
                out[schema.token_key(name)], out[schema.token_shape_key(name)]
            )
        return out

    files = [str(p) for p in shard_paths(records_dir, split)]
    return tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=tf.data.AUTOTUNE)


def _torch_dataset_class():
    import torch

    class TorchRecords(torch.utils.data.IterableDataset):
        """Records of one split; each DataLoader worker (and DDP rank) reads its own shards.

        Shard ``i`` goes to reader ``i % (ranks x workers)``: a reader with no shard left
        yields nothing, so prepare at least as many shards as there are readers.
        """

        def __init__(self, records_dir: str | Path, split: str, rank: int = 0, world: int = 1):
            self.paths = shard_paths(records_dir, split)
            self.rank, self.world = rank, world

        def __iter__(self) -> Iterator[dict[str, Any]]:
            worker = torch.utils.data.get_worker_info()
            workers, worker_id = (worker.num_workers, worker.id) if worker else (1, 0)
            readers = self.world * workers
            me = self.rank * workers + worker_id
            for path in self.paths[me::readers]:
                for blob in read_records(path):
                    yield record_to_item(schema.decode(blob))

    return TorchRecords


def torch_dataset(records_dir: str | Path, split: str, rank: int = 0, world: int = 1):
    """A ``torch.utils.data.IterableDataset`` over the shards of ``split``."""
    return _torch_dataset_class()(records_dir, split, rank, world)


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack arrays of equal shape into tensors; keep everything else as lists."""
    import torch

    out: dict[str, Any] = {}
    for key in items[0]:
        values = [item[key] for item in items]
        if isinstance(values[0], np.ndarray) and len({v.shape for v in values}) == 1:
            out[key] = torch.from_numpy(np.stack(values))
        else:
            out[key] = values
    return out


def torch_loader(
    records_dir: str | Path,
    split: str,
    batch_size: int = 8,
    num_workers: int = 0,
    rank: int = 0,
    world: int = 1,
):
    """A ``DataLoader`` whose workers split the shards between them."""
    import torch

    return torch.utils.data.DataLoader(
        torch_dataset(records_dir, split, rank, world),
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=collate,
    )
