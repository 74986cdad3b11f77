"""MuQ-MuLan for ``mcc_muq``: the released weights (``OpenMuQ/MuQ-MuLan-large``: a
``config.json`` and a ``pytorch_model.bin`` as ``PyTorchModelHubMixin`` saves them), found as
a local folder or a hub id, resolved and checksummed without building the network.

Audio (``MuqAudio``): the clip as the evaluation scripts load it (``librosa.load(sr=24000)``:
channel mean, soxr HQ, librosa's length fix), cut into non-overlapping 10 s pieces, the
remainder padded circularly with the clip's own start (``MuQMuLan._get_all_clips``); one
unit vector per piece (the frames a clip's embedding is the mean of, not re-normalised).

Text (``MuqMulan.text``): each caption alone (a batch of one: the package's mean over tokens
includes padding, so a caption's embedding would depend on its batch), tokenised with
``padding=True`` and no truncation; a caption longer than the tokenizer's maximum is an error
naming it, never cut.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.bench import device
from musiccaps_kit.bench.audio_paths import LIBROSA_MONO
from musiccaps_kit.bench.embedders.base import Embedder
from musiccaps_kit.bench.embedders.hf_models import HUB_ID, snapshot
from musiccaps_kit.bench.embedders.muq_network import (
    N_FFT,
    RATE,
    MuqMulan,
    MuqWeightsError,
    load_state,
    pieces_of,
    read_config,
    summary,
)
from musiccaps_kit.checksums import checksum_files

DEFAULT_MODEL = "OpenMuQ/MuQ-MuLan-large"
DEFAULT_TOKENIZER = "xlm-roberta-base"
WEIGHTS = "pytorch_model.bin"


def _folder(spec: str, option: str, files: tuple[str, ...]) -> Path:
    """A local folder, or the hub repo's ``files`` downloaded once (huggingface_hub's cache)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if path.exists() or not HUB_ID.match(spec):
        raise MuqWeightsError(f"{option} {spec}: not a folder or a hub id")
    return snapshot(spec, files, option)


class MuqMulanModel:
    """The two towers of one release; the network is built on first use."""

    def __init__(self, model: str = DEFAULT_MODEL, tokenizer: str | None = None):
        self.spec = str(model)
        self.folder = _folder(self.spec, "--muq-mulan-model", ("config.json", WEIGHTS))
        found = [self.folder / f for f in (WEIGHTS, "model.safetensors")]
        found = [f for f in found if f.is_file()]
        if not found:
            raise MuqWeightsError(f"--muq-mulan-model {model}: {self.folder} has no {WEIGHTS}")
        self.weights = found[0]
        audio_name = str(self._config_json().get("audio_model", {}).get("name") or "")
        if not audio_name:
            raise MuqWeightsError(f"{self.folder / 'config.json'}: no audio_model.name")
        self.audio_config = _folder(self._beside(audio_name), "audio_model.name", ("config.json",))
        self.config = read_config(self.folder, self.audio_config / "config.json")
        self.tokenizer_spec = tokenizer or self._beside(str(self.config.text_model.get("name")))
        self.checksum = checksum_files([self.weights, self.folder / "config.json"])
        self._net: MuqMulan | None = None
        self._tokenizer = None

    def _beside(self, name: str) -> str:
        """A model the config names by hub id, taken from beside the release's folder when
        it is there (a local copy of the hub's layout), else as named."""
        local = self.folder.parent / name
        return str(local) if local.is_dir() else name

    def _config_json(self) -> dict:
        import json

        try:
            return json.loads((self.folder / "config.json").read_text())
        except (OSError, ValueError) as e:
            raise MuqWeightsError(f"{self.folder / 'config.json'}: cannot read it ({e})") from None

    def _text_folder(self) -> Path:
        return _folder(
            self.tokenizer_spec,
            "--muq-tokenizer",
            ("config.json", "*.model", "tokenizer*", "special_tokens_map.json", "*.txt"),
        )

    def net(self) -> MuqMulan:
        if self._net is None:
            from transformers import XLMRobertaConfig

            text_config = XLMRobertaConfig.from_pretrained(self._text_folder())
            net = MuqMulan(self.config, text_config)
            load_state(net, self.weights)
            self._net = device.place(net.eval())
        return self._net

    def tokenizer(self):
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            try:
                self._tokenizer = AutoTokenizer.from_pretrained(self._text_folder())
            except (OSError, ValueError) as e:
                raise MuqWeightsError(f"--muq-tokenizer {self.tokenizer_spec}: {e}") from None
        return self._tokenizer

    def text(self, captions: list[str]) -> np.ndarray:
        """``[captions, 512]``: each caption embedded alone, never truncated."""
        import torch

        net, tokenizer = self.net(), self.tokenizer()
        limit = int(getattr(net.mulan.text.model.config, "max_position_embeddings", 514)) - 2
        rows = []
        for caption in captions:
            tokens = tokenizer([caption], return_tensors="pt", padding=True)
            if tokens["input_ids"].shape[1] > limit:
                raise ValueError(
                    f"mcc_muq: a caption of {tokens['input_ids'].shape[1]} tokens is longer "
                    f"than the text tower's {limit} (MuQ-MuLan does not truncate): "
                    f"{caption[:80]!r}..."
                )
            with torch.inference_mode():
                ids = tokens["input_ids"].to(device.current())
                mask = tokens["attention_mask"].to(device.current())
                rows.append(net.text_latents(ids, mask)[0].float().cpu().numpy())
        return np.stack(rows)

    def recipe(self) -> dict[str, Any]:
        return {
            "model": self.spec,
            "checkpoint": f"{Path(self.spec).name}/{self.weights.name}",
            "audio_config": str(self.config.audio_model.get("name")),
            **summary(self.config),
            "weights_sha256": self.checksum,
        }

    def text_recipe(self) -> dict[str, Any]:
        return {
            **self.recipe(),
            "tokenizer": self.tokenizer_spec,
            "tokenisation": "each caption alone (batch of one), padding=True, no truncation",
        }


@lru_cache(maxsize=2)
def muq_mulan(model: str = DEFAULT_MODEL, tokenizer: str | None = None) -> MuqMulanModel:
    return MuqMulanModel(model, tokenizer)


class MuqAudio(Embedder):
    """One 512-d unit vector per 10 s piece of a 24 kHz clip."""

    name = "muq-mulan-audio"
    rate = RATE
    audio_path = LIBROSA_MONO

    def __init__(self, model: str = DEFAULT_MODEL, tokenizer: str | None = None):
        self.model = muq_mulan(str(model), tokenizer)

    def embed(self, wave: np.ndarray) -> np.ndarray:
        import torch

        net = self.model.net()
        pieces = pieces_of(torch.from_numpy(np.asarray(wave, np.float32)), net.clip_samples)
        if pieces.shape[1] <= N_FFT:  # a clip under 43 ms, twice over: no STFT frame
            raise ValueError(f"MuQ-MuLan: a clip of {len(wave)} samples is shorter than its STFT")
        with torch.inference_mode():
            rows = [net.audio_latents(p[None].to(device.current()))[0] for p in pieces]
        return torch.stack(rows).float().cpu().numpy()

    def settings(self) -> dict[str, Any]:
        return {
            **self.model.recipe(),
            "windowing": "non-overlapping 10 s pieces, the remainder padded circularly with "
            "the clip's start; one unit vector per piece, averaged and not re-normalised",
        }

    def weights_checksum(self) -> str:
        return self.model.checksum

    def weights_name(self) -> str:
        return self.model.spec
