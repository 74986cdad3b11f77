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

from dataclasses import dataclass

import numpy as np

# The token streams a cascade record set carries (``tokens/{name}`` in the schema).
ACOUSTIC, SEMANTIC, MULAN, MELODY = "acoustic", "semantic", "mulan", "melody"
STREAMS = (ACOUSTIC, SEMANTIC, MULAN, MELODY)
# The streams every stage needs; melody tokens are optional conditioning.
REQUIRED_STREAMS = (ACOUSTIC, SEMANTIC, MULAN)
# Frames per second of the semantic and acoustic streams (the codec's 50 Hz is twice the
# semantic model's 25 Hz: crops and generation rely on that ratio).
SEMANTIC_RATE, ACOUSTIC_RATE = 25, 50
STAGES = ("semantic", "coarse", "fine")


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
