"""The optimizers by name (``compile(optimizer="adam")``, ``glassnet train --optimizer adam``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from glassnet.errors import GlassnetError
from glassnet.optim.adam import Adam, AdamW
from glassnet.optim.base import Optimizer
from glassnet.optim.rmsprop import RMSProp
from glassnet.optim.sgd import SGD

REGISTRY: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSProp,
}
NAMES: tuple[str, ...] = tuple(REGISTRY)


def lookup(name: str) -> type[Optimizer]:
    """Return the optimizer class called ``name`` (case-insensitive).

    Raises:
        GlassnetError: for an unknown name (the valid ones are listed).
    """
    cls = REGISTRY.get(name.lower())
    if cls is None:
        raise GlassnetError(f"optimizer {name!r} is not one of {list(NAMES)}")
    return cls


def get(name: str, params: Iterable[Any], **kwargs: Any) -> Optimizer:
    """Build the optimizer called ``name`` on ``params`` with ``kwargs`` (else its defaults).

    Raises:
        GlassnetError: for an unknown name (the valid ones are listed).
    """
    return lookup(name)(params, **kwargs)
