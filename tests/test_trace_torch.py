"""glassnet trace against PyTorch float64 autograd, built independently from the raw spec files.

The oracle reads the spec dict itself (NCHW tensors, explicit padding computed here with the
TensorFlow ``same`` rule) and fills a record of the same §6 shape, which is compared key by key.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import t64

from glassnet.errors import GlassnetError
from glassnet.tracing import parse_spec, trace
from glassnet.tracing.spec import parse_text

SPECS = Path(__file__).resolve().parent / "trace_specs"
TORCH_SPECS = sorted(p.name for p in SPECS.iterdir() if p.suffix in (".json", ".yaml"))


def _load(name: str) -> dict[str, Any]:
    path = SPECS / name
    return parse_text(path.read_text(), path.suffix, name)


def _pads(padding: Any, hw: tuple[int, int], k: tuple[int, int], s: tuple[int, int]) -> list[int]:
    """(left, right, top, bottom) for torch's F.pad."""
    if padding == "same":
        out = []
        for size, kk, ss in zip(hw, k, s, strict=True):
            total = max((math.ceil(size / ss) - 1) * ss + kk - size, 0)
            out.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = out
        return [left, right, top, bottom]
    if padding in ("valid", None):
        return [0, 0, 0, 0]
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return [pw, pw, ph, ph]


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def _to_spec(t: Any, layout: str) -> list[Any]:
    """A torch (1, C, H, W) or (1, D) tensor as nested lists in the spec layout."""
    a = t.detach().numpy()
    if layout == "HW":
        return a[0, 0].tolist()
    return (a[0].transpose(1, 2, 0) if layout == "HWC" else a[0]).tolist()


def _activate(torch: Any, z: Any, layer: dict[str, Any]) -> Any:
    tf = torch.nn.functional
    act = layer.get("activation") or "linear"
    funcs = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
             "softmax": lambda v: torch.softmax(v, dim=1),
             "leaky_relu": lambda v: tf.leaky_relu(v, layer.get("alpha", 0.01)),
             "linear": lambda v: v, "none": lambda v: v}
    return funcs[act](z)


def torch_record(torch: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """The §6 record of ``spec`` computed with torch autograd."""
    tf = torch.nn.functional
    x = np.asarray(spec["input"], dtype=np.float64)
    layout = spec.get("input_layout") or {1: "flat", 2: "HW", 3: "HWC"}[x.ndim]
    h = t64(torch, x[None, None] if layout == "HW" else
            (x.transpose(2, 0, 1)[None] if layout == "HWC" else x[None]))
    steps = []
    for layer in spec["layers"]:
        kind, inp, in_layout = layer["type"], h, layout
        z, w, b, wshape = None, None, None, None
        if kind == "conv2d":
            k = np.asarray(layer["kernel"], dtype=np.float64)
            wshape = k.shape
            w = t64(torch, (k[:, :, None, None] if k.ndim == 2 else k).transpose(3, 2, 0, 1))
            b = t64(torch, np.reshape(layer["bias"], -1)) if "bias" in layer else None
            s = _pair(layer.get("stride", 1))
            pads = _pads(layer.get("padding", 0), tuple(inp.shape[2:]), k.shape[:2], s)
            z = tf.conv2d(tf.pad(inp, pads), w, b, stride=s)
            layout = "HW" if k.ndim == 2 else "HWC"
        elif kind == "dense":
            wshape = np.shape(layer["weights"])
            w = t64(torch, np.asarray(layer["weights"]))
            b = t64(torch, np.asarray(layer["bias"])) if "bias" in layer else None
            z = inp @ w + (b if b is not None else 0)
            layout = "flat"
        elif kind == "activation":
            z = inp
        if z is not None:
            z.retain_grad()
            out = _activate(torch, z, layer)
        elif kind == "flatten":
            out = inp.permute(0, 2, 3, 1).reshape(1, -1) if layout != "flat" else inp
            layout = "flat"
        else:
            pool = layer["pool"]
            stride, pad = layer.get("stride", pool), layer.get("padding", 0)
            out = (tf.max_pool2d(inp, pool, stride, pad) if kind == "maxpool2d" else
                   tf.avg_pool2d(inp, pool, stride, pad, count_include_pad=False))
        out.retain_grad()
        steps.append((layer, inp, in_layout, z, out, layout, w, b, wshape))
        h = out
    record: dict[str, Any] = {"forward": [
        {"layer": i, **({"pre_activation": _to_spec(z, lo)} if z is not None else {}),
         "output": _to_spec(out, lo)}
        for i, (_, _, _, z, out, lo, *_) in enumerate(steps)]}
    if "loss" in spec:
        t = torch.tensor(np.asarray(spec["target"], dtype=np.float64)).reshape(h.shape)
        loss = {"mse": lambda: ((h - t) ** 2).mean(),
                "categorical_crossentropy": lambda: -(t * torch.log(h)).sum(),
                "binary_crossentropy": lambda: -(t * torch.log(h) + (1 - t) * torch.log(1 - h))
                .mean()}[spec["loss"]]()
        record["loss"] = loss.item()
        loss.backward()
    else:
        g = np.asarray(spec["grad_output"], dtype=np.float64)
        g = g[None, None] if layout == "HW" else (g.transpose(2, 0, 1)[None] if layout == "HWC"
                                                   else g[None])
        h.backward(torch.tensor(g))
    grads, updated = [], []
    lr = spec.get("lr", 0.1 if "loss" in spec else None)
    for i, (layer, inp, in_layout, z, out, lo, w, b, wshape) in enumerate(steps):
        entry: dict[str, Any] = {"layer": i, "d_output": _to_spec(out.grad, lo)}
        if z is not None:
            entry["d_pre_activation"] = _to_spec(z.grad, lo)
        if w is not None:
            dw = w.grad.numpy()
            dw = dw.transpose(2, 3, 1, 0) if layer["type"] == "conv2d" else dw
            entry["d_weights"] = dw.reshape(wshape).tolist()
            new = {"layer": i, "weights": (np.reshape(layer.get("weights", layer.get("kernel")),
                                                      wshape) - lr * dw.reshape(wshape)).tolist()
                   } if lr is not None else {}
            if b is not None:
                entry["d_bias"] = b.grad.numpy().tolist()
                if lr is not None:
                    new["bias"] = (np.asarray(layer["bias"]) - lr * b.grad.numpy()).tolist()
            if lr is not None:
                updated.append(new)
        entry["d_input"] = _to_spec(inp.grad, in_layout)
        grads.append(entry)
    record["gradients"] = grads
    if lr is not None:
        record["updated"] = updated
    return record


def assert_records_close(got: dict[str, Any], want: dict[str, Any], tol: float = 1e-10) -> None:
    """Same keys, same layers, every value within ``tol`` (absolute and relative)."""
    assert set(got) == set(want)
    if "loss" in want:
        assert got["loss"] == pytest.approx(want["loss"], rel=tol, abs=tol)
    for section in ("forward", "gradients", "updated"):
        if section not in want:
            continue
        assert [e["layer"] for e in got[section]] == [e["layer"] for e in want[section]]
        for g, w in zip(got[section], want[section], strict=True):
            assert list(g) == list(w), (section, g["layer"])
            for key in w:
                if key != "layer":
                    assert np.shape(g[key]) == np.shape(w[key]), (section, g["layer"], key)
                    np.testing.assert_allclose(g[key], w[key], rtol=tol, atol=tol,
                                               err_msg=f"{section}[{g['layer']}].{key}")


@pytest.mark.parametrize("name", TORCH_SPECS)
def test_trace_matches_torch(torch: Any, name: str) -> None:
    spec = _load(name)
    assert_records_close(trace(spec), torch_record(torch, spec))


def test_spec_files_cover_the_issue_cases() -> None:
    # RGB stride-2 conv, average pooling, the sigmoid MLP, the exercise mode, leaky/max pool/bce.
    assert len(TORCH_SPECS) >= 6


def random_spec(seed: int) -> dict[str, Any]:
    """A random conv → (pool) → flatten → dense net with a random loss, all geometry varied."""
    rng = np.random.default_rng(seed)

    def vals(*shape: int) -> list[Any]:
        return np.round(rng.uniform(-1, 1, shape), 3).tolist()

    h, w, c, f = (int(v) for v in rng.integers([4, 4, 1, 1], [9, 9, 4, 4]))
    k = int(rng.integers(1, 4))
    kernel = vals(k, k) if c == 1 and rng.random() < 0.5 else vals(k, k, c, f)
    # No ReLU before a max pool: a window of tied zeros may route its gradient either way.
    conv = {"type": "conv2d", "kernel": kernel, "bias": vals(1 if np.ndim(kernel) == 2 else f),
            "stride": [int(rng.integers(1, 3)), int(rng.integers(1, 3))],
            "padding": [0, 1, "same", [1, 0]][int(rng.integers(4))],
            "activation": ["tanh", "sigmoid", "linear", "leaky_relu"][int(rng.integers(4))]}
    layers: list[dict[str, Any]] = [conv]
    if rng.random() < 0.7:
        pool = int(rng.integers(2, 4))
        layers.append({"type": ["maxpool2d", "avgpool2d"][int(rng.integers(2))], "pool": pool,
                       "stride": int(rng.integers(1, 3)), "padding": int(rng.integers(0, 2))})
    spec = {"input": vals(h, w, c), "input_layout": "HWC", "layers": layers}
    try:
        n_in = parse_spec(spec).layers[-1].out_shape
    except GlassnetError:  # this geometry does not fit: a plain 1×1 conv does
        conv.update(stride=1, padding=0)
        del layers[1:]
        n_in = parse_spec(spec).layers[-1].out_shape
    loss = ["mse", "categorical_crossentropy", "binary_crossentropy"][seed % 3]
    act = {"mse": "relu", "categorical_crossentropy": "softmax",
           "binary_crossentropy": "sigmoid"}[loss]
    layers += [{"type": "flatten"},
               {"type": "dense", "weights": vals(int(np.prod(n_in)), 3), "bias": vals(3),
                "activation": act}]
    target = [0.0, 1.0, 0.0] if loss == "categorical_crossentropy" else vals(3)
    return spec | {"loss": loss, "target": np.abs(target).tolist(), "lr": 0.3}


@pytest.mark.parametrize("seed", range(24))
def test_random_geometries_match_torch(torch: Any, seed: int) -> None:
    spec = random_spec(seed)
    assert_records_close(trace(spec), torch_record(torch, spec), tol=1e-9)
