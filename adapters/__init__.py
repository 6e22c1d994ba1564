"""The reference adapters, one package each (``noorm.adapters.sqlite``, ...)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: Mapping[str, str], extra: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` importing each name from its submodule on first use.

    An adapter package's dialect needs no driver (``noorm ddl`` renders DDL without
    one); only what talks to the server does, and that says which extra to install.
    """

    def __getattr__(name: str) -> Any:
        submodule = names.get(name)
        if submodule is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            module = importlib.import_module(submodule, package)
        except ModuleNotFoundError as exc:
            raise ImportError(
                f"{package}.{name} needs {exc.name}: pip install 'no-orm[{extra}]'"
            ) from exc
        return getattr(module, name)

    return __getattr__
