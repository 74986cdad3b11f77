"""Where the bench's torch models run: ``--device auto|cpu|cuda|cuda:N`` and the precision
of their matrix products, chosen once per process.

``auto`` is CUDA when torch sees a GPU, else the CPU. Float32 with TF32 off is the default
on CUDA, so that frames computed on a GPU equal the CPU's to about 1e-5 relative and every
number keeps its meaning (the embedding cache is shared between devices); ``tf32`` is
faster and moves frames by about 1e-3, so it is written into every recipe and keys the
cache apart. Models are moved to the device when first built; clips go over in one pinned
host-to-device copy per batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PRECISIONS = ("float32", "tf32")
_STATE: dict[str, Any] = {"device": None, "precision": "float32"}


class DeviceError(ValueError):
    """A device this machine does not have."""


def resolve(spec: str = "auto"):
    """The ``torch.device`` of ``--device``; a CUDA device this machine lacks is a
    ``DeviceError`` that says what it has."""
    import torch

    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            built = (
                "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
            )
            raise DeviceError(
                f"--device {spec}: no CUDA device is available (torch {torch.__version__}, "
                f"{built}); use --device cpu, or install torch with CUDA (see the README)"
            )
        index = spec.partition(":")[2]
        if index:
            count = torch.cuda.device_count()
            if not index.isdigit() or int(index) >= count:
                raise DeviceError(
                    f"--device {spec}: this machine has {count} CUDA device(s): "
                    + ", ".join(f"cuda:{i}" for i in range(count))
                )
        return torch.device(spec)
    raise DeviceError(f"--device {spec}: use auto, cpu, cuda or cuda:N")


def select(spec: str = "auto", precision: str = "float32"):
    """Choose the process's device and precision (TF32 off unless ``precision="tf32"``)."""
    import torch

    if precision not in PRECISIONS:
        raise DeviceError(f"--precision {precision}: one of {', '.join(PRECISIONS)}")
    device = resolve(spec)
    if precision == "tf32" and device.type != "cuda":
        raise DeviceError("--precision tf32 applies to CUDA devices only")
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = precision == "tf32"
    _STATE.update(device=device, precision=precision)
    return device


def current():
    """The selected device (the CPU until ``select`` is called)."""
    import torch

    return _STATE["device"] or torch.device("cpu")


def precision() -> str:
    return _STATE["precision"]


def place(module):
    """``module`` on the selected device, in eval mode."""
    return module.to(current()).eval()


def to_device(array: np.ndarray):
    """A float32 host array as a tensor on the selected device: pinned and copied without
    blocking on CUDA (one copy per batch), as it is on the CPU."""
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    device = current()
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor


def recipe() -> dict[str, str]:
    """What a number's recipe says of where it was computed."""
    device = current()
    name = str(device)
    if device.type == "cuda":
        import torch

        name += f" ({torch.cuda.get_device_name(device)})"
    return {"device": name, "precision": precision()}
