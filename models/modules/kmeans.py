"""Seeded k-means (k-means++ start, Lloyd iterations) in PyTorch, for codebook
initialisation, HuBERT-style cluster targets, semantic tokens and MuLan's quantiser."""

from __future__ import annotations

import torch


def kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k starting centroids, each drawn with probability proportional to its squared
    distance from the nearest one chosen so far."""
    first = torch.randint(len(x), (1,), generator=generator)
    centroids = [x[first[0]]]
    nearest = torch.cdist(x, centroids[0][None]).squeeze(1) ** 2
    for _ in range(1, k):
        weights = nearest / nearest.sum() if nearest.sum() > 0 else torch.ones_like(nearest)
        chosen = torch.multinomial(weights, 1, generator=generator)[0]
        centroids.append(x[chosen])
        nearest = torch.minimum(nearest, torch.cdist(x, x[chosen][None]).squeeze(1) ** 2)
    return torch.stack(centroids)


def assign(x: torch.Tensor, centroids: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """Index of the nearest centroid (Euclidean) for each row of ``x``."""
    return torch.cat([torch.cdist(part, centroids).argmin(dim=1) for part in x.split(chunk)])


def kmeans(
    x: torch.Tensor, k: int, iterations: int = 50, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Centroids ``[k, dims]`` and assignments of ``x`` ``[n, dims]`` (float32, seeded).

    Needs at least ``k`` rows; an emptied cluster is re-seeded with the row farthest
    from its centroid, so every centroid stays in use.
    """
    x = x.detach().float()
    if len(x) < k:
        raise ValueError(f"k-means with k={k} needs at least {k} vectors, got {len(x)}")
    generator = torch.Generator().manual_seed(seed)
    centroids = kmeans_plus_plus(x.cpu(), k, generator).to(x.device)
    labels = assign(x, centroids)
    for _ in range(iterations):
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=k).float()
        empty = counts == 0
        centroids = torch.where(empty[:, None], centroids, sums / counts.clamp(min=1)[:, None])
        if empty.any():
            distance = (x - centroids[labels]).norm(dim=1)
            far = distance.topk(int(empty.sum())).indices
            centroids[empty] = x[far]
        new_labels = assign(x, centroids)
        if torch.equal(new_labels, labels):
            break
        labels = new_labels
    return centroids, labels
