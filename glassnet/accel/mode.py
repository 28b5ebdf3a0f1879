"""Reference mode: route every op to the readable reference core in :mod:`glassnet.ops`.

``with gn.reference_mode(): ...`` (or ``GLASSNET_REFERENCE=1`` in the environment when glassnet
is imported) makes the dispatcher (:mod:`glassnet.accel.dispatch`) choose the reference pair of
every op, so the numbers come from the code a student reads. ``trace``, ``gradcheck`` and the
explainer's cell arithmetic always run in it. The flag is a context variable: it holds for the
calling thread (and the tasks it starts), and the ``with`` block restores what was before.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar

_REFERENCE: ContextVar[bool] = ContextVar(
    "glassnet_reference", default=os.environ.get("GLASSNET_REFERENCE", "0") not in ("", "0")
)


def reference_active() -> bool:
    """Whether ops run their reference pair here (inside :func:`reference_mode` or by env)."""
    return _REFERENCE.get()


@contextlib.contextmanager
def reference_mode(enabled: bool = True) -> Iterator[None]:
    """Run every op of the ``with`` block through its reference pair (``enabled=False``: fast).

    Example:
        >>> import glassnet as gn
        >>> with gn.reference_mode():
        ...     pass  # forward / backward here use glassnet.ops only
    """
    token = _REFERENCE.set(bool(enabled))
    try:
        yield
    finally:
        _REFERENCE.reset(token)
