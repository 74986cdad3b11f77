"""Named factories (embedders, joint models, tokenizers), after fadtk's embedder registry.

Core modules register their classes with ``@registry.register(name)``; ``imports`` lists
those modules, imported on first lookup so that a name is known without the caller
importing heavy model code. Code outside the core library (the cascade in
``musiccaps_kit.models``, or another package) plugs in through the entry-point group
``musiccaps_kit.<group>`` declared in its ``pyproject.toml``: the core never imports it,
and an entry point is loaded only when its name is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib import metadata
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, imports: tuple[str, ...] = (), group: str | None = None):
        self.kind, self.imports = kind, imports
        self.group = f"musiccaps_kit.{group}" if group else None
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str):
        """Class decorator adding a factory under ``name``."""

        def add(factory):
            self._factories[name] = factory
            return factory

        return add

    def _entry_points(self) -> dict[str, metadata.EntryPoint]:
        if not self.group:
            return {}
        return {ep.name: ep for ep in metadata.entry_points(group=self.group)}

    def names(self) -> list[str]:
        for module in self.imports:
            importlib.import_module(module)
        return sorted(set(self._factories) | set(self._entry_points()))

    def make(self, name: str, **options: Any) -> T:
        if name not in self.names():
            raise ValueError(f"unknown {self.kind} {name!r}: known are {self.names()}")
        if name not in self._factories:
            self._factories[name] = self._entry_points()[name].load()
        return self._factories[name](**options)
