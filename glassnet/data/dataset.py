"""The ``Dataset`` container every loader returns, and the seeded stratified split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glassnet.errors import GlassnetError


@dataclass(frozen=True)
class Dataset:
    """A train/test pair of image arrays and integer labels.

    Attributes:
        name: the dataset's public name (``"mnist-5k"``, ``"cifar10"``, ...).
        x_train: training images, float32 in [0, 1].
        y_train: training labels, int64 in ``[0, num_classes)``.
        x_test: test images, float32 in [0, 1].
        y_test: test labels, int64.
        class_names: label ``i`` is ``class_names[i]``.

    Shapes:
        x_train: ``(N_train, H, W, C)`` (NHWC); y_train: ``(N_train,)``;
        x_test: ``(N_test, H, W, C)``; y_test: ``(N_test,)``.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    @property
    def train(self) -> tuple[np.ndarray, np.ndarray]:
        """The ``(x_train, y_train)`` pair."""
        return self.x_train, self.y_train

    @property
    def test(self) -> tuple[np.ndarray, np.ndarray]:
        """The ``(x_test, y_test)`` pair."""
        return self.x_test, self.y_test

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """One image, ``(H, W, C)``."""
        h, w, c = self.x_train.shape[1:]
        return int(h), int(w), int(c)

    @property
    def num_classes(self) -> int:
        """How many classes the labels index."""
        return len(self.class_names)

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={self.x_train.shape}, test={self.x_test.shape}, "
                f"classes={self.num_classes})")


def to_unit_float(x: np.ndarray, max_value: float) -> np.ndarray:
    """Return ``x / max_value`` as float32 (one allocation; exact division, not a reciprocal).

    Args:
        x: raw pixels (any integer or float dtype).
        max_value: the largest possible raw value (255 for bytes, 16 for UCI digits).

    Returns:
        A new float32 array of the same shape with values in [0, 1].
    """
    return np.divide(x, np.float32(max_value), dtype=np.float32)


def stratified_split(
    y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into train and test so every class keeps its share.

    For each class ``c`` with ``n_c`` samples, ``round(test_fraction * n_c)`` of them, drawn by a
    NumPy ``default_rng(seed)`` permutation, go to the test set; the rest to train. Classes are
    visited in increasing label order, then each side is shuffled once with the same generator,
    so the result depends only on ``y``, ``test_fraction`` and ``seed``.

    Args:
        y: integer labels.
        test_fraction: share of each class held out, in (0, 1).
        seed: the split's seed.

    Returns:
        ``(train_idx, test_idx)``, int64 index arrays into ``y``, disjoint, covering all of it.

    Raises:
        GlassnetError: if ``test_fraction`` is not strictly between 0 and 1.

    Shapes:
        y: ``(N,)``; train_idx: ``(N - N_test,)``; test_idx: ``(N_test,)``.
    """
    if not 0.0 < test_fraction < 1.0:
        raise GlassnetError(
            f"stratified_split: test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    train_parts: list[np.ndarray] = []
    test_parts: list[np.ndarray] = []
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_test = int(round(test_fraction * idx.size))
        test_parts.append(idx[:n_test])
        train_parts.append(idx[n_test:])
    train_idx = rng.permutation(np.concatenate(train_parts)).astype(np.int64)
    test_idx = rng.permutation(np.concatenate(test_parts)).astype(np.int64)
    return train_idx, test_idx
