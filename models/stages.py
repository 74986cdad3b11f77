"""The cascade's three stages trained on prepared tokens: semantic p(S | M),
coarse p(A_coarse | S, M) and fine p(A_fine | A_coarse, M).

One vocabulary holds every stream: MuLan tokens (level q, code t -> q * K_M + t), semantic
tokens, and acoustic tokens (level q, code a -> A0 + q * K_A + a, frames flattened level by
level). Each stage sees ``prefix + target`` with the target's positions predicted:

* semantic: M (12) + S over ``semantic_crop_s`` (paper 30 s);
* coarse: M + S over ``coarse_crop_s`` + the coarse levels of the same span (paper 10 s);
  the ablation preset (``semantic_stage: false``) drops S from the prefix;
* fine: M + coarse levels + fine levels over ``fine_crop_s`` (paper 3 s).

Records must carry ``acoustic``, ``semantic`` and ``mulan`` tokens (``mck prepare
--tokenizer cascade``); acoustic frames run at twice the semantic rate (50 vs 25 Hz).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.stage import StageConfig, StageTransformer, target_loss
from musiccaps_kit.preparation import read_info
from musiccaps_kit.readers import iter_records

STAGES = ("semantic", "coarse", "fine")
STAGES_FORMAT = "musiccaps-kit/stages/1"


@dataclass(frozen=True)
class Vocabulary:
    mulan_levels: int
    mulan_codebook: int
    semantic: int
    acoustic_levels: int
    acoustic_codebook: int
    coarse_levels: int = 4
    melody_levels: int = 0
    melody_codebook: int = 0

    @property
    def semantic_offset(self) -> int:
        return self.mulan_levels * self.mulan_codebook

    @property
    def acoustic_offset(self) -> int:
        return self.semantic_offset + self.semantic

    @property
    def melody_offset(self) -> int:
        return self.acoustic_offset + self.acoustic_levels * self.acoustic_codebook

    @property
    def size(self) -> int:
        return self.melody_offset + self.melody_levels * self.melody_codebook

    def melody_ids(self, tokens: np.ndarray) -> np.ndarray:
        """Melody tokens ``[windows, levels]`` -> ids, window by window."""
        tokens = np.asarray(tokens)
        return (
            self.melody_offset + np.arange(tokens.shape[1]) * self.melody_codebook + tokens
        ).reshape(-1)

    def mulan(self, m: np.ndarray) -> np.ndarray:
        return np.arange(len(m)) * self.mulan_codebook + np.asarray(m)

    def semantic_ids(self, s: np.ndarray) -> np.ndarray:
        return self.semantic_offset + np.asarray(s)

    def acoustic_ids(self, a: np.ndarray, levels: range) -> np.ndarray:
        """``[frames, all levels]`` codes -> ids of ``levels``, frame by frame."""
        a = np.asarray(a)[:, levels.start : levels.stop]
        offsets = self.acoustic_offset + np.array(list(levels)) * self.acoustic_codebook
        return (a + offsets).reshape(-1)

    def acoustic_codes(self, ids: np.ndarray, levels: range) -> np.ndarray:
        """Inverse of ``acoustic_ids``: ids -> ``[frames, len(levels)]`` codes."""
        grid = np.asarray(ids).reshape(-1, len(levels))
        offsets = self.acoustic_offset + np.array(list(levels)) * self.acoustic_codebook
        return grid - offsets

    def ranges(self, stage: str) -> list[tuple[int, int]]:
        """The id range of each target position in turn (cycled)."""
        if stage == "semantic":
            return [(self.semantic_offset, self.acoustic_offset)]
        levels = self.coarse if stage == "coarse" else self.fine
        a0, k = self.acoustic_offset, self.acoustic_codebook
        return [(a0 + q * k, a0 + (q + 1) * k) for q in levels]

    @property
    def coarse(self) -> range:
        return range(0, self.coarse_levels)

    @property
    def fine(self) -> range:
        return range(self.coarse_levels, self.acoustic_levels)


@dataclass(frozen=True)
class Crops:
    """Training crops in semantic frames (25 Hz) and acoustic frames (50 Hz)."""

    semantic: int
    coarse: int
    fine: int
    semantic_stage: bool = True


def sequences(
    vocab: Vocabulary,
    crops: Crops,
    m: np.ndarray,
    s: np.ndarray,
    a: np.ndarray,
    t: int,
    melody: np.ndarray | None = None,
) -> dict[str, tuple[np.ndarray, int]]:
    """Each stage's (sequence, prefix length) for a crop starting at semantic frame ``t``;
    the conditioning is M (and the clip's melody tokens when the records have them)."""
    mulan = vocab.mulan(m)
    if melody is not None:
        mulan = np.concatenate([mulan, vocab.melody_ids(melody)])
    semantic = vocab.semantic_ids(s[t : t + crops.semantic])
    # the coarse crop starts at the same time; acoustic frames are twice as many
    c_s = vocab.semantic_ids(s[t : t + crops.coarse // 2]) if crops.semantic_stage else []
    coarse = vocab.acoustic_ids(a[2 * t : 2 * t + crops.coarse], vocab.coarse)
    f = a[2 * t : 2 * t + crops.fine]
    fine_prefix = np.concatenate([mulan, vocab.acoustic_ids(f, vocab.coarse)])
    return {
        "semantic": (np.concatenate([mulan, semantic]), len(mulan)),
        "coarse": (np.concatenate([mulan, c_s, coarse]), len(mulan) + len(c_s)),
        "fine": (
            np.concatenate([fine_prefix, vocab.acoustic_ids(f, vocab.fine)]),
            len(fine_prefix),
        ),
    }


class TokenBank:
    """Token streams of a record set's train split, held in memory."""

    def __init__(self, records: str | Path, split: str = "train"):
        info = read_info(records)
        recipe = info["recipe"]["tokenizer"]
        missing = {"acoustic", "semantic", "mulan"} - set(recipe.get("token_names", []))
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
                (r.tokens["mulan"], r.tokens["semantic"], r.tokens["acoustic"], r.caption, r.id)
            )
            melody.append(r.tokens.get("melody"))
        self.melody = melody if "melody" in recipe["token_names"] else None

    def __len__(self) -> int:
        return len(self.items)

    def vocabulary(self) -> Vocabulary:
        """From the tokenizer's recorded codebook sizes."""
        v = self.recipe["vocabulary"]
        melody = v.get("melody", {"levels": 0, "codebook": 0})
        return Vocabulary(
            v["mulan"]["levels"],
            v["mulan"]["codebook"],
            v["semantic"]["codebook"],
            v["acoustic"]["levels"],
            v["acoustic"]["codebook"],
            v["acoustic"]["coarse_levels"],
            melody["levels"],
            melody["codebook"],
        )


class StagesTask:
    """Trains the three stages together, one batch of aligned crops per step."""

    rate = 25  # the training crop is counted in semantic frames

    def __init__(self, model: dict, train: dict, device: torch.device, world: int):
        self.model_config, self.train_config, self.device = model, train, device
        self.world = world
        self.models: dict[str, Any] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.vocab: Vocabulary | None = None

    def make_bank(self, records: str | Path) -> TokenBank:
        return TokenBank(records)

    def prepare(self, bank: TokenBank) -> None:
        from torch.nn.parallel import DistributedDataParallel as DDP

        c = self.model_config
        self.vocab = bank.vocabulary()
        # clips shorter than a crop (MusicCaps' 10 s against the paper's 30 s) bound it
        shortest = min(len(s) for _, s, _, _, _ in bank.items)
        self.crops = Crops(
            min(round(c["semantic_crop_s"] * 25), shortest),
            min(round(c["coarse_crop_s"] * 50), 2 * shortest),
            min(round(c["fine_crop_s"] * 50), 2 * shortest),
            c.get("semantic_stage", True),
        )
        self.stages = STAGES if self.crops.semantic_stage else ("coarse", "fine")
        shape = {k: c[k] for k in ("dim", "layers", "heads", "ff", "dropout")}
        for stage in self.stages:
            torch.manual_seed(self.train_config["seed"] + STAGES.index(stage))
            model = StageTransformer(StageConfig(vocab=self.vocab.size, **shape)).to(self.device)
            self.models[stage] = DDP(model) if self.world > 1 else model
            self.optimizers[stage] = torch.optim.AdamW(
                model.parameters(), lr=self.train_config["learning_rate"], weight_decay=0.01
            )
        self.bank = bank

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
        from models.training import autocast

        losses = {}
        for stage, (sequence, prefix) in batch.items():
            model = self.models[stage]
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

    def trained(self) -> dict[str, torch.nn.Module]:
        from models.tasks import _unwrap

        return {stage: _unwrap(model) for stage, model in self.models.items()}

    def state_dict(self) -> dict[str, Any]:
        from models.tasks import _unwrap

        return {
            "models": {s: _unwrap(m).state_dict() for s, m in self.models.items()},
            "optimizers": {s: o.state_dict() for s, o in self.optimizers.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from models.tasks import _unwrap

        for stage, model in self.models.items():
            _unwrap(model).load_state_dict(state["models"][stage])
            self.optimizers[stage].load_state_dict(state["optimizers"][stage])

    def export(self, path: Path) -> None:
        from models.tasks import _unwrap
        from models.training import save_checkpoint

        save_checkpoint(
            path,
            {
                "format": STAGES_FORMAT,
                "vocabulary": asdict(self.vocab),
                "crops": asdict(self.crops),
                "stage_config": {s: asdict(_unwrap(m).config) for s, m in self.models.items()},
                "models": {s: _unwrap(m).state_dict() for s, m in self.models.items()},
                "tokenizer": self.bank.recipe,
                "melody_windows": None if self.bank.melody is None else len(self.bank.melody[0]),
            },
        )


def load_stages(path: str | Path, device: str = "cpu") -> dict[str, Any]:
    """The stage models (eval mode), vocabulary, crops and the tokenizer recipe they were
    trained on (which codec, semantic model and MuLan made their tokens)."""
    from models.tasks import read_model_file

    blob = read_model_file(path, device)
    if blob["format"] != STAGES_FORMAT:
        raise ValueError(f"{path} is a {blob['format']} file, not {STAGES_FORMAT}")
    models = {}
    for stage, config in blob["stage_config"].items():
        model = StageTransformer(StageConfig(**config))
        model.load_state_dict(blob["models"][stage])
        models[stage] = model.to(device).eval()
    return {
        "models": models,
        "vocabulary": Vocabulary(**blob["vocabulary"]),
        "crops": Crops(**blob["crops"]),
        "tokenizer": blob["tokenizer"],
        "melody_windows": blob.get("melody_windows"),
    }
