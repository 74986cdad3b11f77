"""CLAP on ``transformers.ClapModel``: fadtk's ``clap-laion-music`` embedder (``fad_clap``,
``kad_clap``) and the audio side of AudioCraft's CLAP score (``clap_score``).

``model`` is a hub id (``laion/larger_clap_music``, LAION's music CLAP in transformers), a
folder written by ``save_pretrained``, a LAION-CLAP ``.pt`` file converted on load
(``laion_checkpoint``; its tokenizer: ``tokenizer``, default ``roberta-base``), or a
``.pt`` on the Hugging Face hub as ``REPO_ID/FILE.pt``. With none, each embedder's tool's
release, fetched by name (``model_store``): ``music_audioset_epoch_15_esc_90.14.pt``, and
``630k-audioset-fusion-best.pt`` for stable-audio-metrics' score.
Fusion models (``enable_fusion``) take the whole clip through ``truncation="fusion"``.
Whether ``laion/larger_clap_music`` is converted from exactly
``music_audioset_epoch_15_esc_90.14.pt``, the file AudioCraft and fadtk load, is not
confirmed (LAION-AI/CLAP issue 172): the recipe names the model and its weights' sha256.
(The ``clap`` *joint model* for ``mcc_clap`` is another thing: the ``laion_clap`` package.)

Front end: ``ClapFeatureExtractor`` with ``truncation="rand_trunc"`` and
``padding="repeatpad"`` (the non-fusion path; its default ``"fusion"`` is wrong for these
models): 48 kHz, periodic Hann 1024, hop 480, 64 Slaney mel bands, 10*log10. Embeddings are
the L2-normalised projections.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from musiccaps_kit.bench import device, model_store, releases
from musiccaps_kit.bench.audio_paths import AUDIOCRAFT, FADTK, SAO
from musiccaps_kit.bench.embedders.base import Embedder, register
from musiccaps_kit.bench.embedders.hf_models import resolve
from musiccaps_kit.bench.embedders.laion_checkpoint import (
    TEXT_LAYER_NORM_EPS,
    file_has_fusion,
    load_laion_checkpoint,
)
from musiccaps_kit.checksums import checksum_files

RATE = 48000
WINDOW = 10 * RATE  # 480,000 samples: the model's 10 s input
HOP = RATE  # fadtk: one window every second
DEFAULT_MODEL = "laion/larger_clap_music"
HUB_FILE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+/[\w.-]+\.pt$")
DEFAULT_TOKENIZER = "roberta-base"  # LAION-CLAP's text tokenizer (for a .pt file)
BATCH = 8  # windows per forward pass
# the LAION music CLAP's front end, used where a folder brings no preprocessor_config.json
FRONT_END = {
    "feature_size": 64,
    "sampling_rate": RATE,
    "hop_length": 480,
    "max_length_s": 10,
    "fft_window_size": 1024,
    "frequency_min": 50,
    "frequency_max": 14000,
}


class ClapTower:
    """One CLAP model, its feature extractor and tokenizer. Resolving it (folder, config,
    weights' checksum) loads nothing; the network is built on the first embedding."""

    def __init__(self, model: str = DEFAULT_MODEL, tokenizer: str | None = None):
        self.spec, self.tokenizer_spec = str(model), tokenizer
        path = Path(self.spec).expanduser()
        if path.suffix == ".pt" and not path.exists() and HUB_FILE.match(self.spec):
            path = _download_file(self.spec)
        if path.suffix == ".pt":
            if not path.is_file():
                raise ValueError(f"--clap-model {model}: no such file")
            self.file, self.folder = path, None
            self.checksum = checksum_files([path])
            self.tokenizer_spec = tokenizer or DEFAULT_TOKENIZER
        else:
            found = resolve(self.spec, "clap", "--clap-model")
            self.file, self.folder, self.checksum = None, found.folder, found.checksum
        self._parts: tuple | None = None
        self._tokenizer = None

    @property
    def fusion(self) -> bool:
        """Whether the model has LAION's feature fusion (read from the file's names or the
        folder's config, without building the model)."""
        if self.file is not None:
            return file_has_fusion(self.file)
        config = json.loads((self.folder / "config.json").read_text())
        return bool((config.get("audio_config") or {}).get("enable_fusion", False))

    def audio_one(self, clip: np.ndarray, seed: int) -> np.ndarray:
        """``[dims]`` normalised embedding of one 48 kHz clip of any length, as laion_clap's
        ``get_audio_embedding_from_data`` takes it: fusion models through
        ``truncation="fusion"`` (a clip over 10 s: three crops drawn at random plus the whole
        clip shrunk, and the fusion layers; a clip of at most 10 s, or within one hop of it,
        the whole clip and no fusion layer), the others through ``"rand_trunc"`` (over 10 s:
        one crop drawn at random); shorter clips repeat-padded. The draws come from NumPy's
        generator seeded with ``seed`` before each clip (restored after), so a clip's
        embedding does not depend on what came before it."""
        import torch

        model, extractor = self._load()
        truncation = "fusion" if self.fusion else "rand_trunc"
        state = np.random.get_state()
        try:
            np.random.seed(seed)
            features = extractor(
                [np.asarray(clip, dtype=np.float32)],
                sampling_rate=RATE,
                return_tensors="pt",
                truncation=truncation,
                padding="repeatpad",
            )
        finally:
            np.random.set_state(state)
        # the clip's own flag: transformers marks a random clip as longer when none is,
        # laion_clap's HTSAT does not (a clip of 10 s or less takes no fusion layer)
        is_longer = torch.tensor([[takes_fusion_branch(len(clip), extractor)]])
        with torch.inference_mode():
            result = model.get_audio_features(
                input_features=_on_device(features["input_features"].float()),
                is_longer=_on_device(is_longer),
            )
        return _normalised(_pooled(result))[0]

    def _load(self):
        if self._parts is None:
            from transformers import ClapFeatureExtractor, ClapModel

            if self.file is not None:
                model = load_laion_checkpoint(self.file)
            else:
                model = ClapModel.from_pretrained(self.folder)
            model = device.place(model)
            modes = {"truncation": "rand_trunc", "padding": "repeatpad"}
            if self.folder is not None and (self.folder / "preprocessor_config.json").is_file():
                extractor = ClapFeatureExtractor.from_pretrained(self.folder, **modes)
            else:
                extractor = ClapFeatureExtractor(**FRONT_END, **modes)
            self._parts = (model, extractor)
        return self._parts

    def _load_tokenizer(self):
        """The text tokenizer, loaded when a caption is first embedded."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            source = self.tokenizer_spec or self.folder
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(source)
            except (OSError, ValueError) as e:
                raise ValueError(f"CLAP tokenizer {source}: cannot load it ({e})") from None
        return self._tokenizer

    def audio(self, clips: list[np.ndarray]) -> np.ndarray:
        """``[len(clips), dims]`` normalised embeddings of 48 kHz clips; a clip of at most
        10 s goes in whole (repeat-padded by the extractor), a longer one must be cut first."""
        import torch

        model, extractor = self._load()
        out = []
        for start in range(0, len(clips), BATCH):
            chunk = [np.asarray(c, dtype=np.float32) for c in clips[start : start + BATCH]]
            features = extractor(chunk, sampling_rate=RATE, return_tensors="pt")
            with torch.no_grad():
                result = model.get_audio_features(
                    input_features=_on_device(features["input_features"].float()),
                    is_longer=_on_device(features.get("is_longer")),
                )
            out.append(_normalised(_pooled(result)))
        return np.concatenate(out)

    def text(self, captions: list[str]) -> np.ndarray:
        """AudioCraft's tokenisation: ``padding="max_length", truncation=True,
        max_length=77``; normalised text embeddings."""
        import torch

        model, _ = self._load()
        tokenizer = self._load_tokenizer()
        tokens = tokenizer(
            list(captions),
            padding="max_length",
            truncation=True,
            max_length=77,
            return_tensors="pt",
        )
        with torch.no_grad():
            result = model.get_text_features(
                input_ids=_on_device(tokens["input_ids"]),
                attention_mask=_on_device(tokens["attention_mask"]),
            )
        return _normalised(_pooled(result))

    def text_layer_norm_eps(self) -> float:
        """The text tower's LayerNorm eps: LAION's RoBERTa value for a converted file, else
        what the folder's config says (ClapTextConfig's default 1e-12 when it says none)."""
        if self.file is not None:
            return TEXT_LAYER_NORM_EPS
        config = json.loads((self.folder / "config.json").read_text())
        return float((config.get("text_config") or {}).get("layer_norm_eps", 1e-12))

    def recipe(self) -> dict[str, Any]:
        eps = self.text_layer_norm_eps()
        return {
            "model": self.spec,
            "checkpoint": self.file.name if self.file else self.spec,
            "model_kind": "LAION-CLAP .pt converted (transformers' key mapping)"
            if self.file
            else "transformers ClapModel",
            "text_layer_norm_eps": eps
            if eps == TEXT_LAYER_NORM_EPS
            else f"{eps:g} from the folder's config (LAION's RoBERTa text branch uses 1e-5)",
            "front_end": "ClapFeatureExtractor(truncation='rand_trunc', padding='repeatpad'): "
            "periodic Hann 1024, hop 480, 64 Slaney mel bands, 10 log10",
            "embedding": "audio projection, L2-normalised",
        }


def _download_file(spec: str) -> Path:
    """``REPO_ID/FILE.pt`` from the Hugging Face hub (cached by huggingface_hub)."""
    from huggingface_hub import hf_hub_download

    repo, _, filename = spec.rpartition("/")
    try:
        return Path(hf_hub_download(repo, filename))
    except Exception as e:  # offline, unknown repo or file: the hub's own words
        raise ValueError(
            f"--clap-model {spec}: not a local file, and the Hugging Face hub did not give it "
            f"({type(e).__name__}); download it where there is network (see the README) and "
            "pass the file"
        ) from None


def takes_fusion_branch(samples: int, extractor) -> bool:
    """laion_clap's ``longer`` flag for a clip (``get_audio_features`` with ``"fusion"``):
    longer than the 10 s window and by at least one hop, so that its mel has more frames
    than one window's (centred STFT: ``1 + samples // hop``)."""
    window = extractor.nb_max_samples
    hop = extractor.hop_length
    return samples > window and 1 + samples // hop != window // hop + 1


def _on_device(tensor):
    return None if tensor is None else tensor.to(device.current())


def _pooled(result) -> np.ndarray:
    """transformers returns the projected embedding itself or, since 5.x, an output whose
    ``pooler_output`` holds it."""
    tensor = getattr(result, "pooler_output", result)
    return tensor.detach().float().cpu().numpy()


def _normalised(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@lru_cache(maxsize=4)
def clap_tower(model: str = DEFAULT_MODEL, tokenizer: str | None = None) -> ClapTower:
    """One tower per model for the whole process: fad_clap, kad_clap and clap_score share it."""
    return ClapTower(model, tokenizer)


def int16_round_trip(wave: np.ndarray) -> np.ndarray:
    """fadtk's quantisation before CLAP (``CLAPLaionModel``): clip to [-1, 1], ``* 32767``
    truncated to int16, ``/ 32767``."""
    clipped = np.clip(wave, -1.0, 1.0)
    return ((clipped * 32767.0).astype(np.int16) / 32767.0).astype(np.float32)


def fadtk_windows(wave: np.ndarray) -> list[np.ndarray]:
    """fadtk's CLAP windows: 10 s every 1 s from 0 while the start is inside the clip, each
    zero-padded to 10 s (a 10 s clip gives 10 windows)."""
    return [
        np.pad(wave[s : s + WINDOW], (0, max(0, WINDOW - len(wave[s : s + WINDOW]))))
        for s in range(0, len(wave), HOP)
    ]


class _ClapEmbedder(Embedder):
    rate = RATE
    # whether the tool this embedder follows runs LAION's fusion models (None: both)
    takes_fusion: bool | None = False

    # the file its tool loads, fetched by name when no model is given
    release = releases.CLAP_MUSIC

    def __init__(self, model: str | None = None, tokenizer: str | None = None):
        model = model or str(model_store.fetch(self.release))
        self.tower = clap_tower(str(model), tokenizer)
        fusion = self.tower.fusion
        if self.takes_fusion is False and fusion:
            raise ValueError(
                f"--clap-model {model}: a fusion checkpoint; {self.name} follows a tool that "
                "loads CLAP without fusion (music_audioset_epoch_15_esc_90.14.pt)"
            )
        if not fusion and "fusion" in Path(self.tower.spec).name:
            raise ValueError(
                f"--clap-model {model}: named as a fusion checkpoint but holds no fusion layers"
            )

    def weights_checksum(self) -> str:
        return self.tower.checksum

    def weights_name(self) -> str:
        return self.tower.spec

    def embed(self, wave: np.ndarray) -> np.ndarray:
        return self.embed_many([wave])[0]


@register("clap")
class ClapWindows(_ClapEmbedder):
    """fadtk's ``clap-laion-music``: one 512-d embedding per 10 s window, 1 s hop."""

    name = "clap"
    audio_path = FADTK

    def embed_many(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        per_clip = [fadtk_windows(int16_round_trip(w)) for w in waves]
        flat = self.tower.audio([w for windows in per_clip for w in windows])
        ends = np.cumsum([len(w) for w in per_clip])
        return [flat[s:e] for s, e in zip(np.r_[0, ends[:-1]], ends, strict=True)]

    def settings(self) -> dict[str, Any]:
        return {
            **self.tower.recipe(),
            "protocol": "fadtk 1.1.0 clap-laion-music",
            "normalisation": "fadtk's int16 round trip: clip to [-1, 1], *32767 to int16, /32767",
            "windowing": "10 s windows every 1 s from 0 while inside the clip, zero-padded",
        }


class ClapClips(_ClapEmbedder):
    """AudioCraft's ``CLAPTextConsistencyMetric`` audio side: one embedding per clip, 48 kHz
    float (no int16 round trip), as laion_clap's ``get_audio_embedding_from_data`` takes it
    without fusion: a clip of at most 10 s repeat-padded (clips of one batch together), a
    longer one cropped at a random offset (``rand_trunc``), the draw seeded with ``seed``
    for each clip (AudioCraft leaves it unseeded)."""

    name = "clap-score-audio"
    audio_path = AUDIOCRAFT

    def __init__(self, model: str | None = None, tokenizer: str | None = None, seed: int = 0):
        super().__init__(model, tokenizer)
        self.seed = seed

    def embed_many(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        short = [i for i, w in enumerate(waves) if len(w) <= WINDOW]
        batch = self.tower.audio([waves[i] for i in short]) if short else []
        out = dict(zip(short, batch, strict=True))
        for i, w in enumerate(waves):
            if i not in out:
                out[i] = self.tower.audio_one(w, self.seed)
        return [out[i][None, :] for i in range(len(waves))]

    def settings(self) -> dict[str, Any]:
        return {
            **self.tower.recipe(),
            "protocol": "AudioCraft CLAPTextConsistencyMetric (MusicGen Table 1 CLAP)",
            "normalisation": "none (float audio, as AudioCraft's use_tensor=True)",
            "windowing": "one window per clip: shorter than 10 s, repeat-padded; longer, one "
            f"random 10 s crop (laion_clap's rand_trunc), seeded with {self.seed} for each clip",
        }


class ClapSao(_ClapEmbedder):
    """stable-audio-metrics' ``clap_score`` audio side: the clip as ``librosa.load(sr=48000,
    mono=True)`` gives it, peak -1 dBFS (the ``SAO`` path), LAION's int16 round trip (clip,
    ``* 32767`` to int16, ``/ 32767``), the whole clip through the model
    (``get_audio_embedding_from_data``): one embedding per clip."""

    name = "clap-sao-audio"
    audio_path = SAO
    takes_fusion = None

    release = releases.CLAP_FUSION_630K

    def __init__(self, model: str | None = None, tokenizer: str | None = None, seed: int = 0):
        super().__init__(model, tokenizer)
        self.seed = seed

    def embed_many(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        return [self.tower.audio_one(int16_round_trip(w), self.seed)[None, :] for w in waves]

    def settings(self) -> dict[str, Any]:
        fusion = self.tower.fusion
        return {
            **self.tower.recipe(),
            "protocol": "stable-audio-metrics clap_score",
            "fusion": fusion,
            "normalisation": "peak -1 dBFS, then LAION's int16 round trip (x 32767, /32767)",
            "windowing": "the whole clip: "
            + (
                "fusion (over 10 s: 3 random crops and the whole clip shrunk)"
                if fusion
                else "over 10 s one random crop (rand_trunc)"
            )
            + f"; shorter: repeat-padded; random draws seeded with {self.seed} for each clip",
        }
