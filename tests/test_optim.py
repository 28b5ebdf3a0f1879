"""Optimizers and LR schedules against torch.optim (float64, step by step), plus error messages."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glassnet import optim
from glassnet.errors import GlassnetError, ShapeError

SHAPES = [(3, 4), (5,), (2, 3, 3, 2), (1,)]
TOL = 1e-12


class Param:
    """The duck-typed parameter protocol: .data, .grad, .name."""

    def __init__(self, data: np.ndarray, name: str | None = None) -> None:
        self.data, self.grad, self.name = data, None, name


def _grad_plan(steps: int, seed: int) -> list[list[np.ndarray | None]]:
    """Gradients per step and parameter; some None (skipped), the last parameter never has one."""
    rng, last = np.random.default_rng(seed), len(SHAPES) - 1
    skip = [[j == last or (j + k) % 3 == 2 for j in range(len(SHAPES))] for k in range(steps)]
    return [[None if s else rng.standard_normal(SHAPES[j]) for j, s in enumerate(r)] for r in skip]


def _run_ours(opt: Any, params: list[Param], plan: list, lr_change: dict[int, float]) -> None:
    for k, row in enumerate(plan):
        if k in lr_change:
            opt.lr = lr_change[k]
        for p, g in zip(params, row, strict=True):
            p.grad = None if g is None else g.copy()
        opt.step()


def compare_with_torch(
    torch: Any, ours_cls: Any, torch_cls: Any, kw: dict, *, torch_kw: dict | None = None,
    steps: int = 7, seed: int = 0, lr_change: dict[int, float] | None = None,
) -> float:  # fmt: skip
    """Step both optimizers on the same gradients; return the max |w_ours - w_torch|."""
    lr_change = lr_change or {}
    init = [np.random.default_rng(seed + 100).standard_normal(s) for s in SHAPES]
    ours = [Param(a.copy(), name=f"p{j}") for j, a in enumerate(init)]
    views = [p.data.reshape(-1)[:1] for p in ours]  # must stay valid: updates are in place
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    plan = _grad_plan(steps, seed)
    opt = ours_cls(ours, **kw)
    t_opt = torch_cls(theirs, **(kw if torch_kw is None else torch_kw), foreach=False)
    _run_ours(opt, ours, plan, lr_change)
    for k, row in enumerate(plan):
        if k in lr_change:
            t_opt.param_groups[0]["lr"] = lr_change[k]
        for t, g in zip(theirs, row, strict=True):
            t.grad = None if g is None else torch.tensor(g.copy())
        t_opt.step()
    for p, v in zip(ours, views, strict=True):
        assert v[0] == p.data.reshape(-1)[0] and p.data.dtype == np.float64
    np.testing.assert_array_equal(ours[-1].data, init[-1])  # never had a gradient
    diffs = [np.abs(p.data - t.detach().numpy()).max() for p, t in zip(ours, theirs, strict=True)]
    return float(max(diffs))


SGD_CASES = [
    {"lr": 0.1},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-2},
    {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 1e-2},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
    {"lr": 0.1, "weight_decay": 0.1},
]
ADAM_CASES = [
    {},
    {"lr": 1e-2, "weight_decay": 1e-2},
    {"lr": 1e-2, "amsgrad": True},
    {"lr": 1e-2, "amsgrad": True, "weight_decay": 0.1, "betas": (0.5, 0.9), "eps": 1e-6},
]
RMSPROP_CASES = [
    {},
    {"lr": 1e-3, "momentum": 0.9},
    {"lr": 1e-3, "centered": True},
    {"lr": 1e-3, "centered": True, "momentum": 0.5, "weight_decay": 1e-2},
    {"lr": 1e-2, "alpha": 0.9, "eps": 1e-6},
]


def _cases(torch: Any) -> dict[str, tuple[Any, Any]]:
    """Our class and torch's twin by our name (torch spells it RMSprop)."""
    twins = {"SGD": "SGD", "Adam": "Adam", "AdamW": "AdamW", "RMSProp": "RMSprop"}
    return {k: (getattr(optim, k), getattr(torch.optim, v)) for k, v in twins.items()}


ALL_CASES = (
    [("SGD", kw) for kw in SGD_CASES]
    + [("Adam", kw) for kw in ADAM_CASES]
    + [("AdamW", kw) for kw in ADAM_CASES[:3] + [{"weight_decay": 0.1, "lr": 0.01}]]
    + [("RMSProp", kw) for kw in RMSPROP_CASES]
)


@pytest.mark.parametrize("lr_change", [None, {3: 0.02, 5: 0.007}], ids=["const_lr", "lr_change"])
@pytest.mark.parametrize(("name", "kw"), ALL_CASES, ids=lambda x: str(x))
def test_matches_torch(torch: Any, name: str, kw: dict, lr_change: dict | None) -> None:
    ours_cls, torch_cls = _cases(torch)[name]
    assert compare_with_torch(torch, ours_cls, torch_cls, kw, lr_change=lr_change) <= TOL


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(["SGD", "Adam", "AdamW", "RMSProp"]),
    lr=st.floats(1e-4, 0.5), mom=st.floats(0.0, 0.99), decay=st.floats(0.0, 0.1),
    flag=st.booleans(), seed=st.integers(0, 1000),
)  # fmt: skip
def test_matches_torch_fuzzed(
    torch: Any, name: str, lr: float, mom: float, decay: float, flag: bool, seed: int
) -> None:
    kw: dict[str, Any] = {"lr": lr, "weight_decay": decay}
    if name == "SGD":
        kw.update(momentum=mom, nesterov=flag and mom > 0)
    elif name == "RMSProp":
        kw.update(momentum=mom, centered=flag)
    else:
        kw.update(betas=(mom, 0.999), amsgrad=flag)
    ours_cls, torch_cls = _cases(torch)[name]
    assert compare_with_torch(torch, ours_cls, torch_cls, kw, seed=seed) <= TOL


def test_alexnet_rule_equals_torch_sgd_at_constant_lr(torch: Any) -> None:
    kw = {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4}
    pair = (torch, optim.AlexNetSGD, torch.optim.SGD, kw)
    assert compare_with_torch(*pair, steps=12) <= TOL
    # Once lr changes the two rules part: the paper's velocity keeps the old lr baked in.
    assert compare_with_torch(*pair, steps=8, lr_change={4: 0.001}) > 1e-6


ROUND_TRIP = [("SGD", SGD_CASES[2]), ("Adam", ADAM_CASES[2]), ("AdamW", ADAM_CASES[1])]
ROUND_TRIP += [("RMSProp", RMSPROP_CASES[3])]  # momentum, Nesterov, amsgrad, centered


@pytest.mark.parametrize(("name", "kw"), ROUND_TRIP, ids=lambda x: str(x))
def test_state_dict_round_trip(torch: Any, name: str, kw: dict) -> None:
    cls = _cases(torch)[name][0]
    init = [np.random.default_rng(1).standard_normal(s) for s in SHAPES]
    plan = _grad_plan(8, seed=2)
    full = [Param(a.copy()) for a in init]
    _run_ours(cls(full, **kw), full, plan, {})

    first = [Param(a.copy()) for a in init]
    opt = cls(first, **kw)
    _run_ours(opt, first, plan[:3], {})
    snapshot, weights = opt.state_dict(), [p.data.copy() for p in first]
    _run_ours(opt, first, plan[3:4], {})  # the snapshot is a copy: later steps leave it alone
    # Round trip through what an .npz gives back: 0-d arrays and string keys.
    flat = {str(i): {k: np.asarray(v) for k, v in s.items()} for i, s in snapshot["state"].items()}
    resumed = [Param(w) for w in weights]
    fresh = cls(resumed, **{**kw, "lr": 0.123})
    fresh.load_state_dict({**snapshot, "state": flat})
    assert fresh.lr == kw["lr"]
    _run_ours(fresh, resumed, plan[3:], {})
    for a, b in zip(full, resumed, strict=True):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize(("name", "kw"), ALL_CASES, ids=lambda x: str(x))
def test_float32_stays_float32(torch: Any, name: str, kw: dict) -> None:
    cls = _cases(torch)[name][0]
    init = [np.random.default_rng(3).standard_normal(s) for s in SHAPES]
    p32 = [Param(a.astype(np.float32)) for a in init]
    p64 = [Param(a.copy()) for a in init]
    plan = _grad_plan(5, seed=4)
    opt = cls(p32, **kw)
    opt.lr = np.float64(opt.lr)  # a NumPy scalar lr must not upcast the update
    plan32 = [[None if g is None else g.astype(np.float32) for g in row] for row in plan]
    _run_ours(opt, p32, plan32, {})
    _run_ours(cls(p64, **kw), p64, plan, {})
    for a, b, s in zip(p32, p64, opt.state, strict=True):
        assert a.data.dtype == np.float32
        assert all(v.dtype == np.float32 for v in s.values() if isinstance(v, np.ndarray))
        np.testing.assert_allclose(a.data, b.data, rtol=1e-4, atol=1e-5)


def test_zero_grad() -> None:
    p, q = Param(np.ones(3)), Param(np.ones(2))
    p.grad = g = np.full(3, 2.0)
    opt = optim.SGD([p, q], lr=0.1)
    opt.zero_grad()
    assert p.grad is g and not g.any() and q.grad is None
    opt.zero_grad(set_to_none=True)
    assert p.grad is None


def _lr_sequence(sched: Any, opt: Any, epochs: int, metrics: list[float] | None) -> list[float]:
    out = []
    for e in range(epochs):
        opt.step()  # no gradients: a no-op, but torch expects it before each schedule step
        sched.step(*([] if metrics is None else [metrics[e]]))
        out.append(float(opt.lr if hasattr(opt, "lr") else opt.param_groups[0]["lr"]))
    return out


PLATEAU_METRICS = [1.0, 0.9, 0.9, 0.91, 0.9, 0.85, 0.85, 0.85, 0.86, 0.85, 0.7, 0.7, 0.7] * 4
SCHEDULES = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("StepLR", {"step_size": 1}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 10}),
    ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.01}),
    ("ReduceLROnPlateau", {"patience": 1}),
    ("ReduceLROnPlateau", {"patience": 2, "factor": 0.5, "cooldown": 2, "min_lr": 0.01}),
    (
        "ReduceLROnPlateau",
        {"mode": "max", "patience": 0, "factor": 0.5, "threshold_mode": "abs", "threshold": 0.1},
    ),
]


@pytest.mark.parametrize(("name", "kw"), SCHEDULES, ids=lambda x: str(x))
def test_schedule_matches_torch(torch: Any, name: str, kw: dict) -> None:
    ours_opt = optim.SGD([Param(np.zeros(1))], lr=0.1)
    t_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    metrics = PLATEAU_METRICS if name == "ReduceLROnPlateau" else None
    if kw.get("mode") == "max":
        metrics = [-m for m in PLATEAU_METRICS]  # a rising accuracy-like curve
    ours = _lr_sequence(getattr(optim, name)(ours_opt, **kw), ours_opt, 40, metrics)
    theirs = _lr_sequence(getattr(torch.optim.lr_scheduler, name)(t_opt, **kw), t_opt, 40, metrics)
    np.testing.assert_allclose(ours, theirs, rtol=1e-15, atol=0)
    assert len(set(ours)) > 2  # the schedule really moved


def test_schedule_state_dict_round_trip() -> None:
    opt = optim.SGD([Param(np.zeros(1))], lr=0.1)
    sched = optim.ReduceLROnPlateau(opt, patience=1)
    for m in PLATEAU_METRICS[:6]:
        sched.step(m)
    again = optim.ReduceLROnPlateau(optim.SGD([Param(np.zeros(1))], lr=opt.lr), patience=1)
    again.load_state_dict(sched.state_dict())
    assert again.best == sched.best and again.last_epoch == 6 and again.optimizer is not opt


def P1() -> list[Param]:  # noqa: N802
    return [Param(np.zeros(2), name="dense/w")]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: optim.SGD(P1(), lr=-1), r"SGD: lr=-1 is outside the valid range \[0, inf\)"),
        (lambda: optim.SGD(P1(), momentum=1.0), r"SGD: momentum=1.0 .* range \[0, 1\)"),
        (lambda: optim.SGD(P1(), momentum=-0.1), r"SGD: momentum=-0.1 .* \[0, 1\)"),
        (lambda: optim.SGD(P1(), nesterov=True), r"SGD: nesterov=True needs momentum in \(0, 1\)"),
        (lambda: optim.SGD(P1(), weight_decay=-1e-4), r"SGD: weight_decay=-0.0001 .* \[0, inf\)"),
        (lambda: optim.AlexNetSGD(P1(), momentum=1.5), r"AlexNetSGD: momentum=1.5 .* \[0, 1\)"),
        (lambda: optim.Adam(P1(), betas=(1.0, 0.9)), r"Adam: betas\[0\]=1.0 .* \[0, 1\)"),
        (lambda: optim.Adam(P1(), betas=(0.9, -0.5)), r"Adam: betas\[1\]=-0.5 .* \[0, 1\)"),
        (lambda: optim.Adam(P1(), betas=0.9), r"Adam: betas=0.9 is not a pair"),
        (lambda: optim.AdamW(P1(), lr=float("nan")), r"AdamW: lr=nan is outside"),
        (lambda: optim.Adam(P1(), eps=-1), r"Adam: eps=-1 .* \[0, inf\)"),
        (lambda: optim.RMSProp(P1(), alpha=1.5), r"RMSProp: alpha=1.5 .* \[0, 1\)"),
        (lambda: optim.RMSProp(P1(), momentum=1), r"RMSProp: momentum=1 .* \[0, 1\)"),
        (lambda: optim.RMSProp(P1(), lr="fast"), r"RMSProp: lr='fast' is not a number"),
        (lambda: optim.SGD([]), r"SGD: params is empty"),
        (lambda: optim.Adam([np.zeros(2)]), r"Adam: params\[0\] \(ndarray\) has no .data/.grad"),
        (lambda: optim.StepLR(optim.SGD(P1()), 0), r"StepLR: step_size=0 is not an integer >= 1"),
        (lambda: optim.StepLR(optim.SGD(P1()), 2, gamma=0), r"StepLR: gamma=0 .* \(0, inf\)"),
        (lambda: optim.ExponentialLR(optim.SGD(P1()), -1), r"ExponentialLR: gamma=-1"),
        (lambda: optim.CosineAnnealingLR(optim.SGD(P1()), 0), r"CosineAnnealingLR: T_max=0"),
        (lambda: optim.ReduceLROnPlateau(optim.SGD(P1()), "avg"), r"mode='avg' is not one of"),
        (lambda: optim.ReduceLROnPlateau(optim.SGD(P1()), factor=1.0), r"factor=1.0 .* \(0, 1\)"),
        (lambda: optim.ReduceLROnPlateau(optim.SGD(P1()), threshold_mode="%"), r"'%' is not one"),
    ],
)
def test_errors(make: Any, match: str) -> None:
    with pytest.raises(GlassnetError, match=match):
        make()


def test_runtime_errors() -> None:
    params = P1()
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    with pytest.raises(GlassnetError, match=r"SGD: lr=-0.5 is outside the valid range"):
        opt.lr = -0.5
    params[0].grad = np.zeros(3)
    with pytest.raises(ShapeError, match=r"SGD: dense/w has data shape \[2\] but grad shape \[3\]"):
        opt.step()
    params[0].grad = np.ones(2)
    opt.step()
    with pytest.raises(GlassnetError, match=r"Adam.load_state_dict: snapshot is for .* 'SGD'"):
        optim.Adam(P1()).load_state_dict(opt.state_dict())
    bad = opt.state_dict()
    bad["state"] = {5: bad["state"][0]}
    with pytest.raises(GlassnetError, match=r"state for parameter 5 but the optimizer has 1"):
        optim.SGD(P1(), momentum=0.9).load_state_dict(bad)
    bad["state"] = {0: {"momentum_buffer": np.zeros(4)}}
    with pytest.raises(GlassnetError, match=r"'momentum_buffer' of parameter 0 has shape \[4\]"):
        optim.SGD(P1(), momentum=0.9).load_state_dict(bad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_one_pass_update_equals_numpy_bit_for_bit(dtype):
    """accel.update.descend (w -= scale·d in one numba pass, split over threads) makes the same
    two roundings per element as NumPy's multiply-then-subtract."""
    from glassnet.accel import kernels, update

    if not kernels.AVAILABLE:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(0)
    w = rng.standard_normal(300_001).astype(dtype)
    d = rng.standard_normal(300_001).astype(dtype)
    want = w - np.multiply(d, 0.0137)
    assert update.usable(w, d)
    update.descend(w, d, 0.0137)
    np.testing.assert_array_equal(w, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "decay", "eps"), [
    ("Adam", 0.0, 1e-6), ("Adam", 0.1, 1e-6), ("Adam", 1e-60, 1e-6), ("AdamW", 0.0, 1e-6),
    ("AdamW", 0.05, 1e-6), ("AdamW", 1e-60, 1e-6), ("Adam", 0.0, 0.0),
])
def test_the_one_pass_adam_equals_numpy_bit_for_bit(dtype, name, decay, eps, monkeypatch):
    """accel.update.adam (a whole Adam step per element in one pass) against the NumPy
    sequence of optim.Adam / AdamW, with and without weight decay (1e-60: a coefficient that
    rounds to 0 in float32, times infinite weights), three steps, bit for bit; eps 0 with zero
    gradients divides 0 by 0 (NaN, as NumPy, not an error)."""
    from glassnet.accel import kernels, update

    if not kernels.AVAILABLE:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(1)

    class P:
        def __init__(self):
            self.data = rng.standard_normal(200_003).astype(dtype)
            self.grad = None

    fast, slow = P(), P()
    fast.data[:3] = [np.inf, -np.inf, -0.0]
    slow.data[...] = fast.data
    kind = getattr(optim, name)
    opt_fast = kind([fast], lr=0.01, betas=(0.8, 0.99), eps=eps, weight_decay=decay)
    opt_slow = kind([slow], lr=0.01, betas=(0.8, 0.99), eps=eps, weight_decay=decay)
    for step in range(3):
        g = rng.standard_normal(200_003).astype(dtype)
        g[3:9] = 0
        fast.grad, slow.grad = g.copy(), g.copy()
        opt_fast.step()
        with monkeypatch.context() as mp:
            mp.setattr(update, "usable", lambda *a: False)
            opt_slow.step()
        np.testing.assert_array_equal(fast.data, slow.data, err_msg=f"step {step}")
        for key in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_array_equal(opt_fast.state[0][key], opt_slow.state[0][key])
