"""Modules imported on first use, for the API Lambda's cold start."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for a module and imports it when an attribute is first read. A blueprint names its services at
    the top, as usual, under ``if TYPE_CHECKING`` for the type checker and through this at run time, so a
    cold start pays only for the areas its first request uses."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)
