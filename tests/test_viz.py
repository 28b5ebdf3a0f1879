"""glassnet.viz: every picture is a readable PNG written atomically; confusion counts are right;
bad inputs are refused with messages that name the argument."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
import matplotlib.figure  # noqa: E402
import matplotlib.image  # noqa: E402

from glassnet import viz  # noqa: E402
from glassnet.errors import GlassnetError, ShapeError  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
rng = np.random.default_rng(0)

HISTORY = {
    "loss": [2.3, 1.4, 1.0, 0.8],
    "val_loss": [2.0, 1.3, 1.1, 1.2],
    "accuracy": [0.2, 0.5, 0.7, 0.8],
    "val_accuracy": [0.3, 0.5, 0.6, 0.58],
}
Y_TRUE = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2, 0])
Y_PRED = np.array([0, 1, 1, 1, 2, 2, 2, 0, 2, 0])


def read_png(path: Path) -> np.ndarray:
    """Check the PNG signature, decode with matplotlib, return the [H, W, 3|4] pixels."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[2] in (3, 4)
    assert pixels.std() > 0  # something was drawn
    return pixels


# Each function with small valid inputs; the minimum (width, height) it should produce in pixels.
PLOTS: dict[str, tuple[Callable[[Path], Path], tuple[int, int]]] = {
    "history": (lambda p: viz.plot_history(HISTORY, p), (700, 300)),
    "confusion": (lambda p: viz.plot_confusion_matrix(Y_TRUE, Y_PRED, p), (300, 300)),
    "confusion_normalized": (
        lambda p: viz.plot_confusion_matrix(Y_TRUE, Y_PRED, p, ["cat", "dog", "frog"], True),
        (300, 300),
    ),
    "filters_rgb": (lambda p: viz.plot_filters(rng.normal(size=(5, 5, 3, 8)), p), (150, 150)),
    "filters_grey": (lambda p: viz.plot_filters(rng.normal(size=(3, 3, 8, 4)), p), (100, 100)),
    "feature_maps": (
        lambda p: viz.plot_feature_maps(
            [("conv1", rng.random((12, 12, 4))), ("pool1", rng.random((6, 6, 4)))], p
        ),
        (300, 150),
    ),
    "samples": (
        lambda p: viz.plot_samples(rng.random((6, 8, 8, 3)), Y_TRUE[:6], Y_PRED[:6], p),
        (200, 200),
    ),
}


@pytest.mark.parametrize("name", PLOTS)
def test_each_plot_writes_a_readable_png_and_nothing_else(tmp_path, name):
    plot, (min_w, min_h) = PLOTS[name]
    (tmp_path / "fig.png").write_bytes(b"stale")  # an existing file is replaced
    out = plot(str(tmp_path / "fig.png"))  # a str path is accepted ...
    assert out == tmp_path / "fig.png" and isinstance(out, Path)  # ... a Path comes back
    h, w, _ = read_png(out).shape
    assert min_w <= w <= 4000 and min_h <= h <= 4000
    assert os.listdir(tmp_path) == ["fig.png"]  # no temporary left behind


@pytest.mark.parametrize("name", PLOTS)
def test_a_failure_while_rendering_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path, monkeypatch, name
):
    target = tmp_path / "fig.png"
    target.write_bytes(b"old picture")

    def savefig_then_crash(self, f, **kwargs):
        f.write(PNG_SIGNATURE + b"half a picture")
        raise RuntimeError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig_then_crash)
    with pytest.raises(RuntimeError, match="disk full"):
        PLOTS[name][0](target)
    assert target.read_bytes() == b"old picture"
    assert os.listdir(tmp_path) == ["fig.png"]


def test_an_unwritable_target_raises_and_leaves_no_partial_file(tmp_path):
    # A directory where the file should go cannot be replaced by a file (works even as root,
    # where chmod-based read-only directories do not stop writes).
    (tmp_path / "fig.png").mkdir()
    with pytest.raises(IsADirectoryError):
        viz.plot_filters(np.ones((1, 1, 1, 1)), tmp_path / "fig.png")
    assert os.listdir(tmp_path) == ["fig.png"] and (tmp_path / "fig.png").is_dir()


def test_a_missing_directory_is_refused(tmp_path):
    with pytest.raises(GlassnetError, match=r"directory '.*nowhere' does not exist"):
        viz.plot_history(HISTORY, tmp_path / "nowhere" / "fig.png")
    assert os.listdir(tmp_path) == []


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch):
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, module, None)  # None makes the import raise
    with pytest.raises(GlassnetError, match=r'pip install "glassnet\[plot\]"'):
        viz.plot_history(HISTORY, tmp_path / "fig.png")


def test_importing_viz_does_not_import_matplotlib():
    code = "import sys, glassnet.viz; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


# --- confusion matrix numbers ---------------------------------------------------------------


def test_confusion_matrix_matches_a_hand_count():
    # true 0: predicted 0, 1, 0        -> [2, 1, 0]
    # true 1: predicted 1, 1, 2        -> [0, 2, 1]
    # true 2: predicted 2, 2, 0, 2     -> [1, 0, 3]
    cm = viz.confusion_matrix(Y_TRUE, Y_PRED)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 2, 1], [1, 0, 3]])
    assert cm.dtype == np.int64
    assert np.trace(cm) == np.sum(Y_TRUE == Y_PRED) == 7
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(Y_TRUE))


def test_confusion_matrix_takes_the_argmax_of_one_hot_and_scores():
    one_hot = np.eye(3)[Y_TRUE]
    scores = np.eye(3)[Y_PRED] * 0.8 + 0.1  # probabilities, argmax = Y_PRED
    np.testing.assert_array_equal(
        viz.confusion_matrix(one_hot, scores), viz.confusion_matrix(Y_TRUE, Y_PRED)
    )


def test_confusion_matrix_num_classes_adds_empty_rows_and_accepts_whole_floats():
    cm = viz.confusion_matrix([0.0, 1.0], [1, 1], num_classes=4)
    np.testing.assert_array_equal(cm, [[0, 1, 0, 0], [0, 1, 0, 0], [0] * 4, [0] * 4])


@pytest.mark.parametrize(
    ("y_true", "y_pred", "kwargs", "error", "match"),
    [
        ([0, 1, 2], [0, 1], {}, ShapeError, r"y_true has 3 examples but y_pred has 2"),
        ([0, 1, 5], [0, 1, 1], {"num_classes": 3}, GlassnetError, r"num_classes=3 .* up to 5"),
        ([0, -1], [0, 1], {}, GlassnetError, r"y_true has a negative class index -1"),
        ([0, 1], [0.5, 1], {}, GlassnetError, r"y_pred must hold whole class indices"),
        (np.zeros((2, 2, 2)), [0, 1], {}, ShapeError, r"y_true must .* shape \[2, 2, 2\]"),
    ],
)
def test_confusion_matrix_bad_labels(y_true, y_pred, kwargs, error, match):
    with pytest.raises(error, match=match):
        viz.confusion_matrix(y_true, y_pred, **kwargs)


def test_plot_confusion_matrix_needs_a_name_per_class_and_some_examples(tmp_path):
    with pytest.raises(GlassnetError, match=r"class_names has 2 names but the labels go up to 2"):
        viz.plot_confusion_matrix(Y_TRUE, Y_PRED, tmp_path / "cm.png", class_names=["a", "b"])
    with pytest.raises(GlassnetError, match=r"y_true and y_pred are empty"):
        viz.plot_confusion_matrix([], [], tmp_path / "cm.png")
    assert os.listdir(tmp_path) == []


def test_plot_confusion_matrix_with_many_classes_skips_cell_text(tmp_path):
    y = rng.integers(0, 31, size=100)
    read_png(viz.plot_confusion_matrix(y, np.roll(y, 1), tmp_path / "cm.png"))


# --- history ---------------------------------------------------------------------------------


def test_plot_history_tolerates_missing_and_extra_keys(tmp_path):
    one = read_png(viz.plot_history({"loss": [1.0, 0.5], "lr": [0.1, 0.1]}, tmp_path / "a.png"))
    two = read_png(viz.plot_history(HISTORY, tmp_path / "b.png"))
    assert one.shape[1] < two.shape[1]  # one panel is narrower than two
    # Validation only, an empty list, and a series of NaNs (no best epoch) are all drawable.
    viz.plot_history({"val_accuracy": [0.1, 0.2], "loss": [], "val_loss": [float("nan")]},
                     tmp_path / "c.png")


@pytest.mark.parametrize(
    ("history", "error", "match"),
    [
        ({"lr": [0.1]}, GlassnetError, r"no values for loss.*received keys \['lr'\]"),
        ({"loss": []}, GlassnetError, r"no values for loss"),
        ({"loss": [[1.0, 2.0]]}, ShapeError, r"history\['loss'\] must be one number per epoch"),
        ({"accuracy": ["high"]}, GlassnetError, r"history\['accuracy'\] must hold numbers"),
    ],
)
def test_plot_history_bad_input(tmp_path, history, error, match):
    with pytest.raises(error, match=match):
        viz.plot_history(history, tmp_path / "h.png")


# --- filters, feature maps, samples ----------------------------------------------------------


def test_plot_filters_caps_the_grid_and_survives_a_constant_filter(tmp_path):
    w = rng.normal(size=(3, 3, 3, 64))
    w[:, :, :, 0] = 0.25  # a constant filter must not divide by zero
    small = read_png(viz.plot_filters(w, tmp_path / "a.png", max_filters=4))
    large = read_png(viz.plot_filters(w, tmp_path / "b.png"))
    assert small.shape[1] < large.shape[1]


@pytest.mark.parametrize(
    ("w", "kwargs", "error", "match"),
    [
        (np.zeros((3, 3, 8)), {}, ShapeError, r"\[KH, KW, C_in, F\]; received shape \[3, 3, 8\]"),
        (np.zeros((3, 3, 1, 0)), {}, ShapeError, r"received shape \[3, 3, 1, 0\]"),
        (np.zeros((3, 3, 1, 2)), {"max_filters": 0}, GlassnetError, r"max_filters must be .* 0"),
    ],
)
def test_plot_filters_bad_input(tmp_path, w, kwargs, error, match):
    with pytest.raises(error, match=match):
        viz.plot_filters(w, tmp_path / "f.png", **kwargs)


def test_plot_feature_maps_accepts_a_batch_of_one_and_caps_channels(tmp_path):
    maps = [("conv1", rng.random((1, 8, 8, 40))), ("conv2", rng.random((4, 4, 2)))]
    read_png(viz.plot_feature_maps(maps, tmp_path / "fm.png", max_channels=6))


@pytest.mark.parametrize(
    ("maps", "kwargs", "error", "match"),
    [
        ([("dense", np.zeros((1, 10)))], {}, ShapeError, r"layer 'dense' map must be \[H, W, C\]"),
        ([("conv", np.zeros((2, 4, 4, 3)))], {}, ShapeError, r"received shape \[2, 4, 4, 3\]"),
        ([], {}, GlassnetError, r"maps is empty"),
        ([("c", np.zeros((2, 2, 1)))], {"max_channels": -1}, GlassnetError, r"max_channels"),
    ],
)
def test_plot_feature_maps_bad_input(tmp_path, maps, kwargs, error, match):
    with pytest.raises(error, match=match):
        viz.plot_feature_maps(maps, tmp_path / "fm.png", **kwargs)


def test_plot_samples_grey_bytes_without_predictions_and_standardised_rgb(tmp_path):
    x = rng.integers(0, 256, size=(5, 10, 10, 1), dtype=np.uint8)
    read_png(viz.plot_samples(x, [0, 1, 2, 3, 4], None, tmp_path / "a.png", n=3))
    x = rng.normal(size=(4, 10, 10, 3))
    names = ["cat", "dog"]
    read_png(viz.plot_samples(x, np.eye(2)[[0, 1, 1, 0]], [0, 0, 1, 1], tmp_path / "b.png",
                              class_names=names))


@pytest.mark.parametrize(
    ("x", "y_pred", "kwargs", "error", "match"),
    [
        (np.zeros((3, 4, 4, 2)), None, {}, ShapeError, r"C = 1 or 3 .* \[3, 4, 4, 2\]"),
        (np.zeros((3, 4, 4)), None, {}, ShapeError, r"received shape \[3, 4, 4\]"),
        (np.zeros((3, 4, 4, 1)), [0, 1], {}, ShapeError, r"x has 3 images but y_pred has 2"),
        (np.zeros((3, 4, 4, 1)), None, {"class_names": ["a"]}, GlassnetError,
         r"y_true has class 2 but class_names has 1 names"),
        (np.zeros((3, 4, 4, 1)), None, {"n": 0}, GlassnetError, r"n must be a positive integer"),
    ],
)
def test_plot_samples_bad_input(tmp_path, x, y_pred, kwargs, error, match):
    with pytest.raises(error, match=match):
        viz.plot_samples(x, [0, 1, 2], y_pred, tmp_path / "s.png", **kwargs)


def test_mosaic_places_each_tile_below_its_label_gap():
    from glassnet.viz import _mosaic

    tiles = np.stack([np.full((2, 3, 3), v) for v in (0.0, 0.25, 0.5)])  # three 2×3 tiles
    m = _mosaic.tile(tiles, cols=2, tile_inches=0.3, label_inches=0.2)  # 0.1 in per pixel
    assert m.unit == pytest.approx(0.1)
    # gaps: x 0.08 in -> 1 px (at least 1), y 0.2 in -> 2 px; 2 rows of (2 + 2) + 1, 2·3 + 1
    assert m.canvas.shape == (9, 7, 3)
    np.testing.assert_array_equal(m.canvas[2:4, 0:3], 0.0)
    np.testing.assert_array_equal(m.canvas[2:4, 4:7], 0.25)
    np.testing.assert_array_equal(m.canvas[6:8, 0:3], 0.5)
    assert np.all(m.canvas[6:8, 4:7] == 1.0) and np.all(m.canvas[:2] == 1.0)  # white gaps
    assert m.tops == [(1.0, 1.5), (5.0, 1.5), (1.0, 5.5)]
