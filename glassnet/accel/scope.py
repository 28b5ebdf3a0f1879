"""The compute scope: the process settings fast training and inference want, held only inside.

``with compute_scope(): ...`` splits ops over glassnet's threads with a one-thread BLAS
(:func:`glassnet.accel.parallel.split_scope`) and keeps freed blocks warm in the heap
(:func:`glassnet.backend.malloc_tuned`); both are restored when the outermost scope ends.
``fit``, ``evaluate``, ``predict``, the bench and the CLI open it; importing glassnet changes
nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from glassnet.accel.parallel import split_scope
from glassnet.backend import malloc_tuned


@contextlib.contextmanager
def compute_scope() -> Iterator[None]:
    """Threads split, BLAS on one thread per chunk, allocator tuned; all restored on exit."""
    with malloc_tuned(), split_scope():
        yield
