"""Arrays as the page embeds them: rounded lists to read, exact base64 bytes to compute with.

A packed array is ``{"shape": [...], "data": [...]}`` with ``data`` the row-major (C-order)
flattening, so the page reads ``X[i, j, c]`` of an (H, W, C) map at ``data[(i·W + j)·C + c]``.
Six significant digits keep the file small and are still exact to ~1e-6 relative, far below
anything a student reads off the page.

An exact array (:func:`pack_exact`: weights, inputs, what the in-page engine computes with) is
``{"shape", "dtype", "b64"}``: the base64 of its little-endian float32 (or float64) bytes, 5.3
characters per float32 value against ~10 for a rounded one, and no rounding at all.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

SIGNIFICANT = 6


def round_value(v: float, digits: int = SIGNIFICANT) -> float | int | None:
    """Round ``v`` to ``digits`` significant digits; whole numbers become ints, NaN/inf None.

    ``float(f"{v:.6g}")`` prints back (``repr``) as the 6-digit text, so ``json.dumps`` writes
    ``0.123457`` rather than a long binary expansion.
    """
    if not math.isfinite(v):
        return None
    r = float(f"{v:.{digits}g}")
    if r.is_integer() and abs(r) < 1e15:
        return int(r)
    return r


def round_list(values: Any, digits: int = SIGNIFICANT) -> list[float | int | None]:
    """Round every value of an array-like (flattened row-major)."""
    flat = np.asarray(values, dtype=np.float64).reshape(-1).tolist()
    return [round_value(v, digits) for v in flat]


def pack(values: Any, digits: int = SIGNIFICANT) -> dict[str, Any]:
    """Return ``{"shape", "data"}`` of an array, its values rounded.

    Shapes:
        values: any shape S -> shape == list(S), len(data) == prod(S).
    """
    arr = np.asarray(values, dtype=np.float64)
    return {"shape": list(arr.shape), "data": round_list(arr, digits)}


def pack_exact(values: Any) -> dict[str, Any]:
    """Return ``{"shape", "dtype", "b64"}``: the array's exact bytes (float64 stays float64).

    Shapes:
        values: any shape S -> shape == list(S); b64 holds prod(S) little-endian floats.
    """
    arr = np.asarray(values)
    dtype = "float64" if arr.dtype == np.float64 else "float32"
    raw = np.ascontiguousarray(arr, dtype="<f8" if dtype == "float64" else "<f4").tobytes()
    return {"shape": list(arr.shape), "dtype": dtype, "b64": base64.b64encode(raw).decode("ascii")}


def unpack(packed: dict[str, Any]) -> np.ndarray:
    """Return the float64 array of a packed dict (either form; None -> NaN).

    The inverse of :func:`pack` (up to its rounding) and of :func:`pack_exact` (exactly).
    """
    if "b64" in packed:
        kind = "<f8" if packed.get("dtype") == "float64" else "<f4"
        raw = np.frombuffer(base64.b64decode(packed["b64"]), dtype=kind)
        return raw.astype(np.float64).reshape(packed["shape"])
    data = [np.nan if v is None else v for v in packed["data"]]
    return np.asarray(data, dtype=np.float64).reshape(packed["shape"])


def exact_bytes(n_values: int) -> int:
    """The base64 text of ``n_values`` float32 values: 4 bytes each, 4 characters per 3 bytes."""
    return 4 * math.ceil(4 * n_values / 3)


def value_range(values: Any) -> list[float]:
    """``[min, max]`` of the finite values (``[0, 0]`` when there are none), rounded."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return [0.0, 0.0]
    return [float(round_value(float(arr.min())) or 0), float(round_value(float(arr.max())) or 0)]


def estimate_bytes(n_values: int) -> int:
    """A generous estimate of the JSON text of ``n_values`` packed numbers (~10 bytes each)."""
    return 10 * n_values
