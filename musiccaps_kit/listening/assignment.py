"""Balanced assignment of A-vs-B comparisons to raters.

Every pair of sources gets ``per_pair`` comparisons, so every source is in
``(K - 1) * per_pair`` of them; the ids are spread evenly over the pairs; which source
plays as A is a seeded coin flip; raters get equal shares (to within one), and a rater is
never given the same comparison (id and pair of sources) twice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from musiccaps_kit.listening.study import Study


@dataclass(frozen=True)
class Task:
    rater: int
    position: int
    clip_id: str
    source_a: str
    source_b: str

    @property
    def comparison(self) -> tuple[str, frozenset[str]]:
        return self.clip_id, frozenset((self.source_a, self.source_b))


def assign(study: Study) -> list[Task]:
    rng = random.Random(study.seed)
    comparisons = []
    for pair_index, pair in enumerate(study.pairs):
        ids = list(study.ids)
        rng.shuffle(ids)
        for k in range(study.per_pair):
            # Offsetting each pair's cycle spreads ids evenly over pairs and raters.
            clip_id = ids[(k + pair_index) % len(ids)]
            a, b = pair if rng.random() < 0.5 else pair[::-1]
            comparisons.append((clip_id, a, b))
    # Copies of one comparison go to distinct raters, each time the least loaded ones:
    # adding one task to each of the m least loaded keeps every load within one of the
    # others, whatever the order of the groups.
    groups: dict[tuple[str, frozenset[str]], list[tuple[str, str, str]]] = {}
    for clip_id, a, b in comparisons:
        groups.setdefault((clip_id, frozenset((a, b))), []).append((clip_id, a, b))
    loads = [0] * study.raters
    given: list[list[tuple[str, str, str]]] = [[] for _ in range(study.raters)]
    for (clip_id, pair), copies in groups.items():
        if len(copies) > study.raters:
            a, b = sorted(pair)
            raise ValueError(
                f"comparison {clip_id} {a}-{b} is needed {len(copies)} times but there are "
                f"only {study.raters} raters: use more raters or ids, or fewer comparisons "
                "per pair"
            )
        order = sorted(range(study.raters), key=lambda r: (loads[r], rng.random()))
        for rater, comparison in zip(order, copies, strict=False):
            given[rater].append(comparison)
            loads[rater] += 1
    tasks = []
    for rater, comparisons_of_rater in enumerate(given):
        rng.shuffle(comparisons_of_rater)
        tasks += [
            Task(rater, position, clip_id, a, b)
            for position, (clip_id, a, b) in enumerate(comparisons_of_rater)
        ]
    return tasks
