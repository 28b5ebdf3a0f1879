"""The one image an explainer page runs through the model: a PNG, a dataset image or noise.

glassnet never resizes: an image must already have the model's height and width. A colour
image is converted to grayscale when the model takes one channel; every other mismatch is an
error that names both shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glassnet.errors import GlassnetError

DEFAULT_DATA = "mnist-5k"
MNIST_SHAPE = (28, 28, 1)
# ITU-R BT.601 luma weights: the usual RGB -> gray conversion.
LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class InputChoice:
    """The chosen input and where it came from.

    Attributes:
        x: one sample in the model's input shape, float32 (HWC, or (F,) for flat models).
        note: one sentence for the page saying what the input is.
        label: the true class when known (dataset images), else None.
        class_names: names of the classes when known, else None.
    """

    x: np.ndarray
    note: str
    label: int | None = None
    class_names: tuple[str, ...] | None = None


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape)


def _fit(x: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Return the HWC image ``x`` in the model's input ``shape`` (flattened for flat models).

    Raises:
        GlassnetError: naming both shapes when they do not match.
    """
    if x.shape == shape:
        return x
    if len(shape) == 1 and x.size == shape[0]:
        return x.reshape(shape)
    raise GlassnetError(
        f"{what} has shape {_shape_text(x.shape)} but the model expects "
        f"{_shape_text(shape)} (glassnet does not resize images)"
    )


def read_image(path: str | Path, shape: tuple[int, ...]) -> InputChoice:
    """Read a PNG (or any format matplotlib reads) as the model's input.

    Values are scaled to [0, 1]; RGB(A) becomes gray when the model has one channel (alpha is
    dropped for three).

    Raises:
        GlassnetError: if the file is missing or unreadable, its size differs from the
            model's, or a grayscale image meets a 3-channel model.
    """
    import matplotlib.image as mpimg

    p = Path(path)
    if not p.is_file():
        raise GlassnetError(f"--input {str(p)!r}: no such file")
    try:
        img = np.asarray(mpimg.imread(p))
    except (OSError, ValueError, SyntaxError) as exc:
        raise GlassnetError(f"--input {str(p)!r}: cannot read the image ({exc})") from exc
    if np.issubdtype(img.dtype, np.integer):
        img = img / np.iinfo(img.dtype).max
    img = img.astype(np.float64)
    channels = shape[-1] if len(shape) == 3 else 1
    notes = []
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 4 and channels != 4:
        img, notes = img[:, :, :3], ["alpha dropped"]
    if channels == 1 and img.shape[2] == 3:
        img, notes = (img @ LUMA)[:, :, None], ["converted to grayscale"]
    if len(shape) == 3 and img.shape[2] != channels:
        raise GlassnetError(
            f"--input {str(p)!r} has {img.shape[2]} channel(s) but the model expects "
            f"{channels} (only colour -> grayscale is converted)"
        )
    x = _fit(img.astype(np.float32), shape, f"--input {str(p)!r}")
    extra = f" ({', '.join(notes)})" if notes else ""
    return InputChoice(x, f"the image {p.name}{extra}, values scaled to [0, 1]")


def dataset_image(name: str, index: int, shape: tuple[int, ...]) -> InputChoice:
    """Return test image ``index`` of dataset ``name`` (the held-out split).

    Raises:
        GlassnetError: for an unknown dataset, an index out of range or a shape mismatch.
    """
    from glassnet import data

    ds = data.load(name, progress=False)
    n = len(ds.x_test)
    if not 0 <= index < n:
        raise GlassnetError(f"--index {index} is out of range; {name} has {n} test images")
    x = _fit(np.asarray(ds.x_test[index], dtype=np.float32), shape, f"{name} images")
    label = int(ds.y_test[index])
    names = tuple(str(c) for c in ds.class_names)
    return InputChoice(
        x, f"{name} test image #{index} (true class {names[label]})", label, names
    )


def random_input(shape: tuple[int, ...], seed: int = 0) -> InputChoice:
    """A seeded uniform [0, 1) input, for models that take no dataset image by default."""
    rng = np.random.default_rng(seed)
    x = rng.random(shape).astype(np.float32)
    return InputChoice(
        x, f"a random input (uniform in [0, 1), seed {seed}) of shape {_shape_text(shape)}: "
        "give --input IMAGE.png or --data NAME for a real image"
    )


def choose_input(
    shape: tuple[int, ...], *, image: str | None = None, data: str | None = None,
    index: int | None = None, seed: int = 0,
) -> InputChoice:
    """Pick the input the command line asks for, or the default one.

    The default is ``mnist-5k`` test image 0 when the model takes 28×28×1 images, else a
    seeded random input.

    Raises:
        GlassnetError: for ``--input`` together with ``--data``/``--index``, or any error of
            the reader used.
    """
    if image is not None and (data is not None or index is not None):
        raise GlassnetError("--input cannot be combined with --data/--index; give one or the other")
    if image is not None:
        return read_image(image, shape)
    if data is not None or index is not None:
        return dataset_image(data or DEFAULT_DATA, index or 0, shape)
    if shape == MNIST_SHAPE:
        return dataset_image(DEFAULT_DATA, 0, shape)
    return random_input(shape, seed)
