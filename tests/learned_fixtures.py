"""What the learned scorers' tests and their package oracles (tests/oracles/*_package.py,
run once in a side environment with the packages' own code) share: the clips (real music
as 10 s stereo 44.1 kHz, 9.9 s mono 48 kHz and 25 s stereo 44.1 kHz 16-bit WAVs) and the
seeded weights of Audiobox Aesthetics' network, drawn per tensor from the package's key
names so that both sides build the same model. Needs only numpy, soundfile, soxr, torch."""

from __future__ import annotations

import csv
import json
import zlib
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).parent / "fixtures" / "learned"
CLIPS = {  # name: (manifest row, seconds, rate, stereo)
    "ten_stereo44": (5, 10.0, 44100, True),
    "nine9_mono48": (50, 9.9, 48000, False),
    "twentyfive_stereo44": (90, 25.0, 44100, True),
}


def write_clips(realmusic: Path, out: Path) -> dict[str, Path]:
    """The three test clips as 16-bit WAVs in ``out``."""
    import soundfile as sf
    import soxr

    rows = list(csv.DictReader(open(realmusic / "manifest.csv")))
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, (row, seconds, rate, stereo) in CLIPS.items():
        wave, source = sf.read(
            realmusic / "clips" / f"{rows[row]['clip_id']}.flac", dtype="float32"
        )
        wave = np.tile(soxr.resample(wave, source, rate), 3)[: round(seconds * rate)]
        data = np.stack([wave, 0.6 * np.roll(wave, 100)], 1) if stereo else wave
        paths[name] = out / f"{name}.wav"
        sf.write(paths[name], data, rate, subtype="PCM_16")
    return paths


def aes_weights(shapes: dict[str, list[int]]) -> dict:
    """Seeded weights for every tensor of Audiobox Aesthetics' state dict (the package's
    names): norms' gains near 1, biases near 0, weights scaled by their fan-in, the layer
    weights and heads far from their initial values so that scores vary by clip."""
    import torch

    state = {}
    for key, shape in shapes.items():
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        x = rng.standard_normal(shape)
        if key.startswith("layer_weights."):
            pass
        elif key.startswith("proj_layer.") and key.endswith("weight"):
            x *= 0.5
        elif key.endswith(("bias", "mask_emb")):
            x *= 0.02
        elif "norm" in key or key.endswith(("conv_layers.0.2.weight", "weight_g", "grep_a")):
            x = 1.0 + 0.1 * x
        elif key.endswith("relative_attention_bias.weight"):
            x *= 0.5
        else:
            x /= np.sqrt(max(1, int(np.prod(shape[1:]))))
        state[key] = torch.tensor(x, dtype=torch.float32)
    return state


def aes_shapes() -> dict[str, list[int]]:
    return json.loads((FIXTURES / "audiobox_keys.json").read_text())


AES_TRANSFORM = {
    "CE": {"mean": 5.6, "std": 1.4},
    "CU": {"mean": 6.1, "std": 1.2},
    "PC": {"mean": 4.3, "std": 1.7},
    "PQ": {"mean": 6.8, "std": 1.1},
}
AES_CFG = {
    "proj_num_layer": 1, "proj_ln": False, "proj_act_fn": "gelu", "proj_dropout": 0,
    "nth_layer": 13, "use_weighted_layer_sum": True, "precision": "bf16",
    "normalize_embed": True, "output_dim": 1,
}  # fmt: skip


def save_aes_release(out: Path, state: dict) -> tuple[Path, Path]:
    """The weights in both release formats: the hub folder (config.json +
    model.safetensors, as PyTorchModelHubMixin writes them) and checkpoint.pt."""
    import torch
    from safetensors.torch import save_file

    hub = out / "audiobox-aesthetics"
    hub.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(hub / "model.safetensors"))
    config = {**AES_CFG, "freeze_encoder": True, "target_transform": AES_TRANSFORM}
    (hub / "config.json").write_text(json.dumps(config))
    checkpoint = out / "checkpoint.pt"
    blob = {"state_dict": {f"model.{k}": v for k, v in state.items()}, "model_cfg": AES_CFG,
            "target_transform": AES_TRANSFORM}  # fmt: skip
    torch.save(blob, checkpoint)
    return hub, checkpoint
