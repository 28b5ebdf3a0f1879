"""Which rows of the global batch this process computes, for layers that draw random numbers.

Data-parallel training gives each rank a contiguous shard of every global batch. A layer that
draws random numbers per sample (Dropout's mask) must draw them for the **whole** global batch
from the stream every rank shares and keep its shard's rows: then the masks, and so the
weights, do not depend on the number of ranks. The training loop states the rows of each step
with :func:`batch_rows`; outside it a layer's input is the whole batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

_ROWS: ContextVar[tuple[int, int, int] | None] = ContextVar("glassnet_batch_rows", default=None)


@contextlib.contextmanager
def batch_rows(start: int, stop: int, n: int) -> Iterator[None]:
    """Inside the block, layer inputs are rows ``[start, stop)`` of a global batch of ``n``."""
    token = _ROWS.set((start, stop, n))
    try:
        yield
    finally:
        _ROWS.reset(token)


def current_rows() -> tuple[int, int, int] | None:
    """``(start, stop, n)`` set by :func:`batch_rows`, or None (the input is the whole batch)."""
    return _ROWS.get()


def skip_batch(layers: Iterable[Any], n: int) -> None:
    """Advance every layer's random stream past a global batch of ``n`` this rank has no rows of.

    A rank whose shard of a (last, small) batch is empty runs no forward pass, yet its streams
    must stay in step with the ranks that did.
    """
    for layer in layers:
        skip = getattr(layer, "skip_batch", None)
        if skip is not None:
            skip(n)
