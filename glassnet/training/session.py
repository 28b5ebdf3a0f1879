"""What ``glassnet train``, ``evaluate`` and ``demo`` share: data, model, optimizer, runs, files.

The commands only parse, call these functions and print. Run i of :func:`train` uses seed
``seed + i`` for its weights and its batch order; the run folder gets the last run's files,
a checkpoint after every epoch and the state ``--resume`` reads (:mod:`.runstate`).
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glassnet import optim
from glassnet.errors import GlassnetError, ShapeError
from glassnet.models.api import FitHistory
from glassnet.models.graph import Model
from glassnet.training import runstate
from glassnet.training.guards import ON_DIVERGENCE
from glassnet.training.runs import RunResult, summarize_runs, write_json_atomic

LOSS = "sparse_categorical_crossentropy"


@dataclass
class TrainOptions:
    """Everything ``glassnet train`` accepts (``None`` = the optimizer's own default)."""

    model: str
    data: str
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    nesterov: bool = False
    seed: int = 0
    runs: int = 1
    out: Path | None = None
    data_dir: str | None = None
    download: bool = False
    validation_split: float = 0.0
    plots: bool = True
    limit: int | None = None
    verbose: int = 1
    on_divergence: str = "stop"


@dataclass
class RunOutcome:
    """One trained run: its model, its history and its summary row."""

    model: Model
    history: FitHistory
    result: RunResult


@dataclass
class TrainReport:
    """What :func:`train` returns: the §4 summary, the run directory and every file written."""

    summary: dict[str, Any]
    out_dir: Path
    files: list[Path]


def check_options(opts: TrainOptions) -> None:
    """Reject bad values before any work is done.

    Raises:
        GlassnetError: naming the option, the value received and what is expected.
    """
    from glassnet.data.registry import check_name

    check_name(opts.data)
    positive = {"--epochs": opts.epochs, "--batch-size": opts.batch_size, "--runs": opts.runs,
                "--limit": 1 if opts.limit is None else opts.limit}
    for name, value in positive.items():
        if value < 1:
            raise GlassnetError(f"{name} {value} is invalid; expected an integer >= 1")
    if opts.optimizer not in optim.NAMES:
        raise GlassnetError(
            f"--optimizer {opts.optimizer!r} is unknown; expected one of {', '.join(optim.NAMES)}"
        )
    if opts.lr is not None and not opts.lr > 0:
        raise GlassnetError(f"--lr {opts.lr} is invalid; expected a learning rate > 0")
    if opts.on_divergence not in ON_DIVERGENCE:
        raise GlassnetError(
            f"--on-divergence {opts.on_divergence!r} is unknown; expected one of "
            f"{', '.join(ON_DIVERGENCE)}"
        )
    if not 0 <= opts.validation_split < 1:
        raise GlassnetError(
            f"--validation-split {opts.validation_split} is invalid; expected a fraction in [0, 1)"
        )


def load_data(
    name: str, data_dir: str | None = None, download: bool = False, limit: int | None = None
) -> Any:
    """Load dataset ``name`` (its reference split); keep only the first ``limit`` train samples."""
    from glassnet import data

    ds = data.load(name, data_dir=data_dir, seed=0, download=download)
    if limit is not None and limit < len(ds.x_train):
        ds = dataclasses.replace(ds, x_train=ds.x_train[:limit], y_train=ds.y_train[:limit])
    return ds


def _shape_text(shape: Any) -> str:
    return "x".join(str(s) for s in shape)


def check_fits(model: Model, ds: Any, what: str) -> None:
    """Check that ``model`` takes ``ds``'s images and outputs one score per class.

    Raises:
        GlassnetError: naming the model, both shapes and the dataset.
    """
    if tuple(model.input_shape) != tuple(ds.input_shape):
        raise GlassnetError(
            f"{what} takes input {_shape_text(model.input_shape)} but {ds.name} images are "
            f"{_shape_text(ds.input_shape)}"
        )
    if tuple(model.output_shape) != (ds.num_classes,):
        raise GlassnetError(
            f"{what} outputs shape {_shape_text(model.output_shape)} but {ds.name} has "
            f"{ds.num_classes} classes; expected an output of {ds.num_classes}"
        )


def build_model(spec: str, ds: Any, seed: int) -> Model:
    """Return the (unbuilt) model MODEL names, for ``ds``'s input shape and classes.

    A zoo model is built for the data (the arguments its function takes among ``input_shape``,
    ``num_classes``, ``seed``); a model file must already fit the data.

    Raises:
        GlassnetError: an unknown MODEL, a model that cannot take the data, or a model file
            whose input or output does not match it.
    """
    from glassnet.training.resolve import resolve_model

    if not Path(spec).is_file():
        wanted = {"input_shape": ds.input_shape, "num_classes": ds.num_classes, "seed": seed}
        try:
            model = resolve_model(spec, **wanted)
        except ShapeError as exc:
            raise ShapeError(
                f"{spec} cannot take {ds.name} images of {_shape_text(ds.input_shape)}: {exc}"
            ) from exc
        check_fits(model, ds, spec)
    else:
        model = resolve_model(spec)
        check_fits(model, ds, f"model file {spec}")
    model.seed = seed
    return model


def make_optimizer(opts: TrainOptions, params: list[Any]) -> optim.Optimizer:
    """Build the optimizer the options name, on ``params``.

    Raises:
        GlassnetError: an option the optimizer does not have, or a value it rejects.
    """
    given = {"lr": opts.lr, "momentum": opts.momentum, "weight_decay": opts.weight_decay}
    kwargs: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if opts.nesterov:
        kwargs["nesterov"] = True
    cls = optim.lookup(opts.optimizer)
    accepted = inspect.signature(cls).parameters
    for name in kwargs:
        if name not in accepted:
            raise GlassnetError(
                f"--{name.replace('_', '-')} does not apply to --optimizer {opts.optimizer}"
            )
    return cls(params, **kwargs)


def train_once(
    opts: TrainOptions, ds: Any, seed: int, checkpoints: Path | None = None, resume: bool = False
) -> RunOutcome:
    """Train one run with ``seed`` (weights and batch order) and evaluate it on the test split.

    Args:
        opts: the options.
        ds: the data.
        seed: the run's seed.
        checkpoints: the run's checkpoint folder (one checkpoint per epoch), or None.
        resume: continue from the last checkpoint in ``checkpoints`` when there is one.
    """
    start = time.perf_counter()
    model = build_model(opts.model, ds, seed)
    model.compile(make_optimizer(opts, model.parameters()), LOSS, ["accuracy"],
                  from_logits=not model.ends_in_softmax)
    x_train, y_train = ds.train
    history = model.fit(x_train, y_train, epochs=opts.epochs, batch_size=opts.batch_size,
                        validation_split=opts.validation_split, seed=seed, verbose=opts.verbose,
                        on_divergence=opts.on_divergence, checkpoint_dir=checkpoints,
                        resume=resume)
    test = model.evaluate(*ds.test)
    result = RunResult(seed, float(test["accuracy"]), float(test["loss"]), history.epochs,
                       round(time.perf_counter() - start, 3))
    return RunOutcome(model, history, result)


def model_label(spec: str) -> str:
    """The name a run reports: the zoo name, or the model file as given."""
    from glassnet import zoo

    key = spec.lower().replace("-", "_")
    return key if key in zoo.names() else spec


def default_out_dir(spec: str, data: str) -> Path:
    """``runs/<model>-<data>-<YYYYmmdd-HHMMSS>``; a model file counts by its stem."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{Path(model_label(spec)).stem}-{data}-{stamp}"


def resume_options(folder: str | Path) -> tuple[TrainOptions, list[RunResult]]:
    """The options and finished runs of the interrupted ``glassnet train`` in ``folder``.

    Raises:
        GlassnetError: ``folder`` holds no (valid) run state.
    """
    options, results = runstate.load_state(folder)
    names = {f.name for f in dataclasses.fields(TrainOptions)}
    try:
        opts = TrainOptions(**{k: v for k, v in options.items() if k in names})
        finished = [RunResult(**r) for r in results]
    except TypeError as exc:
        raise GlassnetError(f"--resume {folder}: the stored run state is incomplete ({exc})"
                            ) from None
    opts.out = Path(folder)
    return opts, finished


def train(
    opts: TrainOptions,
    on_run: Callable[[int, RunResult], None] | None = None,
    *,
    root: bool = True,
    finished: list[RunResult] | None = None,
) -> TrainReport:
    """Check the options, train every run, write the run directory; return the report.

    Every epoch of run i is checkpointed in ``<out>/checkpoints/run-<i+1>``; ``resume.json``
    holds the options and the finished runs (see :mod:`glassnet.training.runstate`).

    Args:
        opts: the options.
        on_run: called after each run with its index (0-based) and result.
        root: whether this process writes the run folder; under ``mpiexec`` the caller passes
            ``glassnet.dist.is_root()`` (training sits below dist and does not ask it).
        finished: resume (see :func:`resume_options`): the results of the runs already done;
            the next run continues from its last checkpoint. The last run is always trained
            (or reloaded from its last epoch): its model makes the run folder's files.

    Raises:
        GlassnetError: for bad options, data or model (see :func:`check_options`,
            :func:`build_model`).
    """
    check_options(opts)
    ds = load_data(opts.data, opts.data_dir, opts.download, opts.limit)
    build_model(opts.model, ds, opts.seed)  # fail on a model/data mismatch before any training
    out_dir = opts.out if opts.out is not None else default_out_dir(opts.model, opts.data)
    resume = finished is not None
    results = list(finished or [])[: opts.runs - 1]
    if root:  # under mpiexec, rank 0 alone writes the run folder
        out_dir.mkdir(parents=True, exist_ok=True)
        runstate.save_state(out_dir, dataclasses.replace(opts, out=out_dir), results)
    outcome: RunOutcome | None = None
    for i in range(len(results), opts.runs):
        outcome = train_once(opts, ds, opts.seed + i, runstate.run_checkpoints(out_dir, i),
                             resume=resume)
        results.append(outcome.result)
        if root:
            runstate.save_state(out_dir, dataclasses.replace(opts, out=out_dir), results)
        if on_run is not None:
            on_run(i, outcome.result)
    assert outcome is not None
    summary = summarize_runs(model_label(opts.model), opts.data, results)
    if not root:
        return TrainReport(summary, out_dir, [])
    files = write_artifacts(outcome.model, outcome.history.history, ds, out_dir, opts.plots)
    files.append(write_json_atomic(out_dir / "summary.json", summary))
    return TrainReport(summary, out_dir, files)


def write_artifacts(
    model: Model, history: dict[str, list[float]], ds: Any, out_dir: Path, plots: bool = True
) -> list[Path]:
    """Write the checkpoint, the history and (unless ``plots`` is False) the plots.

    Plots: ``curves.png`` (loss/accuracy per epoch), ``confusion_matrix.png`` (test set),
    ``filters.png`` (if the first layer with parameters is a conv) and ``feature_maps.png``
    (test example 0 through each conv layer).

    Returns:
        The paths written, in order.
    """
    files = [model.save(out_dir / "model.npz"),
             write_json_atomic(out_dir / "history.json", history)]
    if not plots:
        return files
    from glassnet import viz
    from glassnet.layers import Conv2D, DepthwiseConv2D
    from glassnet.tensor import no_grad

    x_test, y_test = ds.test
    y_pred = model.predict(x_test).argmax(axis=-1)
    files.append(viz.plot_history(history, out_dir / "curves.png"))
    files.append(viz.plot_confusion_matrix(y_test, y_pred, out_dir / "confusion_matrix.png",
                                           class_names=ds.class_names))
    first = next((layer for layer in model.layers if layer.parameters()), None)
    convs = [layer for layer in model.layers if isinstance(layer, Conv2D | DepthwiseConv2D)]
    if first is not None and first in convs:
        files.append(viz.plot_filters(first.weights["kernel"].data, out_dir / "filters.png"))
    if convs:
        labels = {layer.label for layer in convs}
        with no_grad():
            maps = model.feature_maps(x_test[:1])
        picked = [(k, np.asarray(v.data)) for k, v in maps.items() if k.split(":")[0] in labels]
        files.append(viz.plot_feature_maps(picked, out_dir / "feature_maps.png"))
    return files


def evaluate_checkpoint(
    path: str | Path, data: str, data_dir: str | None = None, download: bool = False
) -> dict[str, Any]:
    """Load a checkpoint and evaluate it on ``data``'s test split.

    Returns:
        ``checkpoint``, ``data``, ``test_loss``, ``test_accuracy`` and ``per_class``: a list of
        ``(class name, correct, total)``.

    Raises:
        GlassnetError: unknown data, not a checkpoint, or a model that does not fit the data.
        FileNotFoundError: if the checkpoint does not exist.
    """
    from glassnet.data.registry import check_name
    from glassnet.training.checkpoint import load_model

    check_name(data)
    model = load_model(path)
    ds = load_data(data, data_dir, download)
    check_fits(model, ds, f"checkpoint {path}")
    if model.optimizer is None:
        model.compile("adam", LOSS, ["accuracy"], from_logits=not model.ends_in_softmax)
    x_test, y_test = ds.test
    test = model.evaluate(x_test, y_test)
    y_pred = model.predict(x_test).argmax(axis=-1)
    k = ds.num_classes
    correct = np.bincount(y_test[y_pred == y_test], minlength=k)
    total = np.bincount(y_test, minlength=k)
    per_class = [(name, int(c), int(t)) for name, c, t in zip(ds.class_names, correct, total,
                                                               strict=True)]
    return {"checkpoint": str(path), "data": data, "test_loss": float(test["loss"]),
            "test_accuracy": float(test["accuracy"]), "per_class": per_class}
