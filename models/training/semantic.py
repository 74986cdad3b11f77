"""Training the semantic tokenizer: HuBERT-style masked prediction in two iterations, and
k-means centroids on the token layer at export."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from musiccaps_kit.models.model_files import SEMANTIC_FORMAT, config_from, save_model
from musiccaps_kit.models.modules.kmeans import assign, kmeans
from musiccaps_kit.models.records import Batch, ClipBank
from musiccaps_kit.models.semantic import (
    SemanticConfig,
    SemanticModel,
    masked_prediction_loss,
    span_mask,
)
from musiccaps_kit.models.training.task import Task, autocast


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


class SemanticTask(Task):
    """HuBERT-style masked prediction: log-mel clusters first, then clusters of the model's
    own token-layer features (``iteration_steps`` on); tokens by k-means at export."""

    def __init__(self, model: dict, train: dict, device: torch.device, world: int):
        super().__init__(train, device, world)
        self.config = config_from(SemanticConfig, model)
        self.rate = self.config.sample_rate
        c = self.config
        predictor = _Predictor(
            SemanticModel(c).to(device), c.dim, c.targets_first, c.targets_second
        ).to(device)
        self.predictor = self.add("predictor", predictor, find_unused_parameters=True)
        self.optimizers["optimizer"] = self.adam(predictor.parameters(), lr=train["learning_rate"])
        self.centroids: list[torch.Tensor | None] = [None, None]
        self.teacher = None

    @property
    def model(self):
        return self.trained()["predictor"].model

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
        super().prepare(bank)
        if self.centroids[0] is None:
            frames = self._features(self.model, self._sample_waves(), frames=True)
            self.centroids[0] = kmeans(frames, self.config.targets_first, seed=0)[0]

    def _second_iteration(self) -> None:
        self.teacher = copy.deepcopy(self.model).eval().requires_grad_(False)
        feats = self._features(self.teacher, self._sample_waves(), frames=False)
        self.centroids[1] = kmeans(feats, self.config.targets_second, seed=1)[0]

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
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
        optimizer = self.optimizers["optimizer"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {
            "masked_prediction": loss.item(),
            "accuracy": accuracy.item(),
            "iteration": iteration + 1,
        }

    def extra_state(self) -> dict[str, Any]:
        return {
            "centroids": self.centroids,
            "teacher": None if self.teacher is None else self.teacher.state_dict(),
        }

    def load_extra_state(self, state: dict[str, Any]) -> None:
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
