"""Initializers: fans, distribution statistics of large draws, exact bounds, seeds, registry."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from glassnet import init
from glassnet.errors import GlassnetError

CONV = (5, 5, 64, 128)  # 204,800 draws: fan_in 1600, fan_out 3200
DENSE = (784, 300)


@pytest.mark.parametrize(
    ("shape", "fans"),
    [
        ((784, 10), (784, 10)),
        ((3, 3, 16, 32), (144, 288)),
        ((11, 11, 3, 96), (363, 11616)),
        ((5, 1, 4), (5, 20)),  # 1-D conv kernel [K, C_in, C_out]
        ((7,), (7, 7)),
        ((), (1, 1)),
    ],
)
def test_compute_fans(shape: tuple[int, ...], fans: tuple[int, int]) -> None:
    assert init.compute_fans(shape) == fans


def _limit_and_std(name: str, shape: tuple[int, ...]) -> tuple[float | None, float]:
    fan_in, fan_out = init.compute_fans(shape)
    n = {"glorot": (fan_in + fan_out) / 2, "he": fan_in / 2, "lecun": fan_in}[name.split("_")[0]]
    std = math.sqrt(1.0 / n)
    return (math.sqrt(3.0) * std if name.endswith("uniform") else None), std


def _check_moments(w: np.ndarray, mean: float, std: float, kurtosis: float) -> None:
    """Sample mean and std within 5 standard errors of the expected values."""
    x, n = w.astype(np.float64).ravel(), w.size
    assert abs(x.mean() - mean) <= 5 * std / math.sqrt(n)
    # Standard error of the sample std: std * sqrt((kurtosis - 1) / (4 n)).
    assert abs(x.std() - std) <= 5 * std * math.sqrt((kurtosis - 1) / (4 * n))


NAMES = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal"]
NAMES += ["lecun_uniform", "lecun_normal"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [CONV, DENSE])
@pytest.mark.parametrize("name", NAMES)
def test_variance_scaling_statistics(name: str, shape: tuple[int, ...], dtype: Any) -> None:
    w = init.get(name)(shape, np.random.default_rng(0), dtype=dtype)
    assert w.shape == shape and w.dtype == dtype
    limit, std = _limit_and_std(name, shape)
    if limit is not None:
        assert np.abs(w).max() <= limit  # the bound holds exactly, after rounding to dtype
        assert np.abs(w).max() >= 0.999 * limit
        _check_moments(w, 0.0, std, kurtosis=1.8)
    else:
        _check_moments(w, 0.0, std, kurtosis=3.0)


def test_documented_formulas() -> None:
    shape = (3, 3, 16, 32)  # fan_in 144, fan_out 288
    rng = np.random.default_rng(1)
    assert np.abs(init.glorot_uniform(shape, rng)).max() <= math.sqrt(6 / (144 + 288))
    assert np.abs(init.he_uniform(shape, rng)).max() <= math.sqrt(6 / 144)
    assert np.abs(init.lecun_uniform(shape, rng)).max() <= math.sqrt(3 / 144)


def test_keras_truncated_normal_option() -> None:
    w = init.variance_scaling(1.0, "fan_avg", "truncated_normal")(CONV, np.random.default_rng(2))
    std = math.sqrt(2 / (1600 + 3200))
    assert np.abs(w).max() <= 2 * std / 0.87962566103423978 * (1 + 1e-6)
    # Truncation at 2 sigma leaves kurtosis about 2.36; the variance is still 2 / (fan_in+fan_out).
    _check_moments(w, 0.0, std, kurtosis=2.4)


def test_parameterised_initializers() -> None:
    rng = np.random.default_rng(3)
    _check_moments(init.normal(1.5, 0.2)(CONV, rng), 1.5, 0.2, kurtosis=3.0)
    _check_moments(init.get("random_normal")(CONV, rng), 0.0, 0.05, kurtosis=3.0)
    u = init.get("uniform", low=-0.3, high=0.1)(CONV, rng)
    assert u.min() >= -0.3 and u.max() <= 0.1 and u.max() > 0.0999 and u.min() < -0.2999
    _check_moments(u, -0.1, 0.4 / math.sqrt(12), kurtosis=1.8)
    np.testing.assert_array_equal(
        init.get("constant", value=0.25)((2, 3), rng), np.full((2, 3), 0.25)
    )
    assert not init.zeros((4,), rng).any() and (init.ones((2, 2), rng, np.float64) == 1).all()
    assert init.zeros((4,), rng).dtype == np.float32


def test_bounds_survive_float32_rounding() -> None:
    # float32(0.1) > 0.1, so a float64 draw just below 0.1 would round past the limit.
    x = np.array([0.1 - 1e-12, -0.1 + 1e-12, 0.0])
    out = init._cast_within(x, -0.1, 0.1, np.float32)
    assert out.dtype == np.float32 and np.abs(out).max() <= 0.1 and np.abs(out).max() > 0.0999999


@pytest.mark.parametrize("name", [*NAMES, "normal", "uniform"])
def test_same_seed_same_weights(name: str) -> None:
    f = init.get(name)
    a, b = f(DENSE, np.random.default_rng(7)), f(DENSE, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, f(DENSE, np.random.default_rng(8)))


def test_get_returns_callables_unchanged() -> None:
    assert init.get(init.he_normal) is init.he_normal
    assert init.get("glorot_uniform") is init.glorot_uniform
    assert init.glorot_uniform.__name__ == "glorot_uniform"


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: init.get("xavier"),
            r"unknown initializer 'xavier'; valid names: constant, glorot_normal, glorot_uniform, "
            r"he_normal, he_uniform, lecun_normal, lecun_uniform, normal, ones",
        ),
        (lambda: init.get("zeros", value=1), r"initializer 'zeros' takes no arguments"),
        (lambda: init.get("normal", sigma=1), r"initializer 'normal': bad arguments"),
        (lambda: init.normal(std=-1), r"normal: std=-1 must be >= 0"),
        (lambda: init.uniform(1, 0), r"uniform: low=1 must be <= high=0"),
        (lambda: init.variance_scaling(1, "fan_max", "normal"), r"mode='fan_max' is not one of"),
        (lambda: init.variance_scaling(1, "fan_in", "cauchy"), r"distribution='cauchy' is not"),
        (lambda: init.variance_scaling(0, "fan_in", "normal"), r"scale=0 must be > 0"),
    ],
)
def test_errors(make: Any, match: str) -> None:
    with pytest.raises(GlassnetError, match=match):
        make()
