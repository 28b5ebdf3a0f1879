"""Elementwise activations and (log-)softmax as forward/backward pairs.

Every op works on arrays of any shape and computes in the input's dtype. Each cache keeps the
cheapest thing its backward needs: a boolean mask for ReLU, the output for softmax, the local
derivative for sigmoid and tanh.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from glassnet.backend import get_xp
from glassnet.errors import GlassnetError


def _check_axis(op: str, x: Any, axis: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, int) or not -x.ndim <= axis < x.ndim:
        raise GlassnetError(
            f"{op}: axis={axis!r} is out of range for x of shape {list(x.shape)}; "
            f"expected an int in [{-x.ndim}, {x.ndim - 1}]"
        )
    return int(axis % x.ndim)


class ReluCache(NamedTuple):
    """What ``relu_backward`` needs."""

    mask: Any  # (same as x) bool, x > 0


def relu_forward(x: Any) -> tuple[Any, ReluCache]:
    """Return ``max(x, 0)``.

    Shapes:
        x: any -> out: same.
    """
    mask = x > 0
    return get_xp(x).maximum(x, 0), ReluCache(mask)


def relu_backward(dout: Any, cache: ReluCache) -> Any:
    """Pass the gradient where ``x > 0`` (the derivative at 0 is taken as 0, like PyTorch).

    Shapes:
        dout: any -> dx: same.
    """
    return get_xp(dout).where(cache.mask, dout, 0)


class ClippedReluCache(NamedTuple):
    """What ``clipped_relu_backward`` needs."""

    mask: Any  # (same as x) bool, 0 < x < max_value


def clipped_relu_forward(x: Any, *, max_value: float) -> tuple[Any, ClippedReluCache]:
    """Return ``min(max(x, 0), max_value)`` — ReLU6 (MobileNetV2) for ``max_value=6``.

    Shapes:
        x: any -> out: same.
    """
    xp = get_xp(x)
    cap = x.dtype.type(max_value)
    mask = (x > 0) & (x < cap)
    return xp.minimum(xp.maximum(x, 0), cap), ClippedReluCache(mask)


def clipped_relu_backward(dout: Any, cache: ClippedReluCache) -> Any:
    """Pass the gradient where ``0 < x < max_value`` (0 at both kinks, like PyTorch's relu6).

    Shapes:
        dout: any -> dx: same.
    """
    return get_xp(dout).where(cache.mask, dout, 0)


class LeakyReluCache(NamedTuple):
    """What ``leaky_relu_backward`` needs."""

    mask: Any  # (same as x) bool, x > 0
    alpha: float


def leaky_relu_forward(x: Any, *, alpha: float = 0.01) -> tuple[Any, LeakyReluCache]:
    """Return ``x`` where ``x > 0`` and ``alpha·x`` elsewhere.

    The default ``alpha=0.01`` is PyTorch's ``negative_slope`` (Keras' ``LeakyReLU`` uses 0.3,
    ``tf.nn.leaky_relu`` 0.2); pass ``alpha`` explicitly to match those.

    Raises:
        GlassnetError: if ``alpha`` is not a real number.

    Shapes:
        x: any -> out: same.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, int | float):
        raise GlassnetError(f"leaky_relu: alpha={alpha!r} must be a real number")
    xp = get_xp(x)
    mask = x > 0
    return xp.where(mask, x, x * alpha), LeakyReluCache(mask, float(alpha))


def leaky_relu_backward(dout: Any, cache: LeakyReluCache) -> Any:
    """Scale the gradient by 1 where ``x > 0`` and by ``alpha`` elsewhere.

    Shapes:
        dout: any -> dx: same.
    """
    xp = get_xp(dout)
    return xp.where(cache.mask, dout, dout * cache.alpha)


class SigmoidCache(NamedTuple):
    """What ``sigmoid_backward`` needs."""

    deriv: Any  # (same as x) s·(1 − s), computed without cancellation


def sigmoid_forward(x: Any) -> tuple[Any, SigmoidCache]:
    """Return ``1 / (1 + exp(−x))``.

    NOTE: computed from ``e = exp(−|x|)`` (never overflows) as ``1/(1 + e)`` for ``x ≥ 0`` and
    ``e/(1 + e)`` for ``x < 0``, so ``x = ±1000`` gives 1 and 0 without warnings. The cache
    holds the derivative ``e/(1 + e)²`` rather than the output: ``s·(1 − s)`` from a rounded
    ``s`` near 1 loses every digit of ``1 − s`` in float32.

    Shapes:
        x: any -> out: same.
    """
    xp = get_xp(x)
    e = xp.exp(-xp.abs(x))
    a = 1 / (1 + e)
    b = e * a
    return xp.where(x >= 0, a, b), SigmoidCache(a * b)


def sigmoid_backward(dout: Any, cache: SigmoidCache) -> Any:
    """Return ``dout·s·(1 − s)``.

    Shapes:
        dout: any -> dx: same.
    """
    return dout * cache.deriv


class TanhCache(NamedTuple):
    """What ``tanh_backward`` needs."""

    deriv: Any  # (same as x) 1 − tanh², computed without cancellation


def tanh_forward(x: Any) -> tuple[Any, TanhCache]:
    """Return ``tanh(x)``.

    NOTE: the cached derivative is ``4e/(1 + e)²`` with ``e = exp(−2|x|)`` (equal to
    ``1 − tanh²``), accurate where ``tanh`` rounds to ±1.

    Shapes:
        x: any -> out: same.
    """
    xp = get_xp(x)
    e = xp.exp(-2 * xp.abs(x))
    a = 1 / (1 + e)
    return xp.tanh(x), TanhCache(4 * e * a * a)


def tanh_backward(dout: Any, cache: TanhCache) -> Any:
    """Return ``dout·(1 − tanh²)``.

    Shapes:
        dout: any -> dx: same.
    """
    return dout * cache.deriv


class SoftmaxCache(NamedTuple):
    """What ``softmax_backward`` needs."""

    out: Any  # (same as x) probabilities, summing to 1 along axis
    axis: int


def softmax_forward(x: Any, *, axis: int = -1) -> tuple[Any, SoftmaxCache]:
    """Return ``exp(x) / Σ exp(x)`` along ``axis``.

    NOTE: the maximum along ``axis`` is subtracted first (softmax is shift-invariant), so every
    exponent is ≤ 0: ``softmax([1, 3.5, 757, −5])`` is finite and sums to 1.

    Raises:
        GlassnetError: if ``axis`` is out of range.

    Shapes:
        x: any -> out: same.
    """
    axis = _check_axis("softmax", x, axis)
    xp = get_xp(x)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    out = e / e.sum(axis=axis, keepdims=True)
    return out, SoftmaxCache(out, axis)


def softmax_backward(dout: Any, cache: SoftmaxCache) -> Any:
    """Return the Jacobian-vector product ``p·(dout − Σ dout·p)`` without forming the Jacobian.

    Shapes:
        dout: any -> dx: same.
    """
    p = cache.out
    return p * (dout - (dout * p).sum(axis=cache.axis, keepdims=True))


class LogSoftmaxCache(NamedTuple):
    """What ``log_softmax_backward`` needs."""

    out: Any  # (same as x) log-probabilities along axis
    axis: int


def log_softmax_forward(x: Any, *, axis: int = -1) -> tuple[Any, LogSoftmaxCache]:
    """Return ``x − log Σ exp(x)`` along ``axis``.

    NOTE: computed as ``z − log Σ exp(z)`` with ``z = x − max(x)`` (log-sum-exp trick), never
    as ``log(softmax(x))``, which would give ``log(0) = −inf`` for very negative entries.

    Raises:
        GlassnetError: if ``axis`` is out of range.

    Shapes:
        x: any -> out: same.
    """
    axis = _check_axis("log_softmax", x, axis)
    xp = get_xp(x)
    z = x - x.max(axis=axis, keepdims=True)
    out = z - xp.log(xp.exp(z).sum(axis=axis, keepdims=True))
    return out, LogSoftmaxCache(out, axis)


def log_softmax_backward(dout: Any, cache: LogSoftmaxCache) -> Any:
    """Return ``dout − softmax(x)·Σ dout``.

    Shapes:
        dout: any -> dx: same.
    """
    xp = get_xp(dout)
    return dout - xp.exp(cache.out) * dout.sum(axis=cache.axis, keepdims=True)
