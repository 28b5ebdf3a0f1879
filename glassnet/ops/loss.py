"""Losses as forward/backward pairs.

``*_forward(y_pred, y_true, ...) -> (loss, cache)`` and ``*_backward(dout, cache) -> dy``, the
order of every other op's pair; ``dout`` is dL/d(loss), 1.0 when the loss is the objective.

Batch convention: the first axis is the batch ``N``; a per-example loss is reduced over the batch
by ``reduction``: ``"mean"`` (the default, what training uses), ``"sum"`` or ``"none"`` (the
``(N,)`` per-example losses; ``dout`` may then be an ``(N,)`` array). Per example
(``../shared/DESIGN.md`` §6): ``mse`` and ``binary_crossentropy`` are means over the outputs;
``categorical_crossentropy`` is ``−Σ t·log p`` over the classes (last axis of ``(N, K)``).

NOTE: probabilities are NOT clipped to ``[1e-7, 1 − 1e-7]`` as Keras does, so float64 values match
the formulas exactly. Only the argument of each ``log`` is floored at the dtype's smallest normal
number (``finfo.tiny``), so a probability of exactly 0 (or 1 in ``log(1 − p)``) gives a large
finite loss instead of ``inf``; the gradient is the plain formula evaluated at that floor.
For training prefer ``from_logits=True`` or :func:`softmax_cross_entropy_forward`, which work
from logits with log-sum-exp and never take the log of a rounded probability.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from glassnet.backend import get_xp
from glassnet.errors import GlassnetError, ShapeError
from glassnet.ops.activation import log_softmax_forward, sigmoid_forward

REDUCTIONS = ("mean", "sum", "none")


class LossCache(NamedTuple):
    """What a loss's backward needs (one type for every loss)."""

    y_pred: Any  # (N, ...) predictions: probabilities, or logits when from_logits
    y_true: Any  # (N, ...) targets in y_pred's dtype, or (N,) int labels (sparse)
    probs: Any  # (N, ...) softmax/sigmoid of the logits when from_logits, else None
    from_logits: bool
    reduction: str


def _check(op: str, y_pred: Any, y_true: Any, reduction: str, *, labels: bool = False) -> Any:
    """Validate the arguments and return ``y_true`` as an array in ``y_pred``'s dtype."""
    if reduction not in REDUCTIONS:
        raise GlassnetError(f"{op}: reduction={reduction!r} is not one of {list(REDUCTIONS)}")
    xp = get_xp(y_pred)
    if y_pred.dtype.kind != "f" or y_pred.ndim < 1:
        raise ShapeError(
            f"{op}: y_pred must be a floating array of shape (N, ...); "
            f"received shape {list(y_pred.shape)} dtype {y_pred.dtype}"
        )
    y_true = xp.asarray(y_true)
    if labels:
        n, k = y_pred.shape[0], y_pred.shape[-1]
        if y_pred.ndim != 2 or y_true.shape != (n,) or y_true.dtype.kind not in "iu":
            raise ShapeError(
                f"{op}: expected y_pred (N, K) and integer labels y_true (N,); received "
                f"y_pred {list(y_pred.shape)}, y_true {list(y_true.shape)} {y_true.dtype}"
            )
        if n and (int(y_true.min()) < 0 or int(y_true.max()) >= k):
            raise GlassnetError(
                f"{op}: labels must lie in [0, {k - 1}] for K={k} classes; received values in "
                f"[{int(y_true.min())}, {int(y_true.max())}]"
            )
        return y_true
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ShapeError(
            f"{op}: y_true shape {list(y_true.shape)} does not match y_pred shape "
            f"{list(y_pred.shape)}; expected equal shapes"
        )
    return y_true.astype(y_pred.dtype, copy=False)


def _log_probs(op: str, y_pred: Any, from_logits: bool) -> tuple[Any, Any]:
    """``(log p, p or None)``: a fused ``log_softmax`` from logits, else the floored log."""
    if y_pred.ndim != 2:
        raise ShapeError(f"{op}: y_pred must have shape (N, K); received {list(y_pred.shape)}")
    if not from_logits:
        return _safe_log(y_pred), None
    logp = log_softmax_forward(y_pred, axis=-1)[0]
    return logp, get_xp(logp).exp(logp)


def _reduce(per_example: Any, reduction: str) -> Any:
    if reduction == "none":
        return per_example
    return per_example.sum() if reduction == "sum" else per_example.mean()


def _scale(y: Any, reduction: str, dout: Any) -> Any:
    """``dout·d(reduction)/d(per-example loss)``, shaped to broadcast against ``y (N, ...)``."""
    s = get_xp(y).asarray(dout, dtype=y.dtype)  # dtype pinned: a float64 dout must not upcast
    if reduction == "mean":
        return s / y.shape[0]
    if reduction == "none" and s.ndim:
        return s.reshape((-1,) + (1,) * (y.ndim - 1))
    return s


def _safe(p: Any) -> Any:
    """``p`` floored at the dtype's smallest normal number (see the module NOTE)."""
    xp = get_xp(p)
    return xp.maximum(p, xp.finfo(p.dtype).tiny)


def _safe_log(p: Any) -> Any:
    return get_xp(p).log(_safe(p))


def _outputs_mean(a: Any) -> Any:
    """Mean over every axis but the batch (an ``(N,)`` array stays as it is)."""
    return a.mean(axis=tuple(range(1, a.ndim))) if a.ndim > 1 else a


def mse_forward(y_pred: Any, y_true: Any, *, reduction: str = "mean") -> tuple[Any, LossCache]:
    """Mean squared error: per example the mean over outputs of ``(y − t)²``.

    Raises:
        ShapeError: if the shapes differ or ``y_pred`` is not floating.
        GlassnetError: for an unknown ``reduction``.

    Shapes:
        y_pred, y_true: (N, ...) -> loss: () or (N,) with ``reduction="none"``.
    """
    t = _check("mse", y_pred, y_true, reduction)
    d = y_pred - t
    return _reduce(_outputs_mean(d * d), reduction), LossCache(y_pred, t, None, False, reduction)


def mse_backward(dout: Any, cache: LossCache) -> Any:
    """Return ``2·(y − t)/M`` (M outputs per example) times the reduction's weight."""
    y = cache.y_pred
    m = y[0].size if y.ndim > 1 else 1
    return (y - cache.y_true) * (_scale(y, cache.reduction, dout) * (2 / m))


def binary_crossentropy_forward(
    y_pred: Any, y_true: Any, *, from_logits: bool = False, reduction: str = "mean"
) -> tuple[Any, LossCache]:
    """Binary cross-entropy: per example the mean over outputs of ``−t·log p − (1−t)·log(1−p)``.

    NOTE: with ``from_logits`` the loss is ``max(z, 0) − z·t + log(1 + exp(−|z|))``, exact and
    finite for any ``z``; its gradient is ``sigmoid(z) − t``.

    Raises:
        ShapeError: if the shapes differ or ``y_pred`` is not floating.
        GlassnetError: for an unknown ``reduction``.

    Shapes:
        y_pred, y_true: (N, ...) -> loss: () or (N,).
    """
    t = _check("binary_crossentropy", y_pred, y_true, reduction)
    xp = get_xp(y_pred)
    if from_logits:
        z = y_pred
        per = xp.maximum(z, 0) - z * t + xp.log1p(xp.exp(-xp.abs(z)))
        probs = sigmoid_forward(z)[0]
    else:
        per = -(t * _safe_log(y_pred) + (1 - t) * _safe_log(1 - y_pred))
        probs = None
    cache = LossCache(y_pred, t, probs, from_logits, reduction)
    return _reduce(_outputs_mean(per), reduction), cache


def binary_crossentropy_backward(dout: Any, cache: LossCache) -> Any:
    """Return ``(sigmoid(z) − t)/M`` (logits) or ``(−t/p + (1−t)/(1−p))/M`` times the weight."""
    y, t = cache.y_pred, cache.y_true
    m = y[0].size if y.ndim > 1 else 1
    if cache.from_logits:
        g = cache.probs - t
    else:
        g = (1 - t) / _safe(1 - y) - t / _safe(y)
    return g * (_scale(y, cache.reduction, dout) / m)


def categorical_crossentropy_forward(
    y_pred: Any, y_true: Any, *, from_logits: bool = False, reduction: str = "mean"
) -> tuple[Any, LossCache]:
    """Categorical cross-entropy: per example ``−Σ_k t_k·log p_k`` (p is not renormalised).

    With ``from_logits``, ``log p`` is a fused, stable ``log_softmax(z)``.

    Raises:
        ShapeError: if the shapes differ or are not ``(N, K)``.
        GlassnetError: for an unknown ``reduction``.

    Shapes:
        y_pred, y_true: (N, K) -> loss: () or (N,).
    """
    t = _check("categorical_crossentropy", y_pred, y_true, reduction)
    logp, probs = _log_probs("categorical_crossentropy", y_pred, from_logits)
    per = -(t * logp).sum(axis=-1)
    cache = LossCache(y_pred, t, probs, from_logits, reduction)
    return _reduce(per, reduction), cache


def categorical_crossentropy_backward(dout: Any, cache: LossCache) -> Any:
    """Return ``softmax(z)·Σt − t`` (logits; ``p − t`` for one-hot t) or ``−t/p``, weighted."""
    t = cache.y_true
    if cache.from_logits:
        g = cache.probs * t.sum(axis=-1, keepdims=True) - t
    else:
        g = -t / _safe(cache.y_pred)
    return g * _scale(cache.y_pred, cache.reduction, dout)


def sparse_categorical_crossentropy_forward(
    y_pred: Any, y_true: Any, *, from_logits: bool = False, reduction: str = "mean"
) -> tuple[Any, LossCache]:
    """Categorical cross-entropy with integer labels: per example ``−log p[label]``.

    Raises:
        ShapeError: unless ``y_pred`` is ``(N, K)`` floating and ``y_true`` is ``(N,)`` integer.
        GlassnetError: for a label outside ``[0, K)`` or an unknown ``reduction``.

    Shapes:
        y_pred: (N, K), y_true: (N,) int -> loss: () or (N,).
    """
    labels = _check("sparse_categorical_crossentropy", y_pred, y_true, reduction, labels=True)
    rows = get_xp(y_pred).arange(y_pred.shape[0])
    if from_logits:
        logp, probs = _log_probs("sparse_categorical_crossentropy", y_pred, True)
        per = -logp[rows, labels]
    else:  # only the labelled column's log is needed
        probs, per = None, -_safe_log(y_pred[rows, labels])
    cache = LossCache(y_pred, labels, probs, from_logits, reduction)
    return _reduce(per, reduction), cache


def sparse_categorical_crossentropy_backward(dout: Any, cache: LossCache) -> Any:
    """Return ``softmax(z) − onehot`` (logits) or ``−onehot/p``, weighted by the reduction."""
    xp = get_xp(cache.y_pred)
    rows = xp.arange(cache.y_pred.shape[0])
    if cache.from_logits:
        g = cache.probs.copy()
        g[rows, cache.y_true] -= 1
    else:
        g = xp.zeros_like(cache.y_pred)
        g[rows, cache.y_true] = -1 / _safe(cache.y_pred[rows, cache.y_true])
    return g * _scale(cache.y_pred, cache.reduction, dout)


def kl_divergence_forward(
    y_pred: Any, y_true: Any, *, from_logits: bool = False, reduction: str = "mean"
) -> tuple[Any, LossCache]:
    """Kullback-Leibler divergence KL(t ‖ p): per example ``Σ_k t_k·(log t_k − log p_k)``.

    Terms with ``t_k = 0`` contribute 0 (``0·log 0 = 0``). ``reduction="mean"`` is PyTorch's
    ``kl_div(..., reduction="batchmean")`` (sum over classes, mean over the batch).

    Raises:
        ShapeError: if the shapes differ or are not ``(N, K)``.
        GlassnetError: for an unknown ``reduction``.

    Shapes:
        y_pred, y_true: (N, K) -> loss: () or (N,).
    """
    t = _check("kl_divergence", y_pred, y_true, reduction)
    logp, probs = _log_probs("kl_divergence", y_pred, from_logits)
    t_log_t = get_xp(t).where(t > 0, t * _safe_log(t), 0)
    per = (t_log_t - t * logp).sum(axis=-1)
    cache = LossCache(y_pred, t, probs, from_logits, reduction)
    return _reduce(per, reduction), cache


def kl_divergence_backward(dout: Any, cache: LossCache) -> Any:
    """Return the gradient: the same as categorical cross-entropy's (``Σ t log t`` is constant)."""
    return categorical_crossentropy_backward(dout, cache)


def softmax_cross_entropy_forward(
    logits: Any, labels: Any, *, reduction: str = "mean"
) -> tuple[Any, LossCache]:
    """Fused softmax + cross-entropy from logits (the main training path).

    Accepts integer labels ``(N,)`` (sparse) or one-hot / soft targets ``(N, K)``. The loss uses
    ``log_softmax`` (stable for any logits); the gradient is ``(p − y)/N`` for ``"mean"``.
    ``cache.probs`` holds the softmax probabilities.

    Raises:
        ShapeError: unless logits are ``(N, K)`` and labels ``(N,)`` int or ``(N, K)``.
        GlassnetError: for a label outside ``[0, K)`` or an unknown ``reduction``.

    Shapes:
        logits: (N, K), labels: (N,) or (N, K) -> loss: () or (N,).
    """
    if get_xp(logits).asarray(labels).ndim == 1:
        return sparse_categorical_crossentropy_forward(
            logits, labels, from_logits=True, reduction=reduction
        )
    return categorical_crossentropy_forward(logits, labels, from_logits=True, reduction=reduction)


def softmax_cross_entropy_backward(dout: Any, cache: LossCache) -> Any:
    """Return ``(p − y)`` times the reduction's weight (``1/N`` for ``"mean"``).

    Shapes:
        -> dlogits: (N, K).
    """
    if cache.y_true.ndim == 1:
        return sparse_categorical_crossentropy_backward(dout, cache)
    return categorical_crossentropy_backward(dout, cache)
