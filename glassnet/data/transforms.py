"""Array transforms for training data: normalisation, one-hot labels, batching, augmentation.

All image functions take NHWC arrays; random ones take an explicit ``numpy.random.Generator``
so the same seed gives the same result.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from glassnet.errors import GlassnetError, ShapeError


def normalize(
    x: np.ndarray, mean: float | Sequence[float], std: float | Sequence[float]
) -> np.ndarray:
    """Return ``(x - mean) / std``, per channel when given sequences.

    Args:
        x: images (or any array whose last axis is the channel axis).
        mean: one value, or one per channel.
        std: one value, or one per channel; every value > 0.

    Returns:
        A new array, in ``x``'s dtype if floating, else float32.

    Raises:
        GlassnetError: if a ``std`` value is not positive, or ``mean``/``std`` have a length
            other than 1 or the channel count.

    Shapes:
        x: ``(..., C)``; mean, std: scalar, ``(1,)`` or ``(C,)``; out: like ``x``.
    """
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float32)
    m = np.asarray(mean, dtype=dtype)
    s = np.asarray(std, dtype=dtype)
    channels = x.shape[-1] if x.ndim else 1
    for arg, value in (("mean", m), ("std", s)):
        if value.ndim > 1 or value.size not in (1, channels):
            raise GlassnetError(
                f"normalize: {arg} has {value.size} values, expected 1 or C={channels} "
                f"(x shape {list(x.shape)})")
    if np.any(s <= 0):
        raise GlassnetError(f"normalize: std must be > 0, got {s.tolist()}")
    return (x.astype(dtype, copy=False) - m) / s


def one_hot(y: np.ndarray, num_classes: int, *, dtype: type = np.float32) -> np.ndarray:
    """Return one-hot rows for integer labels.

    Args:
        y: integer labels in ``[0, num_classes)``.
        num_classes: the number of classes ``K``.
        dtype: the output dtype.

    Returns:
        ``out[i, y[i]] = 1``, zeros elsewhere.

    Raises:
        GlassnetError: if ``y`` is not 1-D integers or holds a label outside ``[0, K)``.

    Shapes:
        y: ``(N,)``; out: ``(N, K)``.
    """
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise GlassnetError(
            f"one_hot: y must be 1-D integer labels, got {y.dtype} shape {list(y.shape)}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise GlassnetError(
            f"one_hot: labels must be in [0, {num_classes}), got [{y.min()}, {y.max()}]")
    out = np.zeros((y.size, num_classes), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out


class Batches:
    """Mini-batches of ``(x, y)``; each iteration is one epoch.

    With ``shuffle=True`` every pass draws one permutation of ``N`` from the generator and each
    batch gathers its rows with one fancy-index (a copy); the generator advances, so epochs
    differ but the sequence of epochs is fixed by the seed. Without shuffling, batches are
    slices (views, no copy) in order.

    Shapes:
        x: ``(N, ...)``; y: ``(N, ...)``; each batch ``(B, ...)`` with ``B <= batch_size``.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
        drop_last: bool = False,
    ) -> None:
        if len(x) != len(y):
            raise ShapeError(f"batches: x has {len(x)} samples but y has {len(y)}")
        if not isinstance(batch_size, int | np.integer) or batch_size < 1:
            raise GlassnetError(f"batches: batch_size must be an int >= 1, got {batch_size!r}")
        if seed is not None and rng is not None:
            raise GlassnetError("batches: give seed= or rng=, not both")
        if shuffle and seed is None and rng is None:
            raise GlassnetError(
                "batches: shuffle=True needs seed= or rng= (same seed -> same batches)")
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.rng = rng if rng is not None else np.random.default_rng(seed)

    def __len__(self) -> int:
        """Batches per epoch."""
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n, b = len(self.x), self.batch_size
        stop = len(self) * b
        if not self.shuffle:
            for start in range(0, stop, b):
                yield self.x[start:start + b], self.y[start:start + b]
            return
        order = self.rng.permutation(n)
        for start in range(0, stop, b):
            idx = order[start:start + b]
            yield self.x[idx], self.y[idx]


def batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    drop_last: bool = False,
) -> Batches:
    """Return an iterable of mini-batches (see ``Batches``); ``len()`` gives batches per epoch.

    Args:
        x: inputs, first axis = samples.
        y: targets, first axis = samples.
        batch_size: samples per batch; the last batch is smaller unless ``drop_last``.
        shuffle: draw a new order every epoch.
        seed: seed of a fresh generator for the shuffling.
        rng: a generator to draw from instead (shared with other random steps).
        drop_last: skip the final incomplete batch.

    Returns:
        A ``Batches`` object; iterate it once per epoch.

    Raises:
        ShapeError: if ``x`` and ``y`` have different lengths.
        GlassnetError: if ``batch_size < 1``, both ``seed`` and ``rng`` are given, or
            ``shuffle`` is set without either.
    """
    return Batches(x, y, batch_size, shuffle=shuffle, seed=seed, rng=rng, drop_last=drop_last)


def random_crop(x: np.ndarray, padding: int, rng: np.random.Generator) -> np.ndarray:
    """Zero-pad each image by ``padding`` pixels and cut a random window of the original size.

    Each image gets its own offset ``(dy, dx)``, uniform in ``[0, 2 * padding]`` (the CIFAR
    "pad 4, crop 32" augmentation).

    Args:
        x: images.
        padding: pixels of zero padding on every side, ``>= 0``.
        rng: the random generator.

    Returns:
        A new array of the same shape and dtype.

    Raises:
        ShapeError: if ``x`` is not 4-D.
        GlassnetError: if ``padding`` is negative.

    Shapes:
        x: ``(N, H, W, C)``; out: ``(N, H, W, C)``.
    """
    _check_nhwc("random_crop", x)
    if padding < 0:
        raise GlassnetError(f"random_crop: padding must be >= 0, got {padding}")
    if padding == 0:
        return x.copy()
    n, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    dy = rng.integers(0, 2 * padding + 1, size=n)
    dx = rng.integers(0, 2 * padding + 1, size=n)
    rows = dy[:, None] + np.arange(h)  # (N, H)
    cols = dx[:, None] + np.arange(w)  # (N, W)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def random_flip(x: np.ndarray, rng: np.random.Generator, *, p: float = 0.5) -> np.ndarray:
    """Mirror each image left-right with probability ``p``.

    Args:
        x: images.
        rng: the random generator.
        p: the flip probability in [0, 1].

    Returns:
        A new array of the same shape and dtype.

    Raises:
        ShapeError: if ``x`` is not 4-D.
        GlassnetError: if ``p`` is outside [0, 1].

    Shapes:
        x: ``(N, H, W, C)``; out: ``(N, H, W, C)``.
    """
    _check_nhwc("random_flip", x)
    if not 0.0 <= p <= 1.0:
        raise GlassnetError(f"random_flip: p must be in [0, 1], got {p}")
    flip = rng.random(len(x)) < p
    out = x.copy()
    out[flip] = x[flip, :, ::-1]
    return out


def _check_nhwc(op: str, x: np.ndarray) -> None:
    """Reject arrays that are not a batch of images."""
    if x.ndim != 4:
        raise ShapeError(f"{op}: x must be NHWC (4-D), got shape {list(x.shape)}")
