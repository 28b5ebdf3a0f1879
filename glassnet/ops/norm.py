"""Batch normalisation and inverted dropout as forward/backward pairs."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from glassnet.backend import get_xp
from glassnet.errors import GlassnetError, ShapeError


class BatchNormCache(NamedTuple):
    """What ``batch_norm_backward`` needs."""

    xhat: Any  # (same as x) normalised input (x − mean)·inv_std
    inv_std: Any  # (C,) 1 / sqrt(var + eps), var the batch's (training) or the running one
    gamma: Any  # (C,)
    axis: int  # the channel axis, non-negative
    training: bool  # whether mean/var came from the batch (they then depend on x)


def check_per_channel(c: int, axis: int, **arrays: Any) -> None:
    """Raise unless every given per-channel array (None: absent) has shape ``(c,)``.

    Raises:
        ShapeError: naming the array, its shape and the expected one.
    """
    for name, arr in arrays.items():
        if arr is not None and tuple(arr.shape) != (c,):
            raise ShapeError(
                f"batch_norm: {name} has shape {list(arr.shape)} but x has C={c} channels "
                f"on axis {axis}; expected [{c}]"
            )


def check_batch_values(x: Any, m: int, axis: int) -> None:
    """Raise unless training has more than one value per channel (``m``) to take statistics of.

    Raises:
        ShapeError: for ``m < 2``.
    """
    if m < 2:
        raise ShapeError(
            f"batch_norm: training needs more than 1 value per channel; received x "
            f"{list(x.shape)} with channel axis {axis}"
        )


def update_running(
    running_mean: Any | None, running_var: Any | None, mean: Any, var: Any, m: int,
    momentum: float,
) -> None:
    """PyTorch's running update, in place: ``(1 − momentum)·running + momentum·batch``.

    The variance enters unbiased (``var·m/(m − 1)``; ``var`` is the biased batch variance).

    Shapes:
        all (C,)
    """
    if running_mean is not None:
        running_mean *= 1 - momentum
        running_mean += momentum * mean
    if running_var is not None:
        running_var *= 1 - momentum
        running_var += (momentum * m / (m - 1)) * var


def running_stats(running_mean: Any | None, running_var: Any | None, dtype: Any) -> tuple[Any, Any]:
    """The running mean and variance in ``dtype`` (what inference normalises with).

    Raises:
        GlassnetError: if either is missing.

    Shapes:
        -> (C,), (C,)
    """
    if running_mean is None or running_var is None:
        raise GlassnetError(
            "batch_norm: inference (training=False) needs running_mean "
            "and running_var; received None"
        )
    return running_mean.astype(dtype), running_var.astype(dtype)


def batch_norm_forward(
    x: Any,
    gamma: Any,
    beta: Any,
    running_mean: Any | None,
    running_var: Any | None,
    *,
    axis: int,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[Any, BatchNormCache]:
    """Normalise each channel over all other axes, then scale by ``gamma`` and shift by ``beta``.

    ``out = gamma·(x − mean)/sqrt(var + eps) + beta`` with ``mean``/``var`` over every axis but
    ``axis`` (``axis=0`` for CNHW maps, ``axis=1`` for ``(N, F)``). Training uses the batch's
    statistics and updates the running arrays IN PLACE with PyTorch's convention:
    ``running = (1 − momentum)·running + momentum·batch``, where the running variance takes the
    unbiased batch variance (``·M/(M − 1)``) while normalisation uses the biased one. Inference
    uses the running statistics.

    Args:
        x: input.
        gamma: scale per channel.
        beta: shift per channel.
        running_mean: running mean per channel (updated in place when training; may be ``None``
            when training only).
        running_var: running variance per channel (as ``running_mean``).
        axis: the channel axis.
        training: use (and record) batch statistics instead of the running ones.
        momentum: weight of the new batch in the running update (PyTorch's convention; Keras'
            ``momentum=0.99`` is this 0.01).
        eps: added to the variance before the square root.

    Returns:
        ``(out, cache)``.

    Raises:
        ShapeError: if ``axis`` is out of range, a per-channel array is not ``(C,)``, or a
            training batch has one value per channel.
        GlassnetError: if running statistics are missing at inference.

    Shapes:
        x: any with C = x.shape[axis]; gamma, beta, running_mean, running_var: (C,) -> out: x's.
    """
    if isinstance(axis, bool) or not isinstance(axis, int) or not -x.ndim <= axis < x.ndim:
        raise ShapeError(f"batch_norm: axis={axis!r} is out of range for x {list(x.shape)}")
    axis %= x.ndim
    c = x.shape[axis]
    check_per_channel(c, axis, gamma=gamma, beta=beta, running_mean=running_mean,
                      running_var=running_var)
    xp = get_xp(x)
    others = tuple(d for d in range(x.ndim) if d != axis)
    bshape = tuple(c if d == axis else 1 for d in range(x.ndim))  # broadcasts a (C,) array
    if training:
        m = x.size // c if c else 0
        check_batch_values(x, m, axis)
        mean = x.mean(axis=others)
        xc = x - mean.reshape(bshape)
        var = (xc * xc).mean(axis=others)  # biased: what normalisation uses
        update_running(running_mean, running_var, mean, var, m, momentum)
    else:
        mean, var = running_stats(running_mean, running_var, x.dtype)
        xc = x - mean.reshape(bshape)
    inv_std = 1 / xp.sqrt(var + x.dtype.type(eps))
    xhat = xc * inv_std.reshape(bshape)
    out = xhat * gamma.reshape(bshape) + beta.reshape(bshape)
    return out, BatchNormCache(xhat, inv_std, gamma, axis, bool(training))


def batch_norm_backward(dout: Any, cache: BatchNormCache) -> tuple[Any, Any, Any]:
    """Return ``(dx, dgamma, dbeta)``.

    Training (batch statistics depend on x), the compact formula with M values per channel:
    ``dx = gamma·inv_std/M · (M·dout − Σ dout − xhat·Σ dout·xhat)``; inference:
    ``dx = gamma·inv_std·dout``. ``dgamma = Σ dout·xhat``, ``dbeta = Σ dout`` (sums over every
    axis but the channel axis).

    Shapes:
        dout: x's shape -> dx: x's shape, dgamma: (C,), dbeta: (C,).
    """
    ax, xhat = cache.axis, cache.xhat
    others = tuple(d for d in range(dout.ndim) if d != ax)
    bshape = tuple(dout.shape[ax] if d == ax else 1 for d in range(dout.ndim))
    dbeta = dout.sum(axis=others)
    dgamma = (dout * xhat).sum(axis=others)
    scale = (cache.gamma * cache.inv_std).reshape(bshape)
    if not cache.training:
        return dout * scale, dgamma, dbeta
    m = dout.size // dout.shape[ax]
    dx = (scale / m) * (m * dout - dbeta.reshape(bshape) - xhat * dgamma.reshape(bshape))
    return dx, dgamma, dbeta


class DropoutCache(NamedTuple):
    """What ``dropout_backward`` needs."""

    mask: Any  # (same as x) 0 or 1/(1 − rate) in x's dtype; None when nothing was dropped


def dropout_forward(
    x: Any,
    *,
    rate: float,
    rng: np.random.Generator,
    training: bool,
    rows: tuple[int, int, int] | None = None,
    batch_axis: int = 0,
) -> tuple[Any, DropoutCache]:
    """Inverted dropout: zero each value with probability ``rate`` and scale the rest.

    Survivors are multiplied by ``1/(1 − rate)`` at training time so the expected value is
    unchanged and inference is the identity (no rescaling at test time).

    Args:
        x: input.
        rate: probability of dropping a value, in ``[0, 1)``.
        rng: the generator drawing the mask (the caller owns the seed).
        training: drop only when training; otherwise return ``x`` unchanged.
        rows: ``(start, stop, n)``: ``x`` is rows ``[start, stop)`` of a batch of ``n`` (one
            rank's shard); the mask is drawn for all ``n`` rows and sliced, so every rank
            draws the same numbers and the shards' masks are those of the whole batch.
        batch_axis: the axis of ``x`` that ``rows`` index (1 for CNHW maps).

    Returns:
        ``(out, cache)``.

    Raises:
        GlassnetError: if ``rate`` is not in ``[0, 1)`` or ``rng`` is not a Generator.

    Shapes:
        x: any -> out: same.
    """
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate < 1:
        raise GlassnetError(f"dropout: rate={rate!r} must be a number in [0, 1)")
    if not isinstance(rng, np.random.Generator):
        raise GlassnetError(
            f"dropout: rng must be a numpy.random.Generator; received {type(rng).__name__}"
        )
    if not training or rate == 0:
        return x, DropoutCache(None)
    xp = get_xp(x)
    # The mask is drawn on the host with the caller's NumPy generator (reproducible by seed).
    draw_dtype = np.float32 if x.dtype == np.float32 else np.float64
    if rows is None:
        uniform = rng.random(x.shape, dtype=draw_dtype)
    else:
        start, stop, n = rows
        if stop - start != x.shape[batch_axis] or not 0 <= start <= stop <= n:
            raise GlassnetError(
                f"dropout: rows={rows} do not fit an input of {x.shape[batch_axis]} rows "
                f"(axis {batch_axis}); expected (start, stop, n) with stop - start rows and "
                "0 <= start <= stop <= n"
            )
        shape = list(x.shape)
        shape[batch_axis] = n
        pick = (slice(None),) * batch_axis + (slice(start, stop),)
        uniform = rng.random(tuple(shape), dtype=draw_dtype)[pick]
    keep = xp.asarray(uniform >= rate)
    mask = keep * x.dtype.type(1 / (1 - rate))
    return x * mask, DropoutCache(mask)


def dropout_backward(dout: Any, cache: DropoutCache) -> Any:
    """Pass the gradient through the same mask (scaled survivors, zeros elsewhere).

    Shapes:
        dout: any -> dx: same.
    """
    return dout if cache.mask is None else dout * cache.mask
