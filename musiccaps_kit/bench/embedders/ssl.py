"""The self-supervised and speech embedders fadtk 1.1.0 and kadtk 1.1.0 load through
transformers (``model_loader.py``): wav2vec 2.0, HuBERT, WavLM and Whisper, and MERT (its
hub code written out in ``mert_network``), named exactly as the tools name them.

``<family>[-L]``: ``w2v2-base``/``-large`` (``facebook/wav2vec2-{size}-960h``),
``hubert-base``/``-large`` (``facebook/hubert-{size}-ls960``; the processor always
``facebook/hubert-large-ls960-ft``), ``wavlm-base``/``-base-plus``/``-large``
(``patrickvonplaten/wavlm-libri-clean-100h-{size}``), ``MERT-v1-95M``/``-330M``
(``m-a-p/MERT-v1-{size}``, 24 kHz), with the layer suffix ``-L`` (1-12 for base models,
1-24 for large ones); no suffix is the last layer (layer 12 for MERT, both sizes, as the
tools name it); and ``whisper-{tiny,base,small,medium,large}`` (``openai/whisper-{size}``,
no layer).

Each clip arrives as the tools load it (``FADTK``: channel mean, torchaudio's Kaiser sinc
to the model's rate, a 16-bit WAV read back as int16 / 32768), is cut to 6 minutes (not for
Whisper), goes through the processor as the tools call it (``processor(audio,
sampling_rate=rate, return_tensors="pt")``, with the processor's own ``do_normalize`` and
attention mask), one clip per call, and the frames are ``torch.stack(hidden_states)
.squeeze()[L]``. Whisper: ``AutoFeatureExtractor`` (30 s, padded or cut), the decoder's
``last_hidden_state`` for ``decoder_input_ids = [[start, start]]``: two frames a clip.
``pooling="kadtk"``: kadtk's 1 s pooling (``postprocess_resoultion``), never for Whisper.
The frames are rounded to float16, as both tools store them before computing FAD or KAD.
MERT: fadtk sets ``conv_pos_batch_norm = False``, kadtk keeps the config's value
(``conv_pos_batch_norm`` option: ``"fadtk"`` or ``"config"``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.bench import device
from musiccaps_kit.bench.audio_paths import FADTK
from musiccaps_kit.bench.embedders.base import Embedder
from musiccaps_kit.bench.embedders.encodec import kadtk_pooled
from musiccaps_kit.bench.embedders.hf_models import resolve, snapshot

LIMIT_SECONDS = 6 * 60  # fadtk/kadtk: limit_minutes=6


@dataclass(frozen=True)
class Family:
    name: str  # as the tools spell it
    hub: str
    model_type: str
    rate: int
    dims: int
    layers: int = 0  # 0: no layer choice (Whisper)
    default_layer: int = 0
    processor: str | None = None  # the tools' processor when it is another repo


def _families() -> dict[str, Family]:
    out = {}
    for size, layers, dims in (("base", 12, 768), ("large", 24, 1024)):
        out[f"w2v2-{size}"] = Family(
            f"w2v2-{size}", f"facebook/wav2vec2-{size}-960h", "wav2vec2", 16000, dims, layers,
            layers,
        )  # fmt: skip
        out[f"hubert-{size}"] = Family(
            f"hubert-{size}", f"facebook/hubert-{size}-ls960", "hubert", 16000, dims, layers,
            layers, "facebook/hubert-large-ls960-ft",
        )  # fmt: skip
    for size, layers, dims in (("base", 12, 768), ("base-plus", 12, 768), ("large", 24, 1024)):
        out[f"wavlm-{size}"] = Family(
            f"wavlm-{size}", f"patrickvonplaten/wavlm-libri-clean-100h-{size}", "wavlm", 16000,
            dims, layers, layers,
        )  # fmt: skip
    for size, layers, dims in (("95M", 12, 768), ("330M", 24, 1024)):
        out[f"mert-v1-{size.lower()}"] = Family(
            f"MERT-v1-{size}", f"m-a-p/MERT-v1-{size}", "mert_model", 24000, dims, layers, 12
        )
    for size, dims in (
        ("tiny", 384),
        ("base", 512),
        ("small", 768),
        ("medium", 1024),
        ("large", 1280),
    ):  # noqa: E501
        out[f"whisper-{size}"] = Family(
            f"whisper-{size}", f"openai/whisper-{size}", "whisper", 16000, dims
        )
    return out


FAMILIES = _families()


def family_names() -> list[str]:
    """The families as metric names take them (lowercase, underscores)."""
    return [key.replace("-", "_") for key in FAMILIES]


def parse(name: str) -> tuple[Family, int | None] | None:
    """``(family, layer)`` of an embedder name (``wavlm_base_plus_3``, ``MERT-v1-95M``),
    case-insensitive, dashes or underscores; None when no family has the name; a
    ValueError for a layer the model does not have or a layer on Whisper."""
    key = name.lower().replace("_", "-")
    for fam_key in sorted(FAMILIES, key=len, reverse=True):
        family = FAMILIES[fam_key]
        if key == fam_key:
            return family, None
        suffix = key[len(fam_key) + 1 :] if key.startswith(fam_key + "-") else ""
        if re.fullmatch(r"\d+", suffix):
            if not family.layers:
                raise ValueError(f"{family.name} takes no layer suffix")
            if not 1 <= int(suffix) <= family.layers:
                raise ValueError(f"{family.name} has layers 1-{family.layers}, not {suffix}")
            return family, int(suffix)
    return None


class SslFrames(Embedder):
    """A family's frames at one layer, as fadtk (``pooling="none"``) or kadtk
    (``"kadtk"``) gives them."""

    audio_path = FADTK

    def __init__(
        self,
        family: str,
        layer: int | None = None,
        model: str | None = None,
        pooling: str = "none",
        conv_pos_batch_norm: str = "fadtk",
    ):
        self.family = FAMILIES[family.lower()]
        fam = self.family
        self.layer = layer or fam.default_layer
        self.rate = fam.rate
        self.name = fam.name + (f"-{layer}" if layer else "")
        if pooling not in ("none", "kadtk") or (pooling == "kadtk" and not fam.layers):
            raise ValueError(
                f"{self.name}: pooling {pooling!r} (Whisper's frames are never pooled)"
            )
        self.pooling, self.conv_pos = pooling, conv_pos_batch_norm
        self.spec = str(model or fam.hub)
        option = f"--model {fam.name}"
        found = resolve(self.spec, fam.model_type, option)
        self.folder, self._checksum = found.folder, found.checksum
        self.processor_folder = self._processor(model, option)
        self._parts = None

    def _processor(self, model: str | None, option: str) -> Path:
        """The tools' processor: the hub's (HuBERT's is another repo's), or the folder's own
        ``preprocessor_config.json`` for a user's folder (refused when missing)."""
        if model is None and self.family.processor:
            return resolve_processor(self.family.processor, option)
        if (self.folder / "preprocessor_config.json").is_file():
            return self.folder
        raise ValueError(f"{option} {self.spec}: {self.folder} has no preprocessor_config.json")

    def _load(self):
        if self._parts is None:
            from transformers import AutoFeatureExtractor

            processor = AutoFeatureExtractor.from_pretrained(self.processor_folder)
            kind = self.family.model_type
            if kind == "mert_model":
                from musiccaps_kit.bench.embedders.mert_network import load

                config = json.loads((self.folder / "config.json").read_text())
                batch_norm = False if self.conv_pos == "fadtk" else None
                model = load(config, _state(self.folder), str(self.folder), batch_norm)
            else:
                from transformers import AutoModel

                model = AutoModel.from_pretrained(self.folder).eval()
            self._parts = (device.place(model), processor)
        return self._parts

    def embed(self, wave: np.ndarray) -> np.ndarray:
        import torch

        model, processor = self._load()
        if self.family.model_type == "whisper":
            features = processor(wave, sampling_rate=self.rate, return_tensors="pt")
            start = model.config.decoder_start_token_id
            ids = torch.tensor([[1, 1]]) * start
            with torch.inference_mode():
                out = model(
                    features.input_features.to(device.current()),
                    decoder_input_ids=ids.to(device.current()),
                ).last_hidden_state
            return as_cached(out.squeeze().float().cpu().numpy())
        wave = wave[: LIMIT_SECONDS * self.rate]
        inputs = processor(wave, sampling_rate=self.rate, return_tensors="pt")
        with torch.inference_mode():
            if self.family.model_type == "mert_model":
                states = model(inputs["input_values"].to(device.current()))
            else:
                inputs = {k: v.to(device.current()) for k, v in inputs.items()}
                states = model(**inputs, output_hidden_states=True).hidden_states
            frames = torch.stack(states).squeeze()[self.layer].float().cpu().numpy()
        if self.pooling == "kadtk":
            frames = kadtk_pooled(frames, len(wave), self.rate)
        return as_cached(frames)

    def settings(self) -> dict[str, Any]:
        fam = self.family
        tool = "kadtk 1.1.0" if self.pooling == "kadtk" else "fadtk 1.1.0"
        out = {
            "model": self.spec,
            "protocol": f"{tool} {self.name}",
            "processor": str(self.processor_folder.name),
            "layer": self.layer if fam.layers else "decoder last_hidden_state",
            "frames": "float16, as the tools cache them (their FAD and KAD are computed on those)",
        }
        if fam.model_type == "whisper":
            out["windowing"] = "AutoFeatureExtractor: 30 s padded or cut; decoder_input_ids "
            out["windowing"] += "[[start, start]]: 2 frames a clip"
        else:
            out["windowing"] = "the whole clip (first 6 minutes), one processor call"
            out["pooling"] = (
                "kadtk 1 s (postprocess_resoultion)" if self.pooling == "kadtk" else "none"
            )
        if fam.model_type == "mert_model":
            out["conv_pos_batch_norm"] = (
                "False (fadtk sets it)" if self.conv_pos == "fadtk" else "the config's (kadtk)"
            )
        return out

    def weights_checksum(self) -> str:
        return self._checksum

    def weights_name(self) -> str:
        return self.spec


def as_cached(frames: np.ndarray) -> np.ndarray:
    """The frames as fadtk's and kadtk's ``get_embedding`` store them (float16: their FAD
    and KAD are computed on those), back in float32."""
    return np.asarray(frames).astype(np.float16).astype(np.float32)


def resolve_processor(spec: str, option: str) -> Path:
    """A processor repo (``preprocessor_config.json`` only) from a folder or the hub."""
    path = Path(spec).expanduser()
    return path if path.is_dir() else snapshot(spec, ["preprocessor_config.json"], option)


def _state(folder: Path) -> dict:
    import torch

    file = folder / "model.safetensors"
    if file.is_file():
        from safetensors.torch import load_file

        return load_file(str(file))
    return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)


def make(name: str, **options: Any) -> SslFrames:
    """The embedder of a family name with its layer suffix."""
    parsed = parse(name)
    if parsed is None:
        raise ValueError(f"{name}: not a fadtk/kadtk family ({', '.join(FAMILIES)})")
    family, layer = parsed
    key = next(k for k, f in FAMILIES.items() if f is family)
    return SslFrames(key, layer, **options)
