"""Training MuLan: symmetric InfoNCE between audio crops and their captions' text
embeddings; at export, the conditioning RVQ is fitted on the training clips' windows."""

from __future__ import annotations

from pathlib import Path

import torch

from musiccaps_kit.bench.joint import text_encoder
from musiccaps_kit.models.model_files import MULAN_FORMAT, config_from, save_model
from musiccaps_kit.models.mulan import MuLan, MulanConfig, contrastive_loss
from musiccaps_kit.models.records import Batch, ClipBank
from musiccaps_kit.models.training.task import Task, autocast


class MulanTask(Task):
    def __init__(self, model: dict, train: dict, device: torch.device, world: int):
        super().__init__(train, device, world)
        self.config = config_from(MulanConfig, model)
        self.rate = self.config.sample_rate
        mulan = MuLan(self.config).to(device)
        if world > 1 and device.type == "cuda":
            # batch statistics over the global batch, as one process would have them
            mulan = torch.nn.SyncBatchNorm.convert_sync_batchnorm(mulan)
        self.mulan = self.add("mulan", mulan, broadcast_buffers=False)
        self.optimizers["optimizer"] = self.adam(
            (p for p in mulan.parameters() if p.requires_grad), lr=train["learning_rate"]
        )
        self.sentences: dict[str, torch.Tensor] = {}

    def prepare(self, bank: ClipBank) -> None:
        super().prepare(bank)
        captions = sorted(set(bank.captions))
        vectors = text_encoder.encode(captions)
        self.sentences = {c: torch.from_numpy(v) for c, v in zip(captions, vectors, strict=True)}

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        self.mulan.train()
        sentences = torch.stack([self.sentences[c] for c in batch.captions]).to(self.device)
        with autocast(self.device):
            audio, text, scale = self.mulan(batch.audio.to(self.device), sentences)
        audio, text = audio.float(), text.float()
        if self.world > 1:
            from torch.distributed.nn.functional import all_gather

            audio, text = torch.cat(all_gather(audio)), torch.cat(all_gather(text))
        loss = contrastive_loss(audio, text, scale)
        optimizer = self.optimizers["optimizer"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"contrastive": loss.item(), "temperature": 1 / scale.item()}

    def export(self, path: Path) -> None:
        """Fit the conditioning RVQ on every window embedding of the training clips, freeze
        it, and save the model."""
        mulan = self.trained()["mulan"].eval()
        embeddings = torch.cat([mulan.window_embeddings(w) for w in self.bank.waves])
        mulan.quantizer.fit(embeddings)
        save_model(path, MULAN_FORMAT, self.config, mulan, rvq_fitted_on=len(embeddings))
