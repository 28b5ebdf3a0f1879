"""normalize, one_hot, the batching iterator and the CIFAR augmentations."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet.data import batches, normalize, one_hot, random_crop, random_flip
from glassnet.errors import GlassnetError, ShapeError


def test_normalize_scalar_and_per_channel() -> None:
    x = np.arange(24, dtype=np.float32).reshape(2, 2, 2, 3)
    np.testing.assert_allclose(normalize(x, 0.5, 2.0), (x - 0.5) / 2.0)
    out = normalize(x, [1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out[1, 0, 1], [(x[1, 0, 1, c] - m) / s for c, (m, s)
                                              in enumerate([(1, 1), (2, 2), (3, 4)])])


def test_normalize_keeps_float64_and_promotes_ints() -> None:
    assert normalize(np.ones((1, 1, 1, 1)), 0.0, 1.0).dtype == np.float64
    assert normalize(np.ones((1, 1, 1, 1), np.uint8), 0.0, 1.0).dtype == np.float32


def test_normalize_errors() -> None:
    x = np.zeros((1, 2, 2, 3), np.float32)
    with pytest.raises(GlassnetError, match=r"normalize: mean has 2 values, expected 1 or C=3"):
        normalize(x, [0.0, 0.0], 1.0)
    with pytest.raises(GlassnetError, match=r"normalize: std must be > 0, got \[1.0, 0.0, 1.0\]"):
        normalize(x, 0.0, [1.0, 0.0, 1.0])


def test_one_hot() -> None:
    out = one_hot(np.array([2, 0, 1]), 4)
    np.testing.assert_array_equal(out, [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]])
    assert out.dtype == np.float32
    assert one_hot(np.array([], np.int64), 3).shape == (0, 3)


def test_one_hot_errors() -> None:
    with pytest.raises(GlassnetError, match=r"labels must be in \[0, 3\), got \[0, 3\]"):
        one_hot(np.array([0, 3]), 3)
    with pytest.raises(GlassnetError, match=r"y must be 1-D integer labels, got float64"):
        one_hot(np.array([0.0, 1.0]), 3)


def test_batches_in_order_are_views() -> None:
    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    it = batches(x, y, 4)
    got = list(it)
    assert len(it) == 3 and [len(b) for b, _ in got] == [4, 4, 2]
    assert all(np.shares_memory(b, x) for b, _ in got)
    np.testing.assert_array_equal(np.concatenate([b for _, b in got]), y)
    assert len(batches(x, y, 4, drop_last=True)) == 2
    assert [len(b) for b, _ in batches(x, y, 4, drop_last=True)] == [4, 4]


def test_batches_shuffle_one_permutation_per_epoch() -> None:
    x, y = np.arange(23) * 10, np.arange(23)
    it = batches(x, y, 5, shuffle=True, seed=7)
    epochs = []
    for _ in range(3):
        pairs = list(it)
        for xb, yb in pairs:
            np.testing.assert_array_equal(xb, yb * 10)  # x and y stay aligned
        order = np.concatenate([yb for _, yb in pairs])
        assert sorted(order.tolist()) == list(range(23))  # every sample once per epoch
        epochs.append(order)
    assert not np.array_equal(epochs[0], epochs[1])  # a new order each epoch
    replay = batches(x, y, 5, shuffle=True, rng=np.random.default_rng(7))
    for want in epochs:  # same seed -> same sequence of epochs
        np.testing.assert_array_equal(np.concatenate([yb for _, yb in replay]), want)


def test_batches_drop_last_with_shuffle() -> None:
    it = batches(np.arange(10), np.arange(10), 3, shuffle=True, seed=0, drop_last=True)
    assert [len(b) for b, _ in it] == [3, 3, 3]


def test_batches_errors() -> None:
    x = np.zeros(4)
    with pytest.raises(ShapeError, match=r"x has 4 samples but y has 3"):
        batches(x, np.zeros(3), 2)
    with pytest.raises(GlassnetError, match=r"batch_size must be an int >= 1, got 0"):
        batches(x, x, 0)
    with pytest.raises(GlassnetError, match=r"give seed= or rng=, not both"):
        batches(x, x, 2, shuffle=True, seed=1, rng=np.random.default_rng(1))
    with pytest.raises(GlassnetError, match=r"shuffle=True needs seed= or rng="):
        batches(x, x, 2, shuffle=True)


def test_random_crop_is_a_window_of_the_padded_image() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((6, 5, 4, 2)).astype(np.float32)
    out = random_crop(x, 2, np.random.default_rng(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    padded = np.zeros((6, 9, 8, 2), np.float32)
    padded[:, 2:7, 2:6] = x
    for n in range(6):
        windows = [padded[n, dy:dy + 5, dx:dx + 4] for dy in range(5) for dx in range(5)]
        assert any(np.array_equal(out[n], w) for w in windows)
    np.testing.assert_array_equal(out, random_crop(x, 2, np.random.default_rng(1)))
    np.testing.assert_array_equal(random_crop(x, 0, rng), x)


def test_random_crop_offsets_cover_the_range() -> None:
    x = np.ones((400, 3, 3, 1))
    out = random_crop(x, 1, np.random.default_rng(0))
    # Zero rows/columns show the offset; all 9 (dy, dx) combinations should appear.
    seen = {(int(o[0].sum() == 0) - int(o[-1].sum() == 0),
             int(o[:, 0].sum() == 0) - int(o[:, -1].sum() == 0)) for o in out[..., 0]}
    assert seen == {(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)}


def test_random_flip() -> None:
    x = np.random.default_rng(0).random((50, 3, 4, 2))
    out = random_flip(x, np.random.default_rng(3))
    flipped = [np.array_equal(o, xi[:, ::-1]) for o, xi in zip(out, x, strict=True)]
    kept = [np.array_equal(o, xi) for o, xi in zip(out, x, strict=True)]
    assert all(f != k for f, k in zip(flipped, kept, strict=True))
    assert 10 < sum(flipped) < 40
    np.testing.assert_array_equal(random_flip(x, np.random.default_rng(0), p=0.0), x)
    np.testing.assert_array_equal(random_flip(x, np.random.default_rng(0), p=1.0), x[:, :, ::-1])


def test_augmentation_errors() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ShapeError, match=r"random_crop: x must be NHWC \(4-D\), got shape \[3"):
        random_crop(np.zeros((3, 3)), 1, rng)
    with pytest.raises(GlassnetError, match=r"padding must be >= 0, got -1"):
        random_crop(np.zeros((1, 3, 3, 1)), -1, rng)
    with pytest.raises(ShapeError, match=r"random_flip: x must be NHWC"):
        random_flip(np.zeros(3), rng)
    with pytest.raises(GlassnetError, match=r"p must be in \[0, 1\], got 1.5"):
        random_flip(np.zeros((1, 2, 2, 1)), rng, p=1.5)
