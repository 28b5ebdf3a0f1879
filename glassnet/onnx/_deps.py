"""The optional ``onnx`` dependency, imported on first use with a clear message if missing."""

from __future__ import annotations

from types import ModuleType

from glassnet.errors import GlassnetError


def require_onnx() -> ModuleType:
    """Return the ``onnx`` module.

    Raises:
        GlassnetError: if it is not installed, saying how to install it.
    """
    try:
        import onnx
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
        raise GlassnetError(
            "ONNX interchange needs the 'onnx' package: pip install 'glassnet[onnx]'"
        ) from exc
    return onnx
