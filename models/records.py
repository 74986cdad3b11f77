"""Prepared records held in memory for the cascade: waveforms at one rate with their
captions (``ClipBank``, for the representation models and their evaluation) and the token
streams of a tokenized record set (``TokenBank``, for the stages and memorisation).

Training draws its batches from these; inference (evaluation, memorisation) reads them
too, so they live apart from the training loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from musiccaps_kit.models.tokens import (
    ACOUSTIC,
    MELODY,
    MULAN,
    REQUIRED_STREAMS,
    SEMANTIC,
    Vocabulary,
)


@dataclass(frozen=True)
class Batch:
    """One rank's share of a step: crops ``[batch, samples]`` and their captions."""

    audio: torch.Tensor
    captions: list[str]
    ids: list[str]


class ClipBank:
    """Waveforms (at ``rate``) and captions of a record set, held in memory."""

    def __init__(self, records: str | Path, rate: int, splits: tuple[str, ...] = ("train",)):
        # imported here: the GPU check builds banks in memory, without the records stack
        from musiccaps_kit.data.records import iter_records, read_info

        info = read_info(records)
        if rate not in info["recipe"]["segment"]["rates"]:
            raise ValueError(f"{records} has no audio at {rate} Hz: prepare with --rates {rate}")
        missing = [s for s in splits if not info["splits"].get(s, {}).get("records")]
        if missing:
            raise ValueError(
                f"{records} has no {'/'.join(missing)} records (it has "
                f"{', '.join(sorted(info['splits'])) or 'none'}): training reads train, "
                "evaluation reads eval (held out)"
            )
        self.rate = rate
        self.waves, self.captions, self.ids = [], [], []
        for split in splits:
            for record in iter_records(records, split):
                self.waves.append(np.array(record.audio[rate]))  # writable copy
                self.captions.append(record.caption)
                self.ids.append(record.id)

    @classmethod
    def of(
        cls, rate: int, waves: list[np.ndarray], captions: list[str], ids: list[str]
    ) -> ClipBank:
        """A bank of waveforms already in memory (the GPU check's, which has no records)."""
        if not len(waves) == len(captions) == len(ids):
            raise ValueError(f"{len(waves)} waves, {len(captions)} captions, {len(ids)} ids")
        bank = cls.__new__(cls)
        bank.rate, bank.waves, bank.captions, bank.ids = rate, waves, captions, ids
        return bank

    def __len__(self) -> int:
        return len(self.waves)

    def batch(
        self, step: int, size: int, crop: int, seed: int, rank: int = 0, world: int = 1
    ) -> Batch:
        """Rank ``rank``'s slice of the global batch of step ``step`` (crops of ``crop``)."""
        if size % world:
            raise ValueError(f"batch size {size} does not split over {world} ranks")
        rng = np.random.default_rng([seed, step])
        picks = rng.integers(0, len(self.waves), size)
        crops = []
        for i in picks:
            wave = self.waves[i]
            start = int(rng.integers(0, max(len(wave) - crop, 0) + 1))
            piece = wave[start : start + crop]
            crops.append(np.pad(piece, (0, crop - len(piece))))
        share = size // world
        mine = slice(rank * share, (rank + 1) * share)
        return Batch(
            torch.from_numpy(np.stack(crops[mine])),
            [self.captions[i] for i in picks[mine]],
            [self.ids[i] for i in picks[mine]],
        )


class TokenBank:
    """Token streams of a record set's train split, held in memory."""

    def __init__(self, records: str | Path, split: str = "train"):
        from musiccaps_kit.data.records import iter_records, read_info

        info = read_info(records)
        recipe = info["recipe"]["tokenizer"]
        missing = set(REQUIRED_STREAMS) - set(recipe.get("token_names", []))
        if missing:
            raise ValueError(
                f"{records} has no {sorted(missing)} tokens: prepare with --tokenizer cascade"
            )
        if not info["splits"].get(split, {}).get("records"):
            raise ValueError(f"{records} has no {split} records")
        self.recipe = recipe
        self.items, melody = [], []
        for r in iter_records(records, split):
            self.items.append(
                (r.tokens[MULAN], r.tokens[SEMANTIC], r.tokens[ACOUSTIC], r.caption, r.id)
            )
            melody.append(r.tokens.get(MELODY))
        self.melody = melody if MELODY in recipe["token_names"] else None

    @classmethod
    def of(cls, items: list[tuple], recipe: dict) -> TokenBank:
        """A bank of ``(mulan, semantic, acoustic, caption, id)`` items already in memory,
        with the tokenizer recipe that names their vocabulary (no melody stream)."""
        bank = cls.__new__(cls)
        bank.items, bank.recipe, bank.melody = items, recipe, None
        return bank

    def __len__(self) -> int:
        return len(self.items)

    def vocabulary(self) -> Vocabulary:
        """From the tokenizer's recorded codebook sizes."""
        v = self.recipe["vocabulary"]
        melody = v.get(MELODY, {"levels": 0, "codebook": 0})
        return Vocabulary(
            v[MULAN]["levels"],
            v[MULAN]["codebook"],
            v[SEMANTIC]["codebook"],
            v[ACOUSTIC]["levels"],
            v[ACOUSTIC]["codebook"],
            v[ACOUSTIC]["coarse_levels"],
            melody["levels"],
            melody["codebook"],
        )
