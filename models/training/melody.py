"""Training the melody embedding: semi-hard triplets on synthetic melodies in two timbres
and on real crops with pitch-preserving copies; the RVQ is fitted at export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from musiccaps_kit.models.melody import MelodyConfig, MelodyEmbedder, semi_hard_triplet_loss
from musiccaps_kit.models.model_files import MELODY_FORMAT, config_from, save_model
from musiccaps_kit.models.records import Batch
from musiccaps_kit.models.training.melody_data import (
    pitch_preserving,
    random_instrument,
    random_melody,
    render,
)
from musiccaps_kit.models.training.task import Task, autocast


class MelodyTask(Task):
    """Semi-hard triplets: rendered melodies in two instruments, and real crops with a
    pitch-preserving copy; the RVQ is fitted on window embeddings at export."""

    def __init__(self, model: dict, train: dict, device: torch.device, world: int):
        super().__init__(train, device, world)
        self.config = config_from(MelodyConfig, model)
        self.rate = self.config.sample_rate
        embedder = MelodyEmbedder(self.config).to(device)
        self.embedder = self.add("embedder", embedder, broadcast_buffers=False)
        self.optimizers["optimizer"] = self.adam(embedder.parameters(), lr=train["learning_rate"])

    def synthetic(self, rng, melodies: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``melodies`` random melodies, each in two random instruments, with labels."""
        seconds = self.config.window_s
        waves, labels = [], []
        for label in range(melodies):
            notes = random_melody(rng, seconds)
            for _ in range(2):
                waves.append(render(notes, random_instrument(rng), seconds, rng, self.rate))
                labels.append(label)
        return torch.from_numpy(np.stack(waves)), torch.tensor(labels)

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        rng = np.random.default_rng([self.train_config["seed"], step, 1])
        waves, labels = self.synthetic(rng, len(batch.audio))
        real = batch.audio.numpy()
        changed = np.stack([pitch_preserving(w, rng, self.rate) for w in real])
        waves = torch.cat([waves, torch.from_numpy(real), torch.from_numpy(changed)])
        offset = int(labels.max()) + 1
        real_labels = torch.arange(offset, offset + len(real))
        labels = torch.cat([labels, real_labels, real_labels])
        self.embedder.train()
        with autocast(self.device):
            embeddings = self.embedder(waves.to(self.device))
        loss = semi_hard_triplet_loss(embeddings.float(), labels.to(self.device))
        optimizer = self.optimizers["optimizer"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"triplet": loss.item()}

    def export(self, path: Path) -> None:
        embedder = self.trained()["embedder"].eval()
        rng = np.random.default_rng(self.train_config["seed"])
        synthetic, _ = self.synthetic(rng, 64)
        with torch.no_grad():
            embeddings = torch.cat(
                [embedder.window_embeddings(w) for w in self.bank.waves]
                + [embedder(synthetic.to(self.device))]
            )
        embedder.quantizer.fit(embeddings)
        save_model(path, MELODY_FORMAT, self.config, embedder, rvq_fitted_on=len(embeddings))
