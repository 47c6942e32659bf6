"""Package attributes loaded on first use (PEP 562), so that a light entry point stays light.

``e2s evaluate`` scores with the compiled CPU probe and reads plain-text files; importing torch
or pandas would be most of its run time. Packages whose other modules need them name those
attributes here instead of importing them eagerly.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_getattr(package: str, where: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports ``package.<where[name]>`` on first use of ``name``.

    Args:
        package: the package's ``__name__``.
        where: attribute name -> submodule name.

    Returns:
        The function to assign to the package's ``__getattr__``.
    """

    def __getattr__(name: str) -> object:
        if name in where:
            return getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
