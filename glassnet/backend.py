"""The one seam that chooses the array module and the floating-point dtype.

Every op gets its array module from :func:`get_xp` (NumPy by default, CuPy when asked for and
importable) and never imports CuPy itself. Training defaults to float32; ``trace`` and
``gradcheck`` ask for float64.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import os
import sys
import threading
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


# glibc's documented defaults, what :func:`malloc_tuned` restores (glibc has no getter).
_GLIBC_MMAP_MAX, _GLIBC_TRIM_THRESHOLD = 65536, 128 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_malloc: dict[str, Any] = {"depth": 0, "applied": False}
_malloc_lock = threading.Lock()


def _mallopt() -> Any:
    """Return ``mallopt`` of libc (glibc on Linux), or None where there is nothing to tune."""
    if os.environ.get("GLASSNET_MALLOC_TUNE", "1") == "0" or not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl or another libc: nothing to tune
        return None


@contextlib.contextmanager
def malloc_tuned() -> Iterator[bool]:
    """Inside: freed large blocks stay in the process instead of going back to the OS.

    NOTE: glibc serves every block over 128 KiB with a fresh ``mmap`` and unmaps it on free, so
    each training step's im2col columns, gradients and pooled maps start as untouched pages and
    pay a page fault per 4 KiB on first write (~40% of a keras_mnist_convnet step at batch 128
    here). Served from a heap that is not trimmed, the next step reuses warm pages.
    ``fit``/``evaluate``/``predict``/the bench/the CLI open this scope; nothing changes at import.
    Leaving the outermost scope sets glibc's defaults back (M_MMAP_MAX 65536, M_TRIM_THRESHOLD
    128 KiB: glibc offers no way to read the previous values). ``GLASSNET_MALLOC_TUNE=0``
    leaves the allocator alone.

    Yields:
        True if the settings are applied.
    """
    with _malloc_lock:
        _malloc["depth"] += 1
        if _malloc["depth"] == 1:
            mallopt = _mallopt()
            if mallopt is not None:
                ok = mallopt(_M_MMAP_MAX, 0) == 1  # no mmap'ed blocks: all from the reused heap
                _malloc["applied"] = mallopt(_M_TRIM_THRESHOLD, 2**30) == 1 and ok
    try:
        yield bool(_malloc["applied"])
    finally:
        with _malloc_lock:
            _malloc["depth"] -= 1
            if _malloc["depth"] == 0 and _malloc["applied"]:
                mallopt = _mallopt()
                if mallopt is not None:
                    mallopt(_M_MMAP_MAX, _GLIBC_MMAP_MAX)
                    mallopt(_M_TRIM_THRESHOLD, _GLIBC_TRIM_THRESHOLD)
                _malloc["applied"] = False


def malloc_tuning_active() -> bool:
    """Whether :func:`malloc_tuned` settings are in force now."""
    return bool(_malloc["applied"])


def require_module(name: str, purpose: str, extra: str) -> ModuleType:
    """Import an optional dependency, or say in one line how to install it.

    Args:
        name: the module, e.g. ``"onnx"``.
        purpose: what needs it, e.g. ``"ONNX interchange"``.
        extra: the glassnet extra that installs it, e.g. ``"onnx"``.

    Raises:
        GlassnetError: if it is not installed.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
        raise GlassnetError(
            f"{purpose} needs the '{name}' package: pip install 'glassnet[{extra}]'"
        ) from exc
