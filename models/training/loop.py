"""Training from prepared records: presets, a clip bank, DDP or FSDP, compiled steps,
checkpoints, loss curves.

``train(kind, records, preset, out)`` reads the records' waveforms (and captions) once,
draws each step's global batch of random crops from a generator seeded by (seed, step) and
gives every rank its slice, so N ranks take exactly the step one process would take on the
whole batch (the losses logged are the mean over ranks: the whole batch's). Under
``torchrun`` (``WORLD_SIZE`` > 1) it joins the process group (NCCL on GPUs, gloo on CPU)
and replicates (``ddp``) or shards (``fsdp``, FSDP2) the models; the paper presets default
to FSDP. On CUDA it trains in bfloat16 autocast with ``torch.compile`` and fused Adam(W)
(``compile=False`` or ``mck train --no-compile`` for eager). ``out/checkpoint.pt`` holds the
full (gathered) models, optimisers, step and loss history and is written atomically every
``checkpoint_every`` steps: a rerun resumes from it on any number of processes.
``out/model.pt`` is the final model for inference, ``out/losses.png`` the curves.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from musiccaps_kit.atomic import atomic_path, write_text
from musiccaps_kit.models.model_files import MODEL, save_checkpoint
from musiccaps_kit.models.records import ClipBank
from musiccaps_kit.models.training.tasks import make_task

PRESETS = Path(__file__).parent.parent / "presets"
CHECKPOINT = "checkpoint.pt"
# training settings every preset takes besides its own
RUN_SETTINGS = ("distributed", "compile", "compile_mode", "loader", "buffer", "workers")


def load_preset(kind: str, preset: str) -> dict[str, Any]:
    """``models/presets/{kind}-{preset}.json``: ``{"model": {...}, "train": {...}}``."""
    path = PRESETS / f"{kind}-{preset}.json"
    if not path.is_file():
        known = sorted(p.stem for p in PRESETS.glob(f"{kind}-*.json"))
        raise ValueError(f"no preset {preset!r} for {kind}: known are {known}")
    return json.loads(path.read_text())


def make_bank(task, records: str | Path):
    """What the task trains on: its own bank (tokens), or the records' audio at its rate."""
    if hasattr(task, "make_bank"):
        return task.make_bank(records)
    return ClipBank(records, task.rate)


def draw_batch(task, bank, train_config: dict, step: int, rank: int = 0, world: int = 1):
    """Rank ``rank``'s share of step ``step``'s global batch."""
    size = train_config["batch_size"]
    if hasattr(task, "draw"):  # tasks that read tokens draw their own batches
        return task.draw(step, size, rank, world)
    crop = round(train_config["crop_s"] * task.rate)
    return bank.batch(step, size, crop, train_config["seed"], rank, world)


def distributed_setup() -> tuple[int, int, torch.device]:
    """Rank, world size and device; joins the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def plot_losses(history: list[dict[str, float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in history[0] if k != "step"]
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2 * len(keys)), sharex=True, squeeze=False)
    steps = [h["step"] for h in history]
    for ax, key in zip(axes[:, 0], keys, strict=True):
        ax.plot(steps, [h[key] for h in history], lw=1)
        ax.set_ylabel(key, fontsize="small")
    axes[-1, 0].set_xlabel("step")
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def mean_over_ranks(losses: dict[str, float], world: int, device: torch.device) -> dict:
    """Each rank's losses on its slice, averaged: the whole batch's (equal slices)."""
    if world == 1:
        return losses
    values = torch.tensor(list(losses.values()), dtype=torch.float64, device=device)
    dist.all_reduce(values)
    return dict(zip(losses, (values / world).tolist(), strict=True))


def train(
    kind: str,
    records: str | Path,
    preset: str,
    out: str | Path,
    steps: int | None = None,
    progress: bool = True,
    distributed: str | None = None,
    compile: bool | None = None,
    stop_after: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``kind`` with ``preset`` from ``records`` into ``out``. ``distributed``: ``ddp``
    or ``fsdp`` under torchrun (default: the preset's, else ddp); ``compile``: default on
    CUDA; ``stop_after``: leave after that many steps in this run (a checkpoint is written
    there), as a job whose time ran out would; ``overrides``: training settings in place of
    the preset's (``mck train --set KEY=VALUE``)."""
    from tqdm import tqdm

    config = load_preset(kind, preset)
    unknown = sorted(set(overrides or {}) - set(config["train"]) - set(RUN_SETTINGS))
    if unknown:
        known = ", ".join(sorted(set(config["train"]) | set(RUN_SETTINGS)))
        raise ValueError(f"--set {unknown[0]}: not a {kind} training setting (known: {known})")
    train_config = {**config["train"], **(overrides or {}), **({"steps": steps} if steps else {})}
    if distributed:
        train_config["distributed"] = distributed
    if compile is not None:
        train_config["compile"] = compile
    rank, world, device = distributed_setup()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(train_config["seed"])
    task = make_task(kind, config["model"], train_config, device, world)
    stream = train_config.get("loader", "bank") == "stream"
    if stream and not getattr(task, "streamable", False):
        raise ValueError(
            f"{kind} fits k-means or quantisers on its whole training set, which it holds in "
            "memory: loader=stream is for the codec"
        )
    bank = None if stream else make_bank(task, records)
    task.prepare(bank)
    batches = None
    if stream:  # imported here: the GPU check trains without the record reader
        from musiccaps_kit.models.training.streaming import streaming_batches

        batches = iter(
            streaming_batches(
                records,
                task.rate,
                round(train_config["crop_s"] * task.rate),
                train_config["batch_size"] // world,
                train_config["seed"],
                int(train_config.get("workers", 0)),
                int(train_config.get("buffer", 64)),
                rank,
                world,
            )
        )
    start, history = 0, []
    checkpoint = out / CHECKPOINT
    if checkpoint.is_file():
        blob = torch.load(checkpoint, map_location=device, weights_only=False)
        task.load_state_dict(blob["task"])
        start, history = blob["step"], blob["history"]
    total = train_config["steps"]
    bar = tqdm(range(start, total), desc=f"train {kind}", disable=not progress or rank != 0)
    began = time.time()
    for step in bar:
        batch = next(batches) if stream else draw_batch(task, bank, train_config, step, rank, world)
        losses = mean_over_ranks(task.train_step(batch, step), world, device)
        history.append({"step": step, **losses})
        bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()})
        last = step + 1 == total
        stopping = stop_after is not None and step + 1 - start >= stop_after
        if (step + 1) % train_config["checkpoint_every"] == 0 or last or stopping:
            state = task.state_dict()  # every rank: FSDP gathers the shards
            if rank == 0:
                blob = {"step": step + 1, "history": history, "task": state, "preset": preset}
                save_checkpoint(checkpoint, blob)
                plot_losses(history, out / "losses.png", f"{kind} ({preset})")
        if stopping and not last:
            return {"stopped_at": step + 1, "history": history} if rank == 0 else {}
    compiled = task.compile
    if task.distributed == "fsdp" and world > 1:
        state = task.state_dict()
        if rank == 0:  # export from an unsharded copy of the models
            task = make_task(kind, config["model"], {**train_config, "compile": False}, device, 1)
            task.prepare(bank)
            task.load_state_dict(state)
    if rank == 0:
        task.export(out / MODEL)
        summary = {
            "kind": kind,
            "preset": preset,
            "records": str(records),
            "clips": "streamed" if bank is None else len(bank),
            "steps": total,
            "resumed_from": start,
            "seconds": time.time() - began,
            "world_size": world,
            "distributed": train_config.get("distributed", "ddp") if world > 1 else None,
            "compiled": compiled,
            "device": str(device),
            "first": history[0] if history else None,
            "last": history[-1] if history else None,
            "config": config,
        }
        write_text(out / "training.json", json.dumps(summary, indent=2))
        return summary
    return {}
