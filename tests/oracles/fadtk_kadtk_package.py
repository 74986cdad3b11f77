"""fadtk's and kadtk's own model loaders as the oracle for the transformers families (run
once in a side environment: both tools need the PyPI torchaudio).

    side/bin/pip install torch==2.9.1 torchaudio==2.9.1 "transformers<5" soundfile soxr \
        hypy_utils torchlibrosa librosa
    pip download --no-deps fadtk==1.1.0 kadtk==1.1.0   # unzip both into pkg/
    python -c "from tests.tiny_ssl import *; save_all(Path(M)); write_sets(Path(R), Path(C))"
    PYTHONPATH=pkg:. side/bin/python tests/oracles/fadtk_kadtk_package.py M C MERT_CODE

M holds the tiny models of tests/tiny_ssl.py (built by this project's environment), C the
clip sets, MERT_CODE a copy of MERT's hub code (``configuration_MERT.py``,
``modeling_MERT.py``, the HubertAttention call given its ``config``, which transformers 4.5x
requires) that the tools load with ``trust_remote_code``. Each clip is converted
as fadtk's ``load_audio`` does it (channel mean, torchaudio's Kaiser ``Resample`` to the
model's rate, a 16-bit WAV), read by the tool's ``load_wav``, embedded by the tool's loader
(its hub ids routed to the tiny models' folders), kept as the tools cache it (float16);
fadtk's FAD (``calc_embd_statistics``, ``calc_frechet_distance``) and kadtk's KAD
(``calc_kernel_audio_distance``) of system against reference are recorded per family in
tests/fixtures/learned/ssl_tools.npz, with one clip's float32 frames."""

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio
import transformers
from fadtk import fad as fadtk_fad
from fadtk import model_loader as F
from kadtk import kad as kadtk_kad
from kadtk import model_loader as K

from tests.learned_fixtures import FIXTURES
from tests.tiny_ssl import FAMILY_KINDS


def loaders(family: str, layer):
    size = family.split("-", 1)[1]
    if family.startswith("w2v2"):
        return F.W2V2Model(size, layer=layer), K.W2V2Model(size, layer=layer)
    if family.startswith("hubert"):
        return F.HuBERTModel(size, layer=layer), K.HuBERTModel(size, layer=layer)
    if family.startswith("wavlm"):
        return F.WavLMModel(size, layer=layer), K.WavLMModel(size, layer=layer)
    if family.startswith("whisper"):
        return F.WhisperModel(size), K.WhisperModel(size)
    return F.MERTModel("v1-95M", layer=layer), K.MERTModel("v1-95M", layer=layer)


def main(models: str, clips: str, mert_code: str) -> None:
    models, clips = Path(models), Path(clips)
    mert = models / "mert-v1-95m"
    for name in ("configuration_MERT.py", "modeling_MERT.py"):
        shutil.copy(Path(mert_code) / name, mert / name)
    config = json.loads((mert / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "configuration_MERT.MERTConfig",
                          "AutoModel": "modeling_MERT.MERTModel"}  # fmt: skip
    # kadtk leaves MERT's config as it is; MERT-v1's has no conv_pos_batch_norm, which
    # transformers >= 4.4x's HubertPositionalConvEmbedding reads (kadtk then fails): False is
    # what the transformers kadtk was written against used, and what fadtk sets
    config["conv_pos_batch_norm"] = False
    (mert / "config.json").write_text(json.dumps(config))
    route = {"facebook/hubert-large-ls960-ft": str(models / "hubert-base")}
    for cls in (transformers.AutoProcessor, transformers.AutoFeatureExtractor):
        original = cls.from_pretrained.__func__
        cls.from_pretrained = classmethod(
            lambda c, name, *a, _o=original, **k: _o(c, route.get(name, name), *a, **k)
        )
    out = {}
    work = Path(tempfile.mkdtemp())
    for family, (_, layer) in FAMILY_KINDS.items():
        for tool, ml in zip(("fadtk", "kadtk"), loaders(family, layer), strict=True):
            ml.huggingface_id = str(models / family)
            ml.num_features = 32  # the tiny models' width (kadtk checks it)
            ml.load_model()
            frames = {}
            for side in ("reference", "system"):
                for path in sorted((clips / side).glob("*.wav")):
                    x, rate = (
                        torchaudio.load(str(path), backend="soundfile")
                        if False
                        else (
                            torch.from_numpy(sf.read(path, dtype="float32", always_2d=True)[0].T),
                            sf.info(path).samplerate,
                        )
                    )
                    x = torch.mean(x, 0).unsqueeze(0)
                    y = torchaudio.transforms.Resample(
                        rate, ml.sr, lowpass_filter_width=64, rolloff=0.9475937167399596,
                        resampling_method="sinc_interp_kaiser", beta=14.769656459379492,
                    )(x)  # fmt: skip
                    wav = work / f"{tool}-{family}-{side}-{path.stem}.wav"
                    sf.write(wav, y[0].numpy(), ml.sr, subtype="PCM_16")
                    audio = ml.load_wav(wav)
                    frames[side, path.stem] = ml.get_embedding(audio)  # float16, as cached
                    if side == "reference" and path.stem == "b7s16":
                        out[f"{tool}:{family}:frames"] = ml._get_embedding(audio).numpy()
            ref = np.concatenate([v for (s, _), v in sorted(frames.items()) if s == "reference"])
            sys_ = np.concatenate([v for (s, _), v in sorted(frames.items()) if s == "system"])
            if tool == "fadtk":
                mu1, cov1 = fadtk_fad.calc_embd_statistics(ref)
                mu2, cov2 = fadtk_fad.calc_embd_statistics(sys_)
                value = fadtk_fad.calc_frechet_distance(mu1, cov1, mu2, cov2)
            else:
                value = kadtk_kad.calc_kernel_audio_distance(
                    torch.from_numpy(ref.astype(np.float32)),
                    torch.from_numpy(sys_.astype(np.float32)),
                    (None, None), "cpu",
                )  # fmt: skip
            out[f"{tool}:{family}"] = np.array(float(value))
            print(tool, family, ref.shape, float(value))
    np.savez(FIXTURES / "ssl_tools.npz", **out)


if __name__ == "__main__":
    main(*sys.argv[1:4])
