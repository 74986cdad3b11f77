"""Wall-clock time by phase (decode, embed, statistics, bootstrap, report...), so a long
run can say where its time went."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


class Timings:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def summary(self) -> str:
        total = sum(self.seconds.values())
        parts = [f"{name} {s:.1f} s ({s / total:.0%})" for name, s in self.seconds.items()]
        return f"time: {', '.join(parts)}; total {total:.1f} s" if total else "time: 0 s"
