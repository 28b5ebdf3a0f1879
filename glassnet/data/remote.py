"""Load the full public datasets (MNIST, Fashion-MNIST, CIFAR-10) from the data directory.

Where files are looked for, under the data root (``data_root``), in order:

* ``mnist``: ``mnist/`` then torchvision's ``MNIST/raw/``;
  ``fashion-mnist``: ``fashion-mnist/`` then ``FashionMNIST/raw/``. In each folder the published
  ``*-ubyte.gz`` file is used (MD5-checked); failing that, the same name without ``.gz``
  (accepted unverified — the published MD5s are of the compressed files — but still checked
  structurally: magic number, byte count, matching image and label counts).
* ``cifar10``: ``cifar10/cifar-10-batches-py/`` then ``cifar-10-batches-py/`` (torchvision's
  layout); each batch MD5-checked. Failing that, ``cifar-10-python.tar.gz`` in ``cifar10/`` or the
  root is verified and its batches extracted beside it.

A missing file is downloaded into the first folder only when ``download=True``. The official
train/test split is used as published.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from glassnet.data import cifar, idx
from glassnet.data.dataset import Dataset, to_unit_float
from glassnet.data.download import download as fetch
from glassnet.data.download import verify
from glassnet.data.registry import DatasetSpec, RemoteFile
from glassnet.errors import GlassnetError


def load_remote(
    spec: DatasetSpec,
    root: Path,
    *,
    download: bool = False,
    mirrors: Sequence[str] | None = None,
    progress: bool = True,
) -> Dataset:
    """Load one remote dataset from ``root``, downloading missing files if allowed.

    Args:
        spec: the dataset's registry entry.
        root: the data root (see ``download.data_root``).
        download: fetch missing files from the mirrors.
        mirrors: base URLs to use instead of ``spec.mirrors``.
        progress: show download progress bars on stderr.

    Returns:
        The ``Dataset``, images NHWC float32 in [0, 1], labels int64.

    Raises:
        GlassnetError: if a file is missing and ``download`` is False (the message lists where
            it was looked for), or a file is malformed (see ``idx.read_idx``, ``cifar.read_batch``).
        ChecksumError: if a file's MD5 is not the published one.
        DownloadError: if a missing file could not be fetched.
    """
    urls = tuple(mirrors) if mirrors is not None else spec.mirrors
    if spec.format == "idx":
        paths = {role: _idx_file(spec, root, role, download, urls, progress)
                 for role in ("train_images", "train_labels", "test_images", "test_labels")}
        x_train, y_train = _idx_pair(spec, paths["train_images"], paths["train_labels"])
        x_test, y_test = _idx_pair(spec, paths["test_images"], paths["test_labels"])
    else:
        folder = _cifar_folder(spec, root, download, urls, progress)
        batches = [folder / m.name for m in spec.members]
        x_train, y_train = cifar.read_batches(batches[:-1])
        x_test, y_test = cifar.read_batches(batches[-1:])
        _check_labels(spec, folder, y_train)
        _check_labels(spec, folder, y_test)
    return Dataset(
        name=spec.name,
        x_train=to_unit_float(x_train, 255.0), y_train=y_train,
        x_test=to_unit_float(x_test, 255.0), y_test=y_test,
        class_names=spec.class_names,
    )


def _idx_file(
    spec: DatasetSpec, root: Path, role: str, download: bool, urls: Sequence[str], progress: bool
) -> Path:
    """Find (verify) or download one IDX file of ``spec``."""
    file = spec.files[role]
    for sub in spec.subdirs:
        packed = root / sub / file.name
        if packed.is_file():
            verify(packed, file.md5)
            return packed
        plain = packed.with_name(file.name.removesuffix(".gz"))
        if plain.is_file():
            return plain
    if not download:
        raise _missing(spec, root, file)
    return fetch(file, root / spec.subdirs[0], urls, progress=progress)


def _idx_pair(spec: DatasetSpec, images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an image file and its label file; check they agree with each other and ``spec``."""
    x = idx.read_images(images)
    y = idx.read_labels(labels)
    h, w, c = spec.shape
    if x.shape[1:] != (h, w):
        raise GlassnetError(
            f"{spec.name}: {images} holds {x.shape[1]}x{x.shape[2]} images, expected {h}x{w}")
    if x.shape[0] != y.shape[0]:
        raise GlassnetError(
            f"{spec.name}: {images} has {x.shape[0]} images but {labels} has {y.shape[0]} labels")
    _check_labels(spec, labels, y)
    return x.reshape(-1, h, w, c), y


def _cifar_folder(
    spec: DatasetSpec, root: Path, download: bool, urls: Sequence[str], progress: bool
) -> Path:
    """Find (verify) the batch folder, or extract it from a found or downloaded archive."""
    for sub in spec.subdirs:
        folder = root / sub / cifar.BATCH_DIR
        if folder.is_dir():
            return _verified_batches(spec, folder)
    archive_file = spec.files["archive"]
    for sub in spec.subdirs:
        archive = root / sub / archive_file.name
        if archive.is_file():
            verify(archive, archive_file.md5)
            break
    else:
        if not download:
            raise _missing(spec, root, archive_file)
        archive = fetch(archive_file, root / spec.subdirs[0], urls, progress=progress)
    names = [m.name for m in spec.members]
    return _verified_batches(spec, cifar.extract_batches(archive, archive.parent, names))


def _verified_batches(spec: DatasetSpec, folder: Path) -> Path:
    """Check every batch of ``spec`` is in ``folder`` with its published MD5."""
    for member in spec.members:
        path = folder / member.name
        if not path.is_file():
            raise GlassnetError(
                f"{spec.name}: {folder} has no {member.name}; delete the folder and load again "
                f"(with download=True if {spec.files['archive'].name} is not beside it)")
        verify(path, member.md5)
    return folder


def _check_labels(spec: DatasetSpec, path: Path, y: np.ndarray) -> None:
    """Reject labels outside ``[0, num_classes)``."""
    if y.size and (y.min() < 0 or y.max() >= len(spec.class_names)):
        raise GlassnetError(
            f"{spec.name}: {path} has labels in [{y.min()}, {y.max()}], "
            f"expected [0, {len(spec.class_names) - 1}]")


def _missing(spec: DatasetSpec, root: Path, file: RemoteFile) -> GlassnetError:
    """The error for a file not found where ``spec`` looks for it."""
    places = ", ".join(str(root / sub) for sub in spec.subdirs)
    source = f" from {spec.mirrors[0]}" if spec.mirrors else ""
    return GlassnetError(
        f"{spec.name}: {file.name} not found in {places}; load with download=True to fetch it"
        f"{source}, or set the data directory (data_dir= or $GLASSNET_DATA)")
