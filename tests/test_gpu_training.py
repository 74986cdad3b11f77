"""Training at GPU speed, checked on CPU: the stages' flex-attention path against the dense
bias (logits, memory), compiled training steps against eager ones, and FSDP under torchrun
(gloo): two processes equal one on the whole batch, and a run stopped on two processes
resumes on one as on two."""

import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from musiccaps_kit.models.stage import StageConfig, StageTransformer, generate
from musiccaps_kit.models.training.loop import train

TINY = StageConfig(vocab=300, dim=64, layers=2, heads=4, ff=128, dropout=0.0)


def test_flex_attention_gives_the_dense_paths_logits():
    torch.manual_seed(0)
    model = StageTransformer(TINY).eval()
    tokens = torch.randint(0, 300, (2, 48))
    results = {}
    with torch.no_grad():
        for mode in ("dense", "flex"):
            model.attention = mode
            whole, _ = model(tokens)  # training and a prefill from position 0: one call
            prefix, cache = model(tokens[:, :48], [])
            steps = []
            for i in range(6):  # cached steps, one token at a time after the prefix
                nxt = torch.randint(0, 300, (2, 1), generator=torch.Generator().manual_seed(i))
                logits, cache = model(nxt, cache, start=48 + i)
                steps.append(logits)
            greedy = generate(model, tokens[:, :5], 12, [(0, 300)], temperature=0)
            results[mode] = (whole, prefix, torch.cat(steps, 1), greedy)
    for dense, flex in zip(results["dense"][:3], results["flex"][:3], strict=True):
        torch.testing.assert_close(flex, dense, rtol=0, atol=1e-5)
    assert torch.equal(results["flex"][3], results["dense"][3])
    with pytest.raises(ValueError, match="attention must be one of"):
        StageTransformer(TINY, attention="sparse")


MEMORY = textwrap.dedent(
    """
    import re, sys, torch
    from musiccaps_kit.models.stage import StageConfig, StageTransformer
    def peak():
        return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
    torch.manual_seed(0)
    model = StageTransformer(StageConfig(vocab=300, dim=64, layers=2, heads=4, ff=128,
                                         dropout=0.0), attention=sys.argv[1]).eval()
    tokens = torch.randint(0, 300, (1, 4096))
    with torch.no_grad():
        model(tokens)  # compiles the flex kernel for this length
        open("/proc/self/clear_refs", "w").write("5")  # reset the peak resident size
        before = peak()
        model(tokens)
        print(peak() - before)
    """
)


def test_flex_memory_at_4096_tokens_does_not_grow_with_heads_t_t(tmp_path):
    """The dense path builds a [heads, T, T] bias (268 MB at T = 4096, 4 heads); the flex
    path's peak must stay under a quarter of that."""
    script = tmp_path / "memory.py"
    script.write_text(MEMORY)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    grown = {}
    for mode in ("dense", "flex"):
        done = subprocess.run(
            [sys.executable, str(script), mode], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stderr[-2000:]
        grown[mode] = int(done.stdout.split()[-1]) * 1024  # bytes
    heads_t_t = 4 * 4096 * 4096 * 4
    print(
        f"peak growth: dense {grown['dense'] / 2**20:.0f} MiB, flex {grown['flex'] / 2**20:.0f} MiB"
    )
    assert grown["dense"] >= heads_t_t
    assert grown["flex"] < heads_t_t / 4


def test_a_compiled_step_trains_as_the_eager_one(tiny_cascade, tmp_path):
    root, _ = tiny_cascade
    losses = {}
    for compiled in (True, False):
        out = tmp_path / f"compiled-{compiled}"
        train("stages", root / "tokens", "tiny-ablation", out, steps=3, progress=False,
              compile=compiled)  # fmt: skip
        losses[compiled] = torch.load(out / "checkpoint.pt", weights_only=False)["history"]
    for a, b in zip(losses[True], losses[False], strict=True):
        for key in ("coarse_loss", "fine_loss"):
            assert a[key] == pytest.approx(b[key], abs=1e-5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(kind: str, records: Path, out: Path, processes: int, *args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    cli = ["-m", "musiccaps_kit.cli", "train", kind, "--records", str(records), "--preset",
           "tiny", "--out", str(out), "--steps", "4", *args]  # fmt: skip
    if processes == 1:
        command = [sys.executable, *cli]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node",
                   str(processes), "--master_port", str(_free_port()), *cli]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]


def _history(out: Path) -> list[dict]:
    return torch.load(out / "checkpoint.pt", weights_only=False)["history"]


# kind, records folder, settings, the losses compared, how many resumed steps agree to 1e-5
FSDP_CASES = {
    "stages": ("tokens", [], ("semantic_loss", "coarse_loss", "fine_loss"), 2),
    # the discriminator trains from step 0; the codec's later steps amplify 1e-7 weight
    # differences (Adam on near-zero gradients, see test_ddp), so its first resumed step
    "codec": ("records", ["--set", "disc_start=0"], ("reconstruction", "discriminator"), 1),
}


@pytest.mark.parametrize("kind", sorted(FSDP_CASES))
def test_fsdp_on_two_processes_resumes_on_one_as_on_two(kind, tiny_cascade, tmp_path):
    root, _ = tiny_cascade
    folder, settings, keys, resumed_steps = FSDP_CASES[kind]
    records = root / folder
    single = tmp_path / "single"
    _run(kind, records, single, 1, *settings)
    stopped = tmp_path / "stopped"
    _run(kind, records, stopped, 2, "--distributed", "fsdp", "--stop-after", "2", *settings)
    first = _history(stopped)
    assert len(first) == 2
    # two processes on half batches each: the losses of one process on the whole batch
    for a, b in zip(first, _history(single)[:2], strict=True):
        for key in keys:
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), (a["step"], key)
    on_one, on_two = tmp_path / "on-one", tmp_path / "on-two"
    shutil.copytree(stopped, on_one)
    shutil.copytree(stopped, on_two)
    _run(kind, records, on_one, 1, *settings)
    _run(kind, records, on_two, 2, "--distributed", "fsdp", *settings)
    one, two = _history(on_one), _history(on_two)
    assert [h["step"] for h in one] == [h["step"] for h in two] == [0, 1, 2, 3]
    for a, b in zip(one[2 : 2 + resumed_steps], two[2 : 2 + resumed_steps], strict=True):
        for key in keys:
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), (a["step"], key)
    assert (on_two / "model.pt").is_file() and (on_one / "model.pt").is_file()


def test_streamed_crops_see_every_clip_once_an_epoch_and_split_shards(tmp_path, demo_records):
    import json

    import numpy as np

    from benchmarks.loader_throughput import tenfold
    from musiccaps_kit.data.records import iter_records
    from musiccaps_kit.models.training.streaming import StreamingCrops, streaming_batches

    records, clips = tenfold(demo_records, tmp_path / "big", copies=3)
    assert clips == 36 and len(json.loads((records / "dataset_info.json").read_text())) > 0
    ids = sorted(r.id for r in iter_records(demo_records, "train"))
    seen = []
    for batch in streaming_batches(records, 16000, 8000, 5, seed=1, workers=2, buffer=4, epochs=1):
        assert batch.audio.shape[1:] == (8000,) and batch.audio.dtype.is_floating_point
        seen += batch.ids
    assert sorted(seen) == sorted(ids * 3)  # every clip of every shard once, two workers
    again = [b.ids for b in streaming_batches(records, 16000, 8000, 5, seed=1, epochs=1)]
    assert again == [b.ids for b in streaming_batches(records, 16000, 8000, 5, seed=1, epochs=1)]
    # a crop is a piece of its clip at the asked rate
    crops = StreamingCrops(demo_records, 16000, 8000, epochs=1, buffer=2)
    waves = {r.id: r.audio[16000] for r in iter_records(demo_records, "train")}
    for crop, _, clip_id in crops:
        wave = waves[clip_id]
        starts = [s for s in range(len(wave) - 7999) if wave[s] == crop[0]]
        assert any(np.array_equal(wave[s : s + 8000], crop) for s in starts)
    with pytest.raises(ValueError, match="at least as many shards as readers"):
        next(iter(StreamingCrops(demo_records, 16000, 8000, rank=0, world=2)))


def test_the_codec_trains_from_streamed_crops_and_others_refuse(demo_records, tmp_path):
    summary = train("codec", demo_records, "tiny", tmp_path / "codec", steps=2, progress=False,
                    overrides={"loader": "stream", "buffer": 4})  # fmt: skip
    assert summary["clips"] == "streamed" and (tmp_path / "codec" / "model.pt").is_file()
    with pytest.raises(ValueError, match="loader=stream is for the codec"):
        train(
            "mulan", demo_records, "tiny", tmp_path / "m", steps=1, overrides={"loader": "stream"}
        )
    with pytest.raises(ValueError, match="--set nonsense: not a codec training setting"):
        train("codec", demo_records, "tiny", tmp_path / "c", steps=1, overrides={"nonsense": 1})


def test_the_gpu_check_counts_flops_without_timing(capsys):
    from benchmarks.gpu_check import main

    report = main(["--device", "cpu", "--preset", "tiny", "--plan", "--models", "stages"])
    (stages,) = report["models"]
    assert stages["batch"] == 8 and stages["flops_per_step"] > 1e9 and "step_s" not in stages
    assert "TFLOP/step (counted at batch 1)" in capsys.readouterr().out


BENCHMARKS = sorted(
    p.stem for p in (Path(__file__).parents[1] / "benchmarks").glob("*.py") if p.stem != "__init__"
)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_every_benchmark_answers_help(name, monkeypatch, capsys):
    import runpy

    monkeypatch.setattr(sys, "argv", [name, "--help"])
    with pytest.raises(SystemExit) as done:
        runpy.run_module(f"benchmarks.{name}", run_name="__main__")
    assert done.value.code == 0
    assert "usage:" in capsys.readouterr().out
