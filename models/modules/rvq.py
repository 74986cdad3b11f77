"""Residual vector quantisation with EMA codebooks (SoundStream / EnCodec style).

* Each level's codebook starts from k-means on a large enough sample: vectors are
  gathered over training batches until there are ``init_per_code`` per code (until then
  the level passes its input through), then k-means runs once.
* Codebooks follow the data by exponential moving averages of assignment counts and
  sums (no gradient); codes whose average use falls under ``dead_threshold`` are reset to
  vectors of the current batch.
* Quantiser dropout: in training, each batch uses the first ``n`` levels, ``n`` drawn
  uniformly from 1..levels (the same on every DDP rank: drawn from the step number),
  once every level has been initialised (all levels take part until then).
* Under DDP the counts and sums are summed over ranks, and k-means and resets see every
  rank's vectors in rank order, so every rank keeps the codebooks one process would have.

In eval mode quantisation is deterministic: nearest code, all levels (or ``n_q``).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from musiccaps_kit.models.modules.kmeans import kmeans


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _gather(x: torch.Tensor) -> torch.Tensor:
    """Every rank's rows in rank order (equal batch sizes): what one process would see."""
    if not _distributed():
        return x
    parts = [torch.zeros_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


class VectorQuantizer(nn.Module):
    def __init__(
        self,
        dim: int,
        codebook_size: int,
        decay: float = 0.99,
        init_per_code: int = 8,
        dead_threshold: float = 0.05,
        seed: int = 0,
    ):
        super().__init__()
        self.codebook_size, self.decay, self.seed = codebook_size, decay, seed
        self.init_samples = init_per_code * codebook_size
        self.dead_threshold = dead_threshold
        self.register_buffer("codebook", torch.zeros(codebook_size, dim))
        self.register_buffer("cluster_size", torch.zeros(codebook_size))
        self.register_buffer("embed_sum", torch.zeros(codebook_size, dim))
        self.register_buffer("initialized", torch.tensor(False))
        self._pending: list[torch.Tensor] = []

    def get_extra_state(self) -> dict:
        # Vectors gathered for k-means but not used yet: a resumed run needs them.
        return {"pending": [p.cpu() for p in self._pending]}

    def set_extra_state(self, state: dict) -> None:
        self._pending = [p.to(self.codebook.device) for p in state.get("pending", [])]

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Nearest code per row of ``x`` ``[n, dim]``."""
        return self.codes_for(x, self.codebook)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.codebook[codes]

    def _initialise(self, x: torch.Tensor) -> None:
        batch = _gather(x.detach().float())
        self._pending.append(batch)
        gathered = torch.cat(self._pending)
        if len(gathered) < self.init_samples:
            return
        centroids, labels = kmeans(gathered, self.codebook_size, seed=self.seed)
        if _distributed():
            dist.broadcast(centroids, 0)  # identical already; guards against drift
        counts = torch.bincount(labels, minlength=len(centroids)).float()
        self.codebook.copy_(centroids)
        self.cluster_size.copy_(counts / len(gathered) * len(batch))  # expected use per batch
        self.embed_sum.copy_(self.codebook * self.cluster_size[:, None])
        self.initialized.fill_(True)
        self._pending = []

    @staticmethod
    def codes_for(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
        return torch.cdist(x.float(), codebook).argmin(dim=1)

    def _ema_update(self, x: torch.Tensor, codes: torch.Tensor) -> None:
        x = x.detach().float()
        counts = torch.bincount(codes, minlength=self.codebook_size).float()
        sums = torch.zeros_like(self.embed_sum).index_add_(0, codes, x)
        if _distributed():
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + 1e-5) / (total + self.codebook_size * 1e-5) * total
        self.codebook.copy_(self.embed_sum / smoothed[:, None])
        dead = self.cluster_size < self.dead_threshold
        if dead.any():
            candidates = _gather(x)
            generator = torch.Generator(device="cpu").manual_seed(int(total.item() * 1000))
            pick = torch.randint(len(candidates), (int(dead.sum()),), generator=generator)
            fresh = candidates[pick.to(x.device)]
            self.codebook[dead] = fresh
            self.embed_sum[dead] = fresh
            self.cluster_size[dead] = 1.0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantised ``x`` (straight-through), codes, and the commitment loss."""
        if self.training and not bool(self.initialized):
            self._initialise(x)
            if not bool(self.initialized):
                zero = torch.zeros((), device=x.device)
                return x, torch.zeros(len(x), dtype=torch.long, device=x.device), zero
        codes = self.codes(x)
        if self.training:
            self._ema_update(x, codes)
        quantized = self.decode(codes).to(x.dtype)
        commitment = torch.mean((x - quantized.detach()) ** 2)
        return x + (quantized - x).detach(), codes, commitment


class ResidualVQ(nn.Module):
    """``levels`` quantisers, each coding what the previous ones left."""

    def __init__(self, dim: int, levels: int, codebook_size: int, dropout: bool = True, **kw):
        super().__init__()
        self.levels, self.codebook_size, self.dropout = levels, codebook_size, dropout
        self.layers = nn.ModuleList(
            VectorQuantizer(dim, codebook_size, seed=level, **kw) for level in range(levels)
        )

    def forward(
        self, x: torch.Tensor, n_q: int | None = None, step: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x`` ``[n, dim]`` -> quantised ``[n, dim]``, codes ``[n, n_q]``, commitment loss.

        Training with dropout draws ``n_q`` from the step number (equal on all ranks).
        """
        if n_q is None:
            n_q = self.levels
            ready = all(bool(layer.initialized) for layer in self.layers)
            # every level takes part until all have their k-means start
            if self.training and self.dropout and ready:
                n_q = int(torch.randint(1, self.levels + 1, (1,), generator=_gen(step)))
        residual, total = x, torch.zeros_like(x)
        codes, losses = [], []
        for layer in self.layers[:n_q]:
            quantized, level_codes, loss = layer(residual)
            residual = residual - quantized.detach()
            total = total + quantized
            codes.append(level_codes)
            losses.append(loss)
        return total, torch.stack(codes, dim=1), torch.stack(losses).sum()

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[n, q]`` (any q <= levels) -> vectors ``[n, dim]``."""
        return sum(self.layers[q].decode(codes[:, q]) for q in range(codes.shape[1]))

    def fit(self, x: torch.Tensor, iterations: int = 50) -> None:
        """Fit every level by k-means on the residuals of ``x``, then freeze (MuLan's RVQ)."""
        residual = x.detach().float()
        for layer in self.layers:
            centroids, labels = kmeans(residual, layer.codebook_size, iterations, layer.seed)
            layer.codebook.copy_(centroids)
            layer.initialized.fill_(True)
            residual = residual - centroids[labels]
        self.requires_grad_(False)


def _gen(step: int) -> torch.Generator:
    return torch.Generator().manual_seed(1_000_003 * step + 17)
