"""Weight initializers: ``(shape, rng, dtype=np.float32) -> ndarray`` and a ``get(name)`` registry.

Every initializer draws from the ``numpy.random.Generator`` it is given, so the same seed gives
the same weights. Keras's defaults, which glassnet's layers follow: kernels ``glorot_uniform``,
biases ``zeros``.

Fans (Keras's convention): a dense weight ``[in, out]`` has ``fan_in = in``, ``fan_out = out``;
a conv kernel ``[KH, KW, C_in, C_out]`` has ``fan_in = KH*KW*C_in``, ``fan_out = KH*KW*C_out``;
a vector ``[n]`` has ``fan_in = fan_out = n``.

NOTE on the ``*_normal`` initializers: we draw from a plain normal with exactly the stated
standard deviation, as the papers (Glorot & Bengio 2010, He et al. 2015, LeCun et al. 1998)
define them and as ``torch.nn.init`` does. Keras instead draws from a normal truncated at two
standard deviations, with its std divided by 0.87962566 so the variance still matches; the
variance is what the derivations fix, so both are faithful. For Keras's exact distribution use
``variance_scaling(scale, mode, "truncated_normal")``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from glassnet.errors import GlassnetError

Initializer = Callable[..., np.ndarray]
"""``init(shape, rng, dtype=np.float32) -> ndarray`` of that shape and dtype."""

# Std of a standard normal truncated to [-2, 2]; dividing by it restores unit variance (Keras).
_TRUNCATED_STD = 0.87962566103423978


def compute_fans(shape: Sequence[int]) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a weight shape (Keras's convention, see the module doc).

    Args:
        shape: ``[n]``, ``[in, out]`` or a kernel ``[..., C_in, C_out]`` (e.g. ``[KH, KW, C_in,
            C_out]``); the leading axes form the receptive field.

    Returns:
        ``(fan_in, fan_out)``; ``(1, 1)`` for a scalar shape ``()``.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return receptive * shape[-2], receptive * shape[-1]


def _cast_within(x: np.ndarray, low: float, high: float, dtype: Any) -> np.ndarray:
    """Cast float64 draws ``x`` to ``dtype`` keeping ``low <= x <= high`` exactly.

    Rounding to float32 can push a value just inside a bound onto the float32 number just
    outside it; clipping to the nearest representable values inside keeps the bounds true.
    """
    out = x.astype(dtype, copy=False)
    lo, hi = np.asarray(low, dtype=dtype), np.asarray(high, dtype=dtype)
    if float(lo) < low:
        lo = np.nextafter(lo, hi)
    if float(hi) > high:
        hi = np.nextafter(hi, lo)
    return np.clip(out, lo, hi, out=out)


def _truncated_normal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Standard normal draws conditioned on ``|x| <= 2`` (out-of-range draws redrawn)."""
    x = rng.standard_normal(shape)
    bad = np.abs(x) > 2.0
    # About 4.6 % of draws fall outside; each pass shrinks that set 20-fold.
    while bad.any():
        x[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(x) > 2.0
    return x


def variance_scaling(scale: float, mode: str, distribution: str) -> Initializer:
    """Return an initializer with variance ``scale / n`` (Keras ``VarianceScaling``).

    Args:
        scale: the numerator (1 for Glorot/LeCun, 2 for He).
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"`` (n = (fan_in + fan_out) / 2).
        distribution: ``"uniform"`` (limit sqrt(3 * scale / n)), ``"normal"`` (std
            sqrt(scale / n)) or ``"truncated_normal"`` (Keras: cut at 2 std, rescaled).

    Returns:
        The initializer ``(shape, rng, dtype=np.float32) -> ndarray``.

    Raises:
        GlassnetError: if ``mode`` or ``distribution`` is unknown or ``scale`` is not > 0.
    """
    modes, dists = ("fan_in", "fan_out", "fan_avg"), ("uniform", "normal", "truncated_normal")
    if mode not in modes:
        raise GlassnetError(f"variance_scaling: mode={mode!r} is not one of {list(modes)}")
    if distribution not in dists:
        raise GlassnetError(
            f"variance_scaling: distribution={distribution!r} is not one of {list(dists)}"
        )
    if not scale > 0:
        raise GlassnetError(f"variance_scaling: scale={scale!r} must be > 0")

    def init(shape: Sequence[int], rng: np.random.Generator, dtype: Any = np.float32) -> np.ndarray:
        shape = tuple(int(s) for s in shape)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        if distribution == "uniform":
            limit = math.sqrt(3.0 * scale / n)
            return _cast_within(rng.uniform(-limit, limit, shape), -limit, limit, dtype)
        std = math.sqrt(scale / n)
        if distribution == "normal":
            return (rng.standard_normal(shape) * std).astype(dtype, copy=False)
        return (_truncated_normal(shape, rng) * (std / _TRUNCATED_STD)).astype(dtype, copy=False)

    init.__name__ = f"variance_scaling_{mode}_{distribution}"
    return init


def _named(name: str, doc: str, scale: float, mode: str, distribution: str) -> Initializer:
    """Return ``variance_scaling(scale, mode, distribution)`` under a public name."""
    init = variance_scaling(scale, mode, distribution)
    init.__name__ = init.__qualname__ = name
    init.__doc__ = doc
    return init


glorot_uniform = _named(
    "glorot_uniform",
    "Uniform on [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)) (Keras's kernel default).",
    1.0, "fan_avg", "uniform",
)  # fmt: skip
glorot_normal = _named(
    "glorot_normal", "Normal(0, std), std = sqrt(2 / (fan_in + fan_out)), not truncated.",
    1.0, "fan_avg", "normal",
)  # fmt: skip
he_uniform = _named(
    "he_uniform", "Uniform on [-limit, limit], limit = sqrt(6 / fan_in).", 2.0, "fan_in", "uniform"
)
he_normal = _named(
    "he_normal", "Normal(0, std), std = sqrt(2 / fan_in), not truncated.", 2.0, "fan_in", "normal"
)
lecun_uniform = _named(
    "lecun_uniform", "Uniform on [-limit, limit], limit = sqrt(3 / fan_in).",
    1.0, "fan_in", "uniform",
)  # fmt: skip
lecun_normal = _named(
    "lecun_normal", "Normal(0, std), std = sqrt(1 / fan_in), not truncated.",
    1.0, "fan_in", "normal",
)  # fmt: skip


def zeros(shape: Sequence[int], rng: np.random.Generator, dtype: Any = np.float32) -> np.ndarray:
    """All zeros (Keras's bias default); ``rng`` is unused but kept for a uniform signature."""
    return np.zeros(tuple(shape), dtype=dtype)


def ones(shape: Sequence[int], rng: np.random.Generator, dtype: Any = np.float32) -> np.ndarray:
    """All ones (BatchNorm's gamma); ``rng`` is unused."""
    return np.ones(tuple(shape), dtype=dtype)


def constant(value: float = 0.0) -> Initializer:
    """Return an initializer filling every entry with ``value``."""
    value = float(value)

    def init(shape: Sequence[int], rng: np.random.Generator, dtype: Any = np.float32) -> np.ndarray:
        return np.full(tuple(shape), value, dtype=dtype)

    init.__name__ = f"constant({value:g})"
    return init


def normal(mean: float = 0.0, std: float = 0.05) -> Initializer:
    """Return an initializer drawing Normal(mean, std) (defaults: Keras ``RandomNormal``).

    Raises:
        GlassnetError: if ``std`` is negative.
    """
    if not std >= 0:
        raise GlassnetError(f"normal: std={std!r} must be >= 0")
    mean, std = float(mean), float(std)

    def init(shape: Sequence[int], rng: np.random.Generator, dtype: Any = np.float32) -> np.ndarray:
        return (rng.standard_normal(tuple(shape)) * std + mean).astype(dtype, copy=False)

    init.__name__ = f"normal({mean:g}, {std:g})"
    return init


def uniform(low: float = -0.05, high: float = 0.05) -> Initializer:
    """Return an initializer drawing Uniform[low, high) (defaults: Keras ``RandomUniform``).

    Raises:
        GlassnetError: if ``low > high``.
    """
    if not low <= high:
        raise GlassnetError(f"uniform: low={low!r} must be <= high={high!r}")
    low, high = float(low), float(high)

    def init(shape: Sequence[int], rng: np.random.Generator, dtype: Any = np.float32) -> np.ndarray:
        return _cast_within(rng.uniform(low, high, tuple(shape)), low, high, dtype)

    init.__name__ = f"uniform({low:g}, {high:g})"
    return init


_FIXED: dict[str, Initializer] = {
    "zeros": zeros,
    "ones": ones,
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "lecun_uniform": lecun_uniform,
    "lecun_normal": lecun_normal,
}
_FACTORIES: dict[str, Callable[..., Initializer]] = {
    "constant": constant,
    "normal": normal,
    "uniform": uniform,
    # Keras's names for the same two.
    "random_normal": normal,
    "random_uniform": uniform,
}


def names() -> list[str]:
    """Return the names :func:`get` accepts, sorted."""
    return sorted([*_FIXED, *_FACTORIES])


def get(name: str | Initializer, **kwargs: Any) -> Initializer:
    """Return the initializer called ``name`` (a callable is returned unchanged).

    Args:
        name: a registered name (see :func:`names`) or an initializer function.
        **kwargs: arguments of the parameterised ones, e.g. ``get("constant", value=0.1)``,
            ``get("normal", std=0.01)``; without them their defaults are used.

    Returns:
        The initializer ``(shape, rng, dtype=np.float32) -> ndarray``.

    Raises:
        GlassnetError: if ``name`` is unknown (the message lists the valid names) or
            ``kwargs`` are given to an initializer that takes none.
    """
    if callable(name):
        return name
    if name in _FACTORIES:
        try:
            return _FACTORIES[name](**kwargs)
        except TypeError as exc:
            raise GlassnetError(f"initializer {name!r}: bad arguments {kwargs} ({exc})") from None
    if name in _FIXED:
        if kwargs:
            raise GlassnetError(f"initializer {name!r} takes no arguments; received {kwargs}")
        return _FIXED[name]
    raise GlassnetError(f"unknown initializer {name!r}; valid names: {', '.join(names())}")
