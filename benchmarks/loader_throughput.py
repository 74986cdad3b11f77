"""Does the streaming loader keep up with a GPU? Crops per second per worker from prepared
TFRecords into batches (``models/training/streaming.py``), beside what one H200 consumed
per second in the GPU check (small presets, README), and the workers each model needs; for
the stages, token ids per second read from tokenized records. Then the peak memory of one
epoch streamed against the in-memory clip bank of the same set, on a set 10x the demo's.

    python -m benchmarks.loader_throughput [--records DIR] [--tokens DIR] [--workers 1 2]

Without ``--records`` the demo set is prepared into a temporary folder first (Beam, about
30 s). The 10x set repeats its train shard under new names (the same clips, 10x the bytes).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import resource
import shutil
import tempfile
import time
from pathlib import Path

# One H200 in the GPU check, small presets (README, "GPU check"): the fastest step seen, the
# per-step batch and crop: what the model consumes per second.
H200 = {
    "codec": {"rate": 24000, "crop_s": 1.0, "batch": 16, "step_s": 0.076},
    "semantic": {"rate": 16000, "crop_s": 4.0, "batch": 32, "step_s": 0.018},
    "mulan": {"rate": 16000, "crop_s": 10.0, "batch": 32, "step_s": 0.027},
}
H200_STAGE_TOKENS_PER_S = 526_000


def prepare_demo(out: Path) -> Path:
    from musiccaps_kit.data import catalog
    from musiccaps_kit.data.preparation import PrepareConfig
    from musiccaps_kit.pipelines.prepare import run
    from musiccaps_kit.resources import DEMO_AUDIO_DIR

    config = PrepareConfig(
        name="demo",
        out_dir=str(out),
        cache_dir=str(out / "cache"),
        source_options={"audio_dir": str(DEMO_AUDIO_DIR)},
        shards=1,
    )
    run(catalog.load("demo"), config, progress=False)
    return out


def tenfold(records: Path, out: Path, copies: int = 20) -> tuple[Path, int]:
    """A record folder whose train split is ``copies`` renamed copies of ``records``'s
    train shards (the demo: 12 train clips x 20 = 240 clips, 10x the demo's 24)."""
    info = json.loads((records / "dataset_info.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    shards = []
    for k in range(copies):
        for shard in info["splits"]["train"]["shards"]:
            name = f"x{k:03d}-{shard['file']}"
            shutil.copyfile(records / shard["file"], out / name)
            shards.append({**shard, "file": name})
    clips = sum(s["records"] for s in shards)
    info["splits"] = {"train": {"records": clips, "shards": shards}}
    (out / "dataset_info.json").write_text(json.dumps(info))
    return out, clips


def crops_per_second(records: Path, model: str, workers: int, clips: int) -> float:
    """One epoch streamed with ``workers`` DataLoader workers (0: in this process)."""
    from musiccaps_kit.models.training.streaming import streaming_batches

    spec = H200[model]
    loader = streaming_batches(
        records,
        spec["rate"],
        round(spec["crop_s"] * spec["rate"]),
        spec["batch"],
        workers=workers,
        buffer=32,
        epochs=1,
    )
    start = time.perf_counter()
    seen = sum(len(batch.ids) for batch in loader)
    elapsed = time.perf_counter() - start
    assert seen == clips, (seen, clips)
    return seen / elapsed


def tokens_per_second(tokens: Path) -> float:
    from musiccaps_kit.data.records import iter_records

    start = time.perf_counter()
    count = sum(
        sum(t.size for t in record.tokens.values()) for record in iter_records(tokens, "train")
    )
    return count / (time.perf_counter() - start)


def _peak(kind: str, records: str, queue) -> None:
    from musiccaps_kit.models.records import ClipBank
    from musiccaps_kit.models.training.streaming import streaming_batches

    if kind == "stream":
        for _ in streaming_batches(records, 24000, 24000, 16, buffer=32, epochs=1):
            pass
    elif kind == "bank":
        ClipBank(records, 24000)
    queue.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def peak_mib(kind: str, records: Path) -> float:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_peak, args=(kind, str(records), queue))
    process.start()
    value = queue.get()
    process.join()
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.loader_throughput", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--records", type=Path, help="prepared records [default: the demo's]")
    parser.add_argument("--tokens", type=Path, help="records prepared with --tokenizer cascade")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        records = args.records or prepare_demo(Path(tmp) / "demo")
        big, clips = tenfold(records, Path(tmp) / "tenfold")
        size = sum(p.stat().st_size for p in big.glob("*.tfrecord*")) / 2**20
        print(f"{clips} clips ({size:.0f} MiB of records)")
        for model, spec in H200.items():
            needed = spec["batch"] / spec["step_s"]
            for workers in args.workers:
                rate = crops_per_second(big, model, workers, clips)
                per_worker = rate / max(workers, 1)
                print(
                    f"{model:9s} {workers} worker(s): {rate:7.0f} crops/s ({per_worker:6.0f} per "
                    f"worker, {spec['crop_s']:g} s at {spec['rate']} Hz); one H200 takes "
                    f"{needed:6.0f}/s: {math.ceil(needed / per_worker)} workers needed"
                )
        if args.tokens:
            rate = tokens_per_second(args.tokens)
            print(
                f"stages    token ids read: {rate:,.0f}/s in one process; one H200 trains on "
                f"{H200_STAGE_TOKENS_PER_S:,}/s: {math.ceil(H200_STAGE_TOKENS_PER_S / rate)} "
                "readers needed"
            )
        base, stream, bank = (peak_mib(k, big) for k in ("imports", "stream", "bank"))
        print(
            f"peak memory over one epoch of {clips} clips, above the {base:.0f} MiB of the "
            f"imports: streamed (buffer 32) {stream - base:.0f} MiB, the in-memory clip bank "
            f"{bank - base:.0f} MiB"
        )


if __name__ == "__main__":
    main()
