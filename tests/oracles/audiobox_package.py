"""Audiobox Aesthetics' own code as the oracle (run once in a side environment: the package
needs the PyPI torchaudio, which does not load beside this project's torch).

    python -m venv side && side/bin/pip install torch==2.9.1 torchaudio==2.9.1 \
        "transformers<5" huggingface_hub safetensors soundfile soxr rich
    pip download --no-deps audiobox-aesthetics==0.0.4 && unzip audiobox_aesthetics-*.whl -d pkg
    PYTHONPATH=pkg:. side/bin/python tests/oracles/audiobox_package.py REALMUSIC

It writes tests/fixtures/learned/audiobox_keys.json (the package's tensor names and shapes)
the first time, builds the package's ``AesMultiOutput`` with the seeded weights
``tests.learned_fixtures.aes_weights`` draws from them, and records its ``AesPredictor``'s
scores on the test clips (each loaded as ``read_wav`` does: 16-bit samples / 32768, the
channels' mean) and torchaudio's own resampling of their first 2,000 output samples in
tests/fixtures/learned/audiobox_package.npz."""

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio
from audiobox_aesthetics.infer import AesPredictor
from audiobox_aesthetics.model.aes import AesMultiOutput

from tests.learned_fixtures import (
    AES_CFG,
    AES_TRANSFORM,
    FIXTURES,
    aes_weights,
    save_aes_release,
    write_clips,
)


def main(realmusic: str) -> None:
    model = AesMultiOutput(**AES_CFG, target_transform=AES_TRANSFORM)
    keys = FIXTURES / "audiobox_keys.json"
    if not keys.exists():
        keys.write_text(json.dumps({k: list(v.shape) for k, v in model.state_dict().items()}))
    state = aes_weights(json.loads(keys.read_text()))
    model.load_state_dict(state)
    work = Path(tempfile.mkdtemp())
    _, checkpoint = save_aes_release(work, state)
    predictor = AesPredictor(checkpoint_pth=str(checkpoint))
    out = {}
    for name, path in write_clips(Path(realmusic), work / "clips").items():
        x, rate = sf.read(path, dtype="float32", always_2d=True)
        wav = torch.from_numpy(x.T).mean(0, keepdim=True)
        row = predictor.forward([{"path": wav, "sample_rate": rate}])[0]
        out[name] = np.array([row[a] for a in ("CE", "CU", "PC", "PQ")])
        out[f"resampled:{name}"] = torchaudio.functional.resample(wav, rate, 16000)[0, :2000]
        print(name, row)
    np.savez(FIXTURES / "audiobox_package.npz", **out)


if __name__ == "__main__":
    main(sys.argv[1])
