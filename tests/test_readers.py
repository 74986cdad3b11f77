"""tf.data and PyTorch readers agree with the records, field by field."""

import numpy as np
import pytest

from musiccaps_kit.data import schema
from musiccaps_kit.data.records import iter_records, tf_dataset, torch_loader
from musiccaps_kit.data.tfrecord import RecordFileError, read_records
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
