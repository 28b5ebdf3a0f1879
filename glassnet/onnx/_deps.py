"""The optional ``onnx`` dependency, imported on first use with a clear message if missing."""

from __future__ import annotations

from types import ModuleType

from glassnet.backend import require_module


def require_onnx() -> ModuleType:
    """Return the ``onnx`` module.

    Raises:
        GlassnetError: if it is not installed, saying how to install it.
    """
    return require_module("onnx", "ONNX interchange", "onnx")
