"""Training the semantic, coarse and fine stages together from tokenized records (see
``models.tokens`` for the vocabulary and each stage's sequence)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from musiccaps_kit.models.model_files import STAGES_FORMAT, save_checkpoint
from musiccaps_kit.models.records import TokenBank
from musiccaps_kit.models.stage import StageConfig, StageTransformer, target_loss
from musiccaps_kit.models.tokens import (
    ACOUSTIC_RATE,
    SEMANTIC_RATE,
    STAGES,
    Crops,
    Vocabulary,
    sequences,
)
from musiccaps_kit.models.training.task import Task, autocast


class StagesTask(Task):
    """Trains the three stages together, one batch of aligned crops per step."""

    rate = SEMANTIC_RATE  # the training crop is counted in semantic frames

    def __init__(self, model: dict, train: dict, device: torch.device, world: int):
        super().__init__(train, device, world)
        self.model_config = model
        self.vocab: Vocabulary | None = None

    def make_bank(self, records: str | Path) -> TokenBank:
        return TokenBank(records)

    def prepare(self, bank: TokenBank) -> None:
        c = self.model_config
        self.vocab = bank.vocabulary()
        # clips shorter than a crop (MusicCaps' 10 s against the paper's 30 s) bound it
        shortest = min(len(s) for _, s, _, _, _ in bank.items)
        self.crops = Crops(
            min(round(c["semantic_crop_s"] * SEMANTIC_RATE), shortest),
            min(round(c["coarse_crop_s"] * ACOUSTIC_RATE), 2 * shortest),
            min(round(c["fine_crop_s"] * ACOUSTIC_RATE), 2 * shortest),
            c.get("semantic_stage", True),
        )
        self.stages = STAGES if self.crops.semantic_stage else ("coarse", "fine")
        shape = {k: c[k] for k in ("dim", "layers", "heads", "ff", "dropout")}
        for stage in self.stages:
            torch.manual_seed(self.train_config["seed"] + STAGES.index(stage))
            model = StageTransformer(StageConfig(vocab=self.vocab.size, **shape)).to(self.device)
            self.add(stage, model)
            self.optimizers[stage] = self.adam(
                model.parameters(), lr=self.train_config["learning_rate"], weight_decay=0.01
            )
        super().prepare(bank)

    def draw(self, step: int, size: int, rank: int, world: int):
        """Each stage's ``[batch, length]`` tensor and prefix, for this rank's share."""
        rng = np.random.default_rng([self.train_config["seed"], step])
        picks = rng.integers(0, len(self.bank), size)
        rows: dict[str, list] = {s: [] for s in STAGES}
        prefixes = {}
        for i in picks:
            m, s, a, _, _ = self.bank.items[i]
            longest = max(self.crops.semantic, self.crops.coarse // 2, self.crops.fine // 2)
            t = int(rng.integers(0, max(len(s) - longest, 0) + 1))
            melody = None if self.bank.melody is None else self.bank.melody[i]
            for stage, (sequence, prefix) in sequences(
                self.vocab, self.crops, m, s, a, t, melody
            ).items():
                rows[stage].append(sequence)
                prefixes[stage] = prefix
        share = size // world
        mine = slice(rank * share, (rank + 1) * share)
        return {
            stage: (torch.from_numpy(np.stack(rows[stage][mine])).long(), prefixes[stage])
            for stage in self.stages
        }

    def train_step(self, batch, step: int) -> dict[str, float]:
        losses = {}
        for stage, (sequence, prefix) in batch.items():
            model = self.modules[stage]
            model.train()
            with autocast(self.device):
                loss, accuracy = target_loss(model, sequence.to(self.device), prefix)
            self.optimizers[stage].zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            self.optimizers[stage].step()
            losses[f"{stage}_loss"] = loss.item()
            losses[f"{stage}_accuracy"] = accuracy.item()
        return losses

    def export(self, path: Path) -> None:
        trained = self.trained()
        save_checkpoint(
            path,
            {
                "format": STAGES_FORMAT,
                "vocabulary": asdict(self.vocab),
                "crops": asdict(self.crops),
                "stage_config": {s: asdict(m.config) for s, m in trained.items()},
                "models": {s: m.state_dict() for s, m in trained.items()},
                "tokenizer": self.bank.recipe,
                "melody_windows": None if self.bank.melody is None else len(self.bank.melody[0]),
            },
        )
