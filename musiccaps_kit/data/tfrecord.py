"""TFRecord files and ``tf.train.Example`` messages without importing TensorFlow.

Beam workers and PyTorch DataLoader workers read and write records; importing TensorFlow
costs each of them seconds and hundreds of MB. The file framing is TFRecord's (length,
masked CRC-32C of the length, data, masked CRC-32C of the data) and the messages are
compiled from the same definitions as TensorFlow's ``example.proto`` and ``feature.proto``,
so files written here are read by ``tf.data.TFRecordDataset`` and the other way round.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import google_crc32c
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_MASK_DELTA = 0xA282EAD8


class RecordFileError(ValueError):
    """A TFRecord file that is truncated or fails its checksums."""


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(data: bytes) -> tuple[bytes, bytes, bytes]:
    """One record in TFRecord framing: header, ``data`` itself and footer, to be written
    one after another (joining them would copy the record once more)."""
    length = struct.pack("<Q", len(data))
    header = length + struct.pack("<I", _masked_crc(length))
    return header, data, struct.pack("<I", _masked_crc(data))


def _read_one(f, path: str | Path, index: int, verify: bool) -> bytes | None:
    header = f.read(12)
    if not header:
        return None
    if len(header) < 12:
        raise RecordFileError(f"{path}: truncated header of record {index}")
    (length,) = struct.unpack("<Q", header[:8])
    if verify and struct.unpack("<I", header[8:])[0] != _masked_crc(header[:8]):
        raise RecordFileError(f"{path}: bad length checksum at record {index}")
    data = f.read(length)
    footer = f.read(4)
    if len(data) < length or len(footer) < 4:
        raise RecordFileError(f"{path}: truncated record {index}")
    if verify and struct.unpack("<I", footer)[0] != _masked_crc(data):
        raise RecordFileError(f"{path}: bad data checksum at record {index}")
    return data


def read_records_with_offsets(path: str | Path, verify: bool = True) -> Iterator[tuple[int, bytes]]:
    """``(byte offset, record)`` for each record of a file; damage raises ``RecordFileError``."""
    with open(path, "rb") as f:
        index = 0
        while True:
            offset = f.tell()
            data = _read_one(f, path, index, verify)
            if data is None:
                return
            yield offset, data
            index += 1


def read_records(path: str | Path, verify: bool = True) -> Iterator[bytes]:
    """The records of one TFRecord file; a damaged file raises ``RecordFileError``."""
    for _, data in read_records_with_offsets(path, verify):
        yield data


def read_record_at(path: str | Path, offset: int, verify: bool = True) -> bytes:
    """The one record that starts at ``offset`` (from ``read_records_with_offsets``)."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = _read_one(f, path, offset, verify)
    if data is None:
        raise RecordFileError(f"{path}: no record at byte {offset}")
    return data


def _example_classes():
    """Compile tensorflow.Example and its parts into a private descriptor pool."""
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(
        name="musiccaps_kit/tf_example.proto", package="tensorflow", syntax="proto3"
    )

    def message(
        name: str, *fields: tuple[str, int, int, int, str]
    ) -> descriptor_pb2.DescriptorProto:
        msg = fdp.message_type.add(name=name)
        for field_name, number, label, ftype, type_name in fields:
            field = msg.field.add(name=field_name, number=number, label=label, type=ftype)
            if type_name:
                field.type_name = type_name
        return msg

    rep, opt = F.LABEL_REPEATED, F.LABEL_OPTIONAL
    message("BytesList", ("value", 1, rep, F.TYPE_BYTES, ""))
    message("FloatList", ("value", 1, rep, F.TYPE_FLOAT, ""))
    message("Int64List", ("value", 1, rep, F.TYPE_INT64, ""))
    feature = message(
        "Feature",
        ("bytes_list", 1, opt, F.TYPE_MESSAGE, ".tensorflow.BytesList"),
        ("float_list", 2, opt, F.TYPE_MESSAGE, ".tensorflow.FloatList"),
        ("int64_list", 3, opt, F.TYPE_MESSAGE, ".tensorflow.Int64List"),
    )
    feature.oneof_decl.add(name="kind")
    for f in feature.field:
        f.oneof_index = 0
    features = message(
        "Features", ("feature", 1, rep, F.TYPE_MESSAGE, ".tensorflow.Features.FeatureEntry")
    )
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, label=opt, type=F.TYPE_STRING)
    entry.field.add(
        name="value", number=2, label=opt, type=F.TYPE_MESSAGE, type_name=".tensorflow.Feature"
    )
    message("Example", ("features", 1, opt, F.TYPE_MESSAGE, ".tensorflow.Features"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClassesForFiles([fdp.name], pool)


_CLASSES = _example_classes()
Example = _CLASSES["tensorflow.Example"]
Feature = _CLASSES["tensorflow.Feature"]


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _head(number: int, length: int) -> bytes:
    """Tag and length of a length-delimited field."""
    return _varint(number << 3 | 2) + _varint(length)


def serialize_example(features: dict[str, Feature], raw: dict[str, Any]) -> bytes:
    """``Example`` of ``features`` plus one single-value bytes feature per ``raw`` item,
    serialised exactly as protobuf's Python backend (upb) does with
    ``SerializeToString(deterministic=True)``, but with each ``raw`` buffer (a waveform,
    megabytes) copied once, into the result, instead of into a message, out of it and
    into the result again. Map entries go in upb's order: bytewise, with a key after the
    keys it is a prefix of (``tokens/x/shape``, then ``tokens/x``; 0xFF never occurs in
    UTF-8). Writing it ourselves also keeps shard bytes from depending on which protobuf
    backend is installed (the C++ one puts a prefix first)."""
    entries: list[list[bytes | memoryview]] = []
    for key in sorted({*features, *raw}, key=lambda k: k.encode("utf-8") + b"\xff"):
        name = key.encode("utf-8")
        if key in raw:
            data = memoryview(raw[key]).cast("B")
            item = _head(1, len(data))
            listed = _head(1, len(item) + len(data)) + item
            value = [_head(2, len(listed) + len(data)) + listed, data]
        else:
            blob = features[key].SerializeToString(deterministic=True)
            value = [_head(2, len(blob)) + blob]
        entry = [_head(1, len(name)) + name, *value]
        entries.append([_head(1, sum(len(p) for p in entry)), *entry])
    body = [part for entry in entries for part in entry]
    return b"".join([_head(1, sum(len(p) for p in body)), *body])
