"""What one training step means for each model (``models.training`` runs the loop).

A task owns its modules and optimisers, wraps them in DDP when there is more than one
rank, and exports an inference file that its ``load_*`` function reads back.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from models.codec import (
    Codec,
    CodecConfig,
    MelSpectrum,
    MultiScaleSTFTDiscriminator,
    discriminator_loss,
    generator_losses,
    spectral_loss,
)
from models.kmeans import assign, kmeans
from models.training import Batch, ClipBank, autocast

CODEC_FORMAT = "musiccaps-kit/codec/1"
MULAN_FORMAT = "musiccaps-kit/mulan/1"
SEMANTIC_FORMAT = "musiccaps-kit/semantic/1"
MELODY_FORMAT = "musiccaps-kit/melody/1"


def config_from(cls, values: dict[str, Any]):
    """A frozen config dataclass from JSON values (lists become tuples)."""
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def _unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return module.module if isinstance(module, DDP) else module


def save_model(path: Path, fmt: str, config, module: torch.nn.Module, **extra: Any) -> None:
    """An inference file: format, configuration, weights, and any extra facts."""
    from models.training import save_checkpoint

    blob = {"format": fmt, "config": asdict(config), "state_dict": module.state_dict()}
    save_checkpoint(path, {**blob, **extra})


def read_model_file(path: str | Path, device: str = "cpu") -> dict[str, Any]:
    """A ``model.pt``'s contents; a missing or foreign file is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} not found")
    try:
        blob = torch.load(path, map_location=device, weights_only=False)
    except Exception as e:
        raise ValueError(f"{path} is not a readable model file: {e}") from None
    if not isinstance(blob, dict) or "format" not in blob:
        raise ValueError(f"{path} is not a musiccaps-kit model file")
    return blob


def build_model(blob: dict, fmt: str, path, config_cls, module_cls, device: str = "cpu"):
    """The module (eval mode) of a ``save_model`` file of format ``fmt``."""
    if blob["format"] != fmt:
        raise ValueError(f"{path} is a {blob['format']} file, not {fmt}")
    module = module_cls(config_from(config_cls, blob["config"]))
    module.load_state_dict(blob["state_dict"])
    return module.to(device).eval()


class CodecTask:
    """Reconstruction (multi-scale mel), adversarial STFT discriminator with feature
    matching (from ``disc_start``), RVQ commitment."""

    rate = 24000

    def __init__(self, model: dict, train: dict, device: torch.device, world: int):
        self.config = config_from(CodecConfig, model)
        self.train_config, self.device = train, device
        codec = Codec(self.config).to(device)
        disc = MultiScaleSTFTDiscriminator(self.config).to(device)
        self.spectrum = MelSpectrum(self.config).to(device)
        if world > 1:
            codec = DDP(codec, broadcast_buffers=False)
            disc = DDP(disc)
        self.codec, self.disc = codec, disc
        lr = train["learning_rate"]
        self.opt_g = torch.optim.Adam(codec.parameters(), lr=lr, betas=(0.5, 0.9))
        self.opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.9))

    def prepare(self, bank: ClipBank) -> None:
        pass

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        t = self.train_config
        self.codec.train()
        x = batch.audio.to(self.device)
        with autocast(self.device):
            recon, _, commitment = self.codec(x, step=step)
        recon = recon.float()
        losses = {}
        adversarial = matching = torch.zeros((), device=self.device)
        if step >= t["disc_start"]:
            out = self.disc(torch.cat([x, recon.detach()]))
            real = [(o[: len(x)], [f[: len(x)] for f in fs]) for o, fs in out]
            fake = [(o[len(x) :], [f[len(x) :] for f in fs]) for o, fs in out]
            d_loss = discriminator_loss(real, fake)
            self.opt_d.zero_grad()
            d_loss.backward()
            self.opt_d.step()
            out = self.disc(torch.cat([x, recon]))
            real = [(o[: len(x)], [f[: len(x)] for f in fs]) for o, fs in out]
            fake = [(o[len(x) :], [f[len(x) :] for f in fs]) for o, fs in out]
            adversarial, matching = generator_losses(real, fake)
            losses["discriminator"] = d_loss.item()
        reconstruction = spectral_loss(self.spectrum, x, recon)
        total = (
            reconstruction
            + t["adversarial_weight"] * adversarial
            + t["feature_matching_weight"] * matching
            + t["commitment_weight"] * commitment
        )
        self.opt_g.zero_grad()
        total.backward()
        self.opt_g.step()
        losses.update(
            reconstruction=reconstruction.item(),
            adversarial=adversarial.item(),
            feature_matching=matching.item(),
            commitment=commitment.item(),
        )
        return losses

    def trained(self) -> dict[str, torch.nn.Module]:
        """The modules this task trains, by name (unwrapped from DDP)."""
        return {"codec": _unwrap(self.codec), "discriminator": _unwrap(self.disc)}

    def state_dict(self) -> dict[str, Any]:
        return {
            "codec": _unwrap(self.codec).state_dict(),
            "disc": _unwrap(self.disc).state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _unwrap(self.codec).load_state_dict(state["codec"])
        _unwrap(self.disc).load_state_dict(state["disc"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])

    def export(self, path: Path) -> None:
        save_model(path, CODEC_FORMAT, self.config, _unwrap(self.codec))


def load_codec(path: str | Path, device: str = "cpu") -> Codec:
    """The codec of a ``model.pt`` from ``mck train codec`` (or ``codec-pretrained``)."""
    from models import codec_pretrained

    blob = read_model_file(path, device)
    if blob["format"] == codec_pretrained.FORMAT:
        return codec_pretrained.load(blob)
    return build_model(blob, CODEC_FORMAT, path, CodecConfig, Codec, device)


class MulanTask:
    """Symmetric InfoNCE between audio crops and their captions' text embeddings."""

    rate = 16000

    def __init__(self, model: dict, train: dict, device: torch.device, world: int):
        from models.mulan import MuLan, MulanConfig

        self.config = config_from(MulanConfig, model)
        self.train_config, self.device, self.world = train, device, world
        mulan = MuLan(self.config).to(device)
        if world > 1 and device.type == "cuda":
            # batch statistics over the global batch, as one process would have them
            mulan = torch.nn.SyncBatchNorm.convert_sync_batchnorm(mulan)
        self.mulan = DDP(mulan, broadcast_buffers=False) if world > 1 else mulan
        self.optimizer = torch.optim.AdamW(
            (p for p in mulan.parameters() if p.requires_grad), lr=train["learning_rate"]
        )
        self.sentences: dict[str, torch.Tensor] = {}
        self.bank: ClipBank | None = None

    def prepare(self, bank: ClipBank) -> None:
        from musiccaps_kit.joint import text_encoder

        captions = sorted(set(bank.captions))
        vectors = text_encoder.encode(captions)
        self.sentences = {c: torch.from_numpy(v) for c, v in zip(captions, vectors, strict=True)}
        self.bank = bank

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        from models.mulan import contrastive_loss

        self.mulan.train()
        sentences = torch.stack([self.sentences[c] for c in batch.captions]).to(self.device)
        with autocast(self.device):
            audio, text, scale = self.mulan(batch.audio.to(self.device), sentences)
        audio, text = audio.float(), text.float()
        if self.world > 1:
            from torch.distributed.nn.functional import all_gather

            audio, text = torch.cat(all_gather(audio)), torch.cat(all_gather(text))
        loss = contrastive_loss(audio, text, scale)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"contrastive": loss.item(), "temperature": 1 / scale.item()}

    def trained(self) -> dict[str, torch.nn.Module]:
        return {"mulan": _unwrap(self.mulan)}

    def state_dict(self) -> dict[str, Any]:
        return {"mulan": _unwrap(self.mulan).state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _unwrap(self.mulan).load_state_dict(state["mulan"])
        self.optimizer.load_state_dict(state["optimizer"])

    def export(self, path: Path) -> None:
        """Fit the conditioning RVQ on every window embedding of the training clips, freeze
        it, and save the model."""
        mulan = _unwrap(self.mulan).eval()
        embeddings = torch.cat([mulan.window_embeddings(w) for w in self.bank.waves])
        mulan.quantizer.fit(embeddings)
        save_model(path, MULAN_FORMAT, self.config, mulan, rvq_fitted_on=len(embeddings))


def load_mulan(path: str | Path, device: str = "cpu"):
    """The MuLan of a ``model.pt`` written by training (with its fitted RVQ), in eval mode;
    or a joint model with its quantiser (``mck train mulan-pretrained``)."""
    from models import mulan_pretrained
    from models.mulan import MuLan, MulanConfig

    blob = read_model_file(path, device)
    if blob["format"] == mulan_pretrained.FORMAT:
        return mulan_pretrained.load(blob)
    return build_model(blob, MULAN_FORMAT, path, MulanConfig, MuLan, device)


class _Predictor(torch.nn.Module):
    """The semantic model with one prediction head per target iteration (for DDP)."""

    def __init__(self, model, dim: int, first: int, second: int):
        super().__init__()
        self.model = model
        self.heads = torch.nn.ModuleList(
            [torch.nn.Linear(dim, first), torch.nn.Linear(dim, second)]
        )

    def forward(self, wave: torch.Tensor, mask: torch.Tensor, iteration: int) -> torch.Tensor:
        return self.heads[iteration](self.model(wave, mask))


class SemanticTask:
    """HuBERT-style masked prediction: log-mel clusters first, then clusters of the model's
    own token-layer features (``iteration_steps`` on); tokens by k-means at export."""

    rate = 16000

    def __init__(self, model: dict, train: dict, device: torch.device, world: int):
        from models.semantic import SemanticConfig, SemanticModel

        self.config = config_from(SemanticConfig, model)
        self.train_config, self.device, self.world = train, device, world
        c = self.config
        predictor = _Predictor(
            SemanticModel(c).to(device), c.dim, c.targets_first, c.targets_second
        ).to(device)
        self.predictor = DDP(predictor, find_unused_parameters=True) if world > 1 else predictor
        self.optimizer = torch.optim.AdamW(predictor.parameters(), lr=train["learning_rate"])
        self.centroids: list[torch.Tensor | None] = [None, None]
        self.teacher = None
        self.bank: ClipBank | None = None

    @property
    def model(self):
        return _unwrap(self.predictor).model

    def _sample_waves(self) -> list:
        clips = self.train_config.get("kmeans_clips", 200)
        rng = torch.Generator().manual_seed(self.train_config["seed"])
        order = torch.randperm(len(self.bank), generator=rng)[:clips].tolist()
        return [self.bank.waves[i] for i in sorted(order)]

    @torch.no_grad()
    def _features(self, model, waves, frames: bool) -> torch.Tensor:
        rows = []
        for wave in waves:
            x = torch.from_numpy(wave)[None].to(self.device)
            out = model.frames(x) if frames else model(x, upto=self.config.token_layer)
            rows.append(out[0])
        return torch.cat(rows)

    def prepare(self, bank: ClipBank) -> None:
        self.bank = bank
        if self.centroids[0] is None:
            frames = self._features(self.model, self._sample_waves(), frames=True)
            self.centroids[0] = kmeans(frames, self.config.targets_first, seed=0)[0]

    def _second_iteration(self) -> None:
        import copy

        self.teacher = copy.deepcopy(self.model).eval().requires_grad_(False)
        feats = self._features(self.teacher, self._sample_waves(), frames=False)
        self.centroids[1] = kmeans(feats, self.config.targets_second, seed=1)[0]

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        from models.semantic import masked_prediction_loss, span_mask

        c, t = self.config, self.train_config
        iteration = int(step >= t["iteration_steps"])
        if iteration and self.centroids[1] is None:
            self._second_iteration()
        x = batch.audio.to(self.device)
        with torch.no_grad():
            if iteration == 0:
                feats = self.model.frames(x)
            else:
                feats = self.teacher(x, upto=c.token_layer)
            targets = assign(feats.reshape(-1, feats.shape[-1]), self.centroids[iteration])
            targets = targets.reshape(feats.shape[:-1])
        rank = torch.distributed.get_rank() if self.world > 1 else 0
        generator = torch.Generator().manual_seed(t["seed"] * 1_000_003 + step)
        share = len(x)
        mask = span_mask(
            share * self.world, targets.shape[1], c.mask_prob, c.mask_length, generator
        )
        mask = mask[rank * share : (rank + 1) * share].to(self.device)
        self.predictor.train()
        with autocast(self.device):
            logits = self.predictor(x, mask, iteration)
        loss, accuracy = masked_prediction_loss(logits.float(), targets, mask)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {
            "masked_prediction": loss.item(),
            "accuracy": accuracy.item(),
            "iteration": iteration + 1,
        }

    def trained(self) -> dict[str, torch.nn.Module]:
        return {"predictor": _unwrap(self.predictor)}

    def state_dict(self) -> dict[str, Any]:
        return {
            "predictor": _unwrap(self.predictor).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "centroids": self.centroids,
            "teacher": None if self.teacher is None else self.teacher.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        import copy

        _unwrap(self.predictor).load_state_dict(state["predictor"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.centroids = state["centroids"]
        if state["teacher"] is not None:
            self.teacher = copy.deepcopy(self.model).eval().requires_grad_(False)
            self.teacher.load_state_dict(state["teacher"])

    def export(self, path: Path) -> None:
        """k-means with ``clusters`` on token-layer features of the training clips, and the
        model with its centroids."""
        model = self.model.eval()
        feats = self._features(model, self._sample_waves(), frames=False)
        centroids, _ = kmeans(feats, self.config.clusters, seed=2)
        save_model(
            path,
            SEMANTIC_FORMAT,
            self.config,
            model,
            centroids=centroids.cpu(),
            kmeans_frames=len(feats),
        )


def load_semantic(path: str | Path, device: str = "cpu"):
    """The tokenizer of a ``model.pt`` from ``mck train semantic`` (or ``semantic-pretrained``)."""
    from models import semantic_pretrained
    from models.semantic import SemanticConfig, SemanticModel, SemanticTokenizer

    blob = read_model_file(path, device)
    if blob["format"] == semantic_pretrained.FORMAT:
        return semantic_pretrained.load(blob)
    model = build_model(blob, SEMANTIC_FORMAT, path, SemanticConfig, SemanticModel, device)
    return SemanticTokenizer(model, blob["centroids"].to(device))


class MelodyTask:
    """Semi-hard triplets: rendered melodies in two instruments, and real crops with a
    pitch-preserving copy; the RVQ is fitted on window embeddings at export."""

    rate = 16000

    def __init__(self, model: dict, train: dict, device: torch.device, world: int):
        from models.melody import MelodyConfig, MelodyEmbedder

        self.config = config_from(MelodyConfig, model)
        self.train_config, self.device = train, device
        embedder = MelodyEmbedder(self.config).to(device)
        self.embedder = DDP(embedder, broadcast_buffers=False) if world > 1 else embedder
        self.optimizer = torch.optim.AdamW(embedder.parameters(), lr=train["learning_rate"])
        self.bank: ClipBank | None = None

    def prepare(self, bank: ClipBank) -> None:
        self.bank = bank

    def synthetic(self, rng, melodies: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``melodies`` random melodies, each in two random instruments, with labels."""
        from models.melody_data import random_instrument, random_melody, render

        seconds = self.config.window_s
        waves, labels = [], []
        for label in range(melodies):
            notes = random_melody(rng, seconds)
            for _ in range(2):
                waves.append(render(notes, random_instrument(rng), seconds, rng))
                labels.append(label)
        return torch.from_numpy(np.stack(waves)), torch.tensor(labels)

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        from models.melody import semi_hard_triplet_loss
        from models.melody_data import pitch_preserving

        rng = np.random.default_rng([self.train_config["seed"], step, 1])
        waves, labels = self.synthetic(rng, len(batch.audio))
        real = batch.audio.numpy()
        changed = np.stack([pitch_preserving(w, rng) for w in real])
        waves = torch.cat([waves, torch.from_numpy(real), torch.from_numpy(changed)])
        offset = int(labels.max()) + 1
        real_labels = torch.arange(offset, offset + len(real))
        labels = torch.cat([labels, real_labels, real_labels])
        self.embedder.train()
        with autocast(self.device):
            embeddings = self.embedder(waves.to(self.device))
        loss = semi_hard_triplet_loss(embeddings.float(), labels.to(self.device))
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"triplet": loss.item()}

    def trained(self) -> dict[str, torch.nn.Module]:
        return {"embedder": _unwrap(self.embedder)}

    def state_dict(self) -> dict[str, Any]:
        return {
            "embedder": _unwrap(self.embedder).state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _unwrap(self.embedder).load_state_dict(state["embedder"])
        self.optimizer.load_state_dict(state["optimizer"])

    def export(self, path: Path) -> None:
        embedder = _unwrap(self.embedder).eval()
        rng = np.random.default_rng(self.train_config["seed"])
        synthetic, _ = self.synthetic(rng, 64)
        with torch.no_grad():
            embeddings = torch.cat(
                [embedder.window_embeddings(w) for w in self.bank.waves]
                + [embedder(synthetic.to(self.device))]
            )
        embedder.quantizer.fit(embeddings)
        save_model(path, MELODY_FORMAT, self.config, embedder, rvq_fitted_on=len(embeddings))


def load_melody(path: str | Path, device: str = "cpu"):
    """The melody embedder (with its fitted RVQ) of a ``model.pt`` written by training."""
    from models.melody import MelodyConfig, MelodyEmbedder

    blob = read_model_file(path, device)
    return build_model(blob, MELODY_FORMAT, path, MelodyConfig, MelodyEmbedder, device)


def _stages_task(*args):
    from models.stages import StagesTask

    return StagesTask(*args)


TASKS = {
    "codec": CodecTask,
    "mulan": MulanTask,
    "semantic": SemanticTask,
    "stages": _stages_task,
    "melody": MelodyTask,
}


def make_task(kind: str, model: dict, train: dict, device: torch.device, world: int):
    if kind not in TASKS:
        raise ValueError(f"unknown model kind {kind!r}: known are {sorted(TASKS)}")
    return TASKS[kind](model, train, device, world)
