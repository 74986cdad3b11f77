"""DDP with two CPU processes (gloo): each rank takes half of a step's global batch, and
together they compute the gradients one process computes on the whole batch.

The weights after the optimiser are not compared bit for bit: float32 rounding depends on
the batch size, and Adam magnifies it on parameters whose gradients are near zero. MuLan
and the melody model are left out: their BatchNorm (MuLan) and per-step synthetic data
(melody) make per-rank batches differ from one process's on CPU (on GPUs MuLan switches to
SyncBatchNorm).
"""

import copy
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from musiccaps_kit.models.training.loop import draw_batch, load_preset, make_bank
from musiccaps_kit.models.training.tasks import make_task


def _task(kind: str, train: dict, world: int, records):
    preset = load_preset(kind, "tiny")
    torch.manual_seed(0)
    task = make_task(
        kind, preset["model"], {**preset["train"], **train}, torch.device("cpu"), world
    )
    bank = make_bank(task, records)
    task.prepare(bank)
    return task, bank


def _gradients(task) -> dict:
    out = {}
    for module_name, module in task.trained().items():
        for name, param in module.named_parameters():
            if param.grad is not None:
                out[f"{module_name}.{name}"] = param.grad.clone()
    return out


def _worker(rank, world, port, kind, train, state, records, step, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    task, bank = _task(kind, train, world, records)
    task.load_state_dict(state)
    task.train_step(draw_batch(task, bank, task.train_config, step, rank, world), step)
    if rank == 0:
        torch.save(_gradients(task), out)
    torch.distributed.destroy_process_group()


CASES = {
    "codec": ("records", {"disc_start": 0}),  # the discriminator's step included
    "semantic": ("records", {}),
    "stages": ("tokens", {}),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_two_ranks_compute_one_process_gradients(kind, tiny_cascade, tmp_path):
    root, _ = tiny_cascade
    folder, train = CASES[kind]
    records = root / folder
    torch.set_num_threads(1)
    warm, bank = _task(kind, train, 1, records)
    for step in range(4):  # past the codec's k-means initialisation
        warm.train_step(draw_batch(warm, bank, warm.train_config, step), step)
    state = copy.deepcopy(warm.state_dict())
    single, bank = _task(kind, train, 1, records)
    single.load_state_dict(copy.deepcopy(state))  # optimisers keep references to what they load
    single.train_step(draw_batch(single, bank, single.train_config, 7), 7)
    one = _gradients(single)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "ddp.pt"
    mp.spawn(_worker, args=(2, port, kind, train, state, str(records), 7, str(out)), nprocs=2)
    two = torch.load(out)
    assert set(two) == set(one)
    for name, grad in one.items():
        if name.startswith("discriminator."):
            # its gradient at the end of a step is taken after its own Adam step within it,
            # which magnifies rounding differences like the weights (see the docstring)
            continue
        error = (two[name] - grad).norm() / (grad.norm() + 1e-12)
        assert error < 1e-2, (name, float(error))
    if kind == "codec":
        codebooks = [layer.codebook for layer in single.trained()["codec"].quantizer.layers]
        assert all(c.abs().sum() > 0 for c in codebooks)
