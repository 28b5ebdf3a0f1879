"""The images an explainer page runs through the model: a PNG, dataset images or noise.

An image of another height or width than the model's is resized by area averaging (each output
pixel is the mean of the input area it covers, with fractional overlaps: a box filter that
neither aliases when shrinking nor invents detail when enlarging; the aspect ratio follows the
model's), and the page's input note says so. A colour image is converted to grayscale when the
model takes one channel; other channel mismatches are errors naming both shapes.
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


def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """The (n_out, n_in) matrix of area resampling along one axis.

    Output pixel o covers input coordinates [o·s, (o + 1)·s) with s = n_in / n_out; its weight
    on input pixel i is the overlap of that interval with [i, i + 1), divided by s, so every
    row sums to 1.

    Shapes:
        -> (n_out, n_in).
    """
    s = n_in / n_out
    lo = np.arange(n_out)[:, None] * s
    i = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(lo + s, i + 1) - np.maximum(lo, i), 0, None)
    return overlap / s


def resize_area(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize an HWC image by area averaging (see :func:`area_weights`), in float64.

    Shapes:
        img (H, W, C) -> (height, width, C).
    """
    rows = area_weights(img.shape[0], height)
    cols = area_weights(img.shape[1], width)
    return np.einsum("oh,hwc,pw->opc", rows, img.astype(np.float64), cols)


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
    target = shape[:2] if len(shape) == 3 else None
    if target is not None and img.shape[:2] != target:
        notes.insert(0, f"resized from {img.shape[0]}×{img.shape[1]} to {target[0]}×{target[1]} "
                        "by area averaging")
        img = resize_area(img, *target)
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


def example_inputs(shape: tuple[int, ...], *, data: str | None = None, seed: int = 0,
                   count: int = 4) -> list[InputChoice]:
    """The inputs a page offers: the first test image of each class of ``data``, else noise.

    Without ``data``, a model taking 28×28×1 images gets ``mnist-5k``'s; any other model
    ``count`` seeded random inputs (seeds ``seed + 1`` ... so none repeats the default input).

    Raises:
        GlassnetError: for an unknown dataset or images the model cannot take.
    """
    from glassnet import data as datasets

    name = data or (DEFAULT_DATA if shape == MNIST_SHAPE else None)
    if name is None:
        return [random_input(shape, seed + k) for k in range(1, count + 1)]
    ds = datasets.load(name, progress=False)
    names = tuple(str(c) for c in ds.class_names)
    labels = np.asarray(ds.y_test)
    out = []
    for label in range(len(names)):
        hits = np.flatnonzero(labels == label)
        if hits.size:
            index = int(hits[0])
            x = _fit(np.asarray(ds.x_test[index], dtype=np.float32), shape, f"{name} images")
            out.append(InputChoice(x, f"{name} test image #{index} (true class {names[label]})",
                                   label, names))
    return out


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
        GlassnetError: for ``--input`` together with ``--index``, or any error of the reader
            used. (``--input`` with ``--data`` is fine: the data then fits the model and gives
            the page's example inputs.)
    """
    if image is not None and index is not None:
        raise GlassnetError("--input cannot be combined with --index; give one or the other")
    if image is not None:
        return read_image(image, shape)
    if data is not None or index is not None:
        return dataset_image(data or DEFAULT_DATA, index or 0, shape)
    if shape == MNIST_SHAPE:
        return dataset_image(DEFAULT_DATA, 0, shape)
    return random_input(shape, seed)
