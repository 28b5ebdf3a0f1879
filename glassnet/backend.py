"""The one seam that chooses the array module and the floating-point dtype.

Every op gets its array module from :func:`get_xp` (NumPy by default, CuPy when asked for and
importable) and never imports CuPy itself. Training defaults to float32; ``trace`` and
``gradcheck`` ask for float64.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np

from glassnet.errors import GlassnetError

_BACKENDS = ("numpy", "cupy")
_DTYPES = {"float32": np.float32, "float64": np.float64}

_state: dict[str, Any] = {"xp": np, "name": "numpy", "dtype": np.dtype(np.float32)}


def set_backend(name: str) -> None:
    """Select the array module used by every op.

    Args:
        name: ``"numpy"`` or ``"cupy"``.

    Raises:
        GlassnetError: if ``name`` is unknown or CuPy is not importable.
    """
    if name not in _BACKENDS:
        raise GlassnetError(f"set_backend: name={name!r} is not one of {list(_BACKENDS)}")
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise GlassnetError(f"set_backend: backend {name!r} is not installed ({exc})") from exc
    _state.update(xp=module, name=name)


def backend_name() -> str:
    """Return the name of the array module in use (``"numpy"`` or ``"cupy"``)."""
    return str(_state["name"])


def get_xp(*arrays: Any) -> ModuleType:
    """Return the array module for ``arrays`` (CuPy arrays -> cupy), else the selected backend."""
    for a in arrays:
        if type(a) is np.ndarray:  # the common case, without a string test
            continue
        if type(a).__module__.startswith("cupy"):
            return importlib.import_module("cupy")
    module: ModuleType = _state["xp"]
    return module


def set_default_dtype(dtype: str | np.dtype[Any] | type) -> None:
    """Set the floating dtype new tensors and parameters get (``"float32"`` or ``"float64"``).

    Raises:
        GlassnetError: if ``dtype`` is neither float32 nor float64.
    """
    dt = np.dtype(dtype)
    if dt.name not in _DTYPES:
        raise GlassnetError(f"set_default_dtype: dtype={dt.name!r} is not one of {list(_DTYPES)}")
    _state["dtype"] = dt


def default_dtype() -> np.dtype[Any]:
    """Return the floating dtype in use (float32 unless changed)."""
    dt: np.dtype[Any] = _state["dtype"]
    return dt


@contextlib.contextmanager
def dtype_scope(dtype: str | np.dtype[Any] | type) -> Iterator[None]:
    """Use ``dtype`` as the default inside a ``with`` block (trace and gradcheck use float64)."""
    old = _state["dtype"]
    set_default_dtype(dtype)
    try:
        yield
    finally:
        _state["dtype"] = old


def tune_malloc() -> bool:
    """Keep freed large blocks in the process instead of returning them to the OS (glibc only).

    NOTE: glibc serves every block over 128 KiB with a fresh ``mmap`` and unmaps it on free, so
    each training step's im2col columns, gradients and pooled maps start as untouched pages and
    pay a page fault per 4 KiB on first write. Measured here (keras_mnist_convnet, batch 128) that
    was ~40% of a training step. Serving them from the heap and not trimming it makes the next
    step reuse warm pages. Set ``GLASSNET_MALLOC_TUNE=0`` to leave the allocator alone.

    Returns:
        True if the settings were applied.
    """
    import ctypes
    import os
    import sys

    if os.environ.get("GLASSNET_MALLOC_TUNE", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc: nothing to tune
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    ok = mallopt(m_mmap_max, 0) == 1  # no mmap'ed blocks: all from the (reused) heap
    ok = mallopt(m_trim_threshold, 2**30) == 1 and ok  # keep up to 1 GiB of free heap
    return ok
