"""Named factories (embedders, joint models, tokenizers), after fadtk's embedder registry.

Modules register their classes with ``@registry.register(name)``; ``imports`` lists the
modules that do so, imported on first lookup so that a name is known without the caller
importing heavy model code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, imports: tuple[str, ...] = ()):
        self.kind, self.imports = kind, imports
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str):
        """Class decorator adding a factory under ``name``."""

        def add(factory):
            self._factories[name] = factory
            return factory

        return add

    def names(self) -> list[str]:
        for module in self.imports:
            importlib.import_module(module)
        return sorted(self._factories)

    def make(self, name: str, **options: Any) -> T:
        if name not in self.names():
            raise ValueError(f"unknown {self.kind} {name!r}: known are {self.names()}")
        return self._factories[name](**options)
