"""The TFRecord schema: the only module that spells feature names.

One ``tf.train.Example`` per clip (built without TensorFlow, see ``tfrecord``). Waveforms
are little-endian float32 bytes (``audio/{rate}``) of exactly ``round(duration_s * rate)``
samples, which tf.data (``tf.io.decode_raw``) and NumPy (``np.frombuffer``) read without
copying through lists. Tokens are int64 lists with their shape beside them (``tokens/{name}``,
``tokens/{name}/shape``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from musiccaps_kit.data.tfrecord import Example, Feature, serialize_example

SCHEMA_VERSION = 1

ID = "id"
SPLIT = "split"
CAPTION = "caption"
ASPECTS = "aspects"
LABELS = "labels"
AUTHOR_ID = "author_id"
START_S = "start_s"
END_S = "end_s"
IS_BALANCED_SUBSET = "is_balanced_subset"
IS_AUDIOSET_EVAL = "is_audioset_eval"
RATES = "audio/rates"
SOURCE_RATE = "segment/source_rate"
SOURCE_CHANNELS = "segment/source_channels"
FILE_SECONDS = "segment/file_seconds"
PAD_S = "segment/pad_s"
TRIM_S = "segment/trim_s"
TOKEN_NAMES = "tokens/names"


def audio_key(rate: int) -> str:
    return f"audio/{rate}"


def token_key(name: str) -> str:
    return f"tokens/{name}"


def token_shape_key(name: str) -> str:
    return f"tokens/{name}/shape"


@dataclass
class Record:
    """One clip as stored: metadata, waveforms by rate, segment facts and tokens."""

    id: str
    split: str
    caption: str
    aspects: list[str]
    labels: list[str]
    author_id: str
    start_s: float
    end_s: float
    is_balanced_subset: bool
    is_audioset_eval: bool
    audio: dict[int, np.ndarray]
    source_rate: int
    source_channels: int
    file_seconds: float
    pad_s: float
    trim_s: float
    tokens: dict[str, np.ndarray] = field(default_factory=dict)


def _bytes(*values: str | bytes) -> Feature:
    raw = [v.encode("utf-8") if isinstance(v, str) else v for v in values]
    feature = Feature()
    feature.bytes_list.value.extend(raw)
    return feature


def _ints(*values: int) -> Feature:
    feature = Feature()
    feature.int64_list.value.extend(int(v) for v in values)
    return feature


def _floats(*values: float) -> Feature:
    feature = Feature()
    feature.float_list.value.extend(float(v) for v in values)
    return feature


def encode(record: Record) -> bytes:
    """Serialise a record deterministically (same record, same bytes)."""
    features = {
        ID: _bytes(record.id),
        SPLIT: _bytes(record.split),
        CAPTION: _bytes(record.caption),
        ASPECTS: _bytes(*record.aspects),
        LABELS: _bytes(*record.labels),
        AUTHOR_ID: _bytes(record.author_id),
        START_S: _floats(record.start_s),
        END_S: _floats(record.end_s),
        IS_BALANCED_SUBSET: _ints(record.is_balanced_subset),
        IS_AUDIOSET_EVAL: _ints(record.is_audioset_eval),
        RATES: _ints(*sorted(record.audio)),
        SOURCE_RATE: _ints(record.source_rate),
        SOURCE_CHANNELS: _ints(record.source_channels),
        FILE_SECONDS: _floats(record.file_seconds),
        PAD_S: _floats(record.pad_s),
        TRIM_S: _floats(record.trim_s),
        TOKEN_NAMES: _bytes(*sorted(record.tokens)),
    }
    for name, tokens in record.tokens.items():
        tokens = np.asarray(tokens)
        features[token_key(name)] = _ints(*tokens.ravel())
        features[token_shape_key(name)] = _ints(*tokens.shape)
    audio = {
        audio_key(rate): np.ascontiguousarray(wave, dtype="<f4")
        for rate, wave in record.audio.items()
    }
    return serialize_example(features, audio)


def decode(serialized: bytes) -> Record:
    """Parse a serialised ``tf.train.Example`` back into a ``Record`` (NumPy arrays)."""
    feature = Example.FromString(serialized).features.feature

    def text(key: str) -> str:
        return feature[key].bytes_list.value[0].decode("utf-8")

    def texts(key: str) -> list[str]:
        return [v.decode("utf-8") for v in feature[key].bytes_list.value]

    def one_int(key: str) -> int:
        return int(feature[key].int64_list.value[0])

    def one_float(key: str) -> float:
        return float(feature[key].float_list.value[0])

    audio = {
        int(rate): np.frombuffer(feature[audio_key(rate)].bytes_list.value[0], dtype="<f4")
        for rate in feature[RATES].int64_list.value
    }
    tokens = {
        name: np.asarray(feature[token_key(name)].int64_list.value, dtype=np.int64).reshape(
            tuple(feature[token_shape_key(name)].int64_list.value)
        )
        for name in texts(TOKEN_NAMES)
    }
    return Record(
        id=text(ID),
        split=text(SPLIT),
        caption=text(CAPTION),
        aspects=texts(ASPECTS),
        labels=texts(LABELS),
        author_id=text(AUTHOR_ID),
        start_s=one_float(START_S),
        end_s=one_float(END_S),
        is_balanced_subset=bool(one_int(IS_BALANCED_SUBSET)),
        is_audioset_eval=bool(one_int(IS_AUDIOSET_EVAL)),
        audio=audio,
        source_rate=one_int(SOURCE_RATE),
        source_channels=one_int(SOURCE_CHANNELS),
        file_seconds=one_float(FILE_SECONDS),
        pad_s=one_float(PAD_S),
        trim_s=one_float(TRIM_S),
        tokens=tokens,
    )


def tf_feature_spec(rates: list[int], token_names: list[str]) -> dict:
    """The ``tf.io.parse_single_example`` spec for records with these rates and tokens."""
    import tensorflow as tf

    spec = {
        ID: tf.io.FixedLenFeature([], tf.string),
        SPLIT: tf.io.FixedLenFeature([], tf.string),
        CAPTION: tf.io.FixedLenFeature([], tf.string),
        ASPECTS: tf.io.VarLenFeature(tf.string),
        LABELS: tf.io.VarLenFeature(tf.string),
        AUTHOR_ID: tf.io.FixedLenFeature([], tf.string),
        START_S: tf.io.FixedLenFeature([], tf.float32),
        END_S: tf.io.FixedLenFeature([], tf.float32),
        IS_BALANCED_SUBSET: tf.io.FixedLenFeature([], tf.int64),
        IS_AUDIOSET_EVAL: tf.io.FixedLenFeature([], tf.int64),
        PAD_S: tf.io.FixedLenFeature([], tf.float32),
        TRIM_S: tf.io.FixedLenFeature([], tf.float32),
    }
    for rate in rates:
        spec[audio_key(rate)] = tf.io.FixedLenFeature([], tf.string)
    for name in token_names:
        spec[token_key(name)] = tf.io.VarLenFeature(tf.int64)
        spec[token_shape_key(name)] = tf.io.VarLenFeature(tf.int64)
    return spec
