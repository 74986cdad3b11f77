"""Training the codec: reconstruction (multi-scale mel), an adversarial STFT discriminator
with feature matching (from ``disc_start``), and the RVQ commitment."""

from __future__ import annotations

from pathlib import Path

import torch

from musiccaps_kit.models.codec import Codec, CodecConfig, MelSpectrum, spectral_loss
from musiccaps_kit.models.model_files import CODEC_FORMAT, config_from, save_model
from musiccaps_kit.models.records import Batch
from musiccaps_kit.models.training.adversarial import (
    MultiScaleSTFTDiscriminator,
    discriminator_loss,
    generator_losses,
)
from musiccaps_kit.models.training.task import Task, autocast


class CodecTask(Task):
    """SoundStream's objective; ``export`` writes the codec alone. Its batches may stream
    from the records (``loader=stream``): nothing here reads the whole set."""

    streamable = True

    def __init__(self, model: dict, train: dict, device: torch.device, world: int):
        super().__init__(train, device, world)
        self.config = config_from(CodecConfig, model)
        self.rate = self.config.sample_rate
        codec = Codec(self.config).to(device)
        disc = MultiScaleSTFTDiscriminator(self.config).to(device)
        self.spectrum = MelSpectrum(self.config).to(device)
        self.codec = self.add("codec", codec, broadcast_buffers=False)
        self.disc = self.add("discriminator", disc)
        lr = train["learning_rate"]
        self.optimizers["generator"] = self.adam(
            codec.parameters(), adamw=False, lr=lr, betas=(0.5, 0.9)
        )
        self.optimizers["discriminator"] = self.adam(
            disc.parameters(), adamw=False, lr=lr, betas=(0.5, 0.9)
        )

    def _scored(self, x: torch.Tensor, recon: torch.Tensor):
        """The discriminator's outputs on real and reconstructed audio, split apart."""
        out = self.disc(torch.cat([x, recon]))
        real = [(o[: len(x)], [f[: len(x)] for f in fs]) for o, fs in out]
        fake = [(o[len(x) :], [f[len(x) :] for f in fs]) for o, fs in out]
        return real, fake

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        t = self.train_config
        opt_g, opt_d = self.optimizers["generator"], self.optimizers["discriminator"]
        self.codec.train()
        x = batch.audio.to(self.device)
        with autocast(self.device):
            recon, _, commitment = self.codec(x, step=step)
        recon = recon.float()
        losses = {}
        adversarial = matching = torch.zeros((), device=self.device)
        if step >= t["disc_start"]:
            d_loss = discriminator_loss(*self._scored(x, recon.detach()))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            adversarial, matching = generator_losses(*self._scored(x, recon))
            losses["discriminator"] = d_loss.item()
        reconstruction = spectral_loss(self.spectrum, x, recon)
        total = (
            reconstruction
            + t["adversarial_weight"] * adversarial
            + t["feature_matching_weight"] * matching
            + t["commitment_weight"] * commitment
        )
        opt_g.zero_grad()
        total.backward()
        opt_g.step()
        losses.update(
            reconstruction=reconstruction.item(),
            adversarial=adversarial.item(),
            feature_matching=matching.item(),
            commitment=commitment.item(),
        )
        return losses

    def export(self, path: Path) -> None:
        save_model(path, CODEC_FORMAT, self.config, self.trained()["codec"])
