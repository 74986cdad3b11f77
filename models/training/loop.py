"""Training from prepared records: presets, a clip bank, DDP, checkpoints, loss curves.

``train(kind, records, preset, out)`` reads the records' waveforms (and captions) once,
draws each step's global batch of random crops from a generator seeded by (seed, step) and
gives every DDP rank its slice, so N ranks take exactly the step one process would take on
the whole batch. Under ``torchrun`` (``WORLD_SIZE`` > 1) it joins the process group (NCCL
on GPUs, gloo on CPU); on CUDA it trains in bfloat16 autocast. ``out/checkpoint.pt`` holds
the models, optimisers, step and loss history and is written atomically every
``checkpoint_every`` steps: a rerun resumes from it. ``out/model.pt`` is the final model
for inference, ``out/losses.png`` the curves.
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


def train(
    kind: str,
    records: str | Path,
    preset: str,
    out: str | Path,
    steps: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``kind`` (codec, semantic, mulan) with ``preset`` from ``records`` into ``out``."""
    from tqdm import tqdm

    config = load_preset(kind, preset)
    train_config = {**config["train"], **({"steps": steps} if steps else {})}
    rank, world, device = distributed_setup()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(train_config["seed"])
    task = make_task(kind, config["model"], train_config, device, world)
    bank = make_bank(task, records)
    task.prepare(bank)
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
        batch = draw_batch(task, bank, train_config, step, rank, world)
        losses = task.train_step(batch, step)
        history.append({"step": step, **losses})
        bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()})
        last = step + 1 == total
        if rank == 0 and ((step + 1) % train_config["checkpoint_every"] == 0 or last):
            save_checkpoint(
                checkpoint,
                {"step": step + 1, "history": history, "task": task.state_dict(), "preset": preset},
            )
            plot_losses(history, out / "losses.png", f"{kind} ({preset})")
    if rank == 0:
        task.export(out / MODEL)
        summary = {
            "kind": kind,
            "preset": preset,
            "records": str(records),
            "clips": len(bank),
            "steps": total,
            "resumed_from": start,
            "seconds": time.time() - began,
            "world_size": world,
            "device": str(device),
            "first": history[0] if history else None,
            "last": history[-1] if history else None,
            "config": config,
        }
        write_text(out / "training.json", json.dumps(summary, indent=2))
        return summary
    return {}
