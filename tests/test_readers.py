"""tf.data and PyTorch readers agree with the records, field by field."""

import numpy as np
import pytest

from musiccaps_kit.data import schema
from musiccaps_kit.data.records import iter_records, tf_dataset, torch_loader
from musiccaps_kit.data.tfrecord import Example, RecordFileError, read_records
from tests.conftest import prepare_demo


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, demo_catalog):
    out = tmp_path_factory.mktemp("records")
    prepare_demo(demo_catalog, out, shards=4)
    return out


def test_tf_data_reads_what_was_written(prepared):
    expected = {r.id: r for r in iter_records(prepared, "train")}
    got = 0
    for item in tf_dataset(prepared, "train").as_numpy_iterator():
        record = expected[item[schema.ID].decode()]
        assert item[schema.CAPTION].decode() == record.caption
        assert [a.decode() for a in item[schema.ASPECTS]] == record.aspects
        assert [x.decode() for x in item[schema.LABELS]] == record.labels
        assert bool(item[schema.IS_AUDIOSET_EVAL]) == record.is_audioset_eval
        for rate in (16000, 24000):
            np.testing.assert_array_equal(item[schema.audio_key(rate)], record.audio[rate])
        got += 1
    assert got == len(expected) == 12


def test_torch_workers_split_the_shards(prepared):
    expected = {r.id: r for r in iter_records(prepared, "eval")}
    seen = []
    for batch in torch_loader(prepared, "eval", batch_size=5, num_workers=2):
        assert batch["audio_16000"].shape[1] == 160000
        for i, clip_id in enumerate(batch["id"]):
            seen.append(clip_id)
            record = expected[clip_id]
            assert batch["caption"][i] == record.caption
            assert batch["aspects"][i] == record.aspects
            np.testing.assert_array_equal(batch["audio_24000"][i].numpy(), record.audio[24000])
    assert sorted(seen) == sorted(expected), "every record exactly once across workers"


def test_torch_ranks_see_disjoint_shards(prepared):
    ranks = [
        {i for b in torch_loader(prepared, "eval", batch_size=4, rank=r, world=2) for i in b["id"]}
        for r in range(2)
    ]
    assert ranks[0].isdisjoint(ranks[1])
    assert len(ranks[0] | ranks[1]) == 12


def test_damaged_shard_is_a_clear_error(prepared, tmp_path):
    shard = next(prepared.glob("demo-eval.tfrecord-00000-of-*"))
    data = bytearray(shard.read_bytes())
    data[100] ^= 0xFF
    broken = tmp_path / "broken.tfrecord"
    broken.write_bytes(bytes(data))
    with pytest.raises(RecordFileError, match="bad data checksum at record 0"):
        list(read_records(broken))
    broken.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(RecordFileError, match="truncated"):
        list(read_records(broken))


def _protobuf_bytes(record: schema.Record) -> bytes:
    """The record parsed and serialised again by protobuf itself: the oracle for our
    one-copy writer (a field, length or key order of ours that protobuf would write
    otherwise comes out different)."""
    return Example.FromString(schema.encode(record)).SerializeToString(deterministic=True)


def test_records_are_written_byte_for_byte_as_protobuf_writes_them(prepared):
    records = list(iter_records(prepared, "train"))[:3]
    odd = records[0]
    odd.caption, odd.aspects, odd.labels = "Ünïcödé — 音楽 \u2028 caption", [], ["x" * 70_000]
    odd.tokens = {
        "semantic": np.array([[0, 1, 127, 128, 16_383, 2**40]]),
        "negative": np.array([-1, -(2**63)]),
        "empty": np.zeros((0, 4), dtype=np.int64),
    }
    odd.audio = {8000: np.zeros(0, np.float32), **odd.audio}
    for record in records:
        written = schema.encode(record)
        assert written == _protobuf_bytes(record)
        back = schema.decode(written)
        assert back.caption == record.caption and back.labels == record.labels
        for rate, wave in record.audio.items():
            np.testing.assert_array_equal(back.audio[rate], wave)
        for name, tokens in record.tokens.items():
            np.testing.assert_array_equal(back.tokens[name], tokens)
