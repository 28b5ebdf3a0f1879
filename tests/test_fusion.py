"""The execution graph's fused nodes give the numbers of the layer calls they replace — values
AND gradients — in the reference core and on the fast paths; the rewrite fuses only where a
rule applies (one reader, not the output) and keeps every uid a later step reads."""

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers as L
from glassnet.backend import dtype_scope
from glassnet.layers.fused import ConvReLUPool
from glassnet.models.fusion import fused_steps, plain_steps
from glassnet.onnx.layers import FlattenCHW
from glassnet.training.loop import batch_loss


def _model(flatten=L.Flatten):
    inp = L.Input((12, 12, 2))
    a = L.Conv2D(4, 3, padding="same", activation="relu")(inp)
    a = L.MaxPool2D(2)(a)  # conv(relu) -> pool -> flatten: one fused node
    b = L.Conv2D(3, 2, activation="relu")(a)  # read by two calls: not fused
    c = L.MaxPool2D(2, strides=1, padding="same")(b)
    d = L.MaxPool2D(3, strides=1, padding="same")(b)
    e = L.Concatenate()([c, d])
    f = L.DepthwiseConv2D(2, activation="relu")(e)
    f = L.MaxPool2D(2, strides=1)(f)
    out = L.Dense(3, activation="softmax")(flatten()(f))
    with dtype_scope("float64"):
        return gn.Model(inp, out).build()


def _grads(model, x, y, fused):
    for p in model.parameters():
        p.grad = None
    values = {model.input_node.uid: gn.autodiff.to_compute(gn.Tensor(x))}
    steps = model.steps(fused=fused)
    for step in steps:
        args = [values[u] for u in step.inputs]
        values[step.uid] = step.layer.forward(args if step.layer.n_inputs == -1 else args[0],
                                              training=True)
    out = values[model.output_node.uid]
    batch_loss(model, out, y, "sparse_categorical_crossentropy", False).backward()
    return out.data, [p.grad.copy() for p in model.parameters()]


def test_the_rewrite_fuses_where_a_rule_applies():
    model = _model()
    kinds = [type(s.layer).__name__ for s in model.steps()]
    assert kinds.count("ConvReLUPool") == 2  # conv1+pool, depthwise+pool+flatten
    assert "Conv2D" in kinds  # conv2 has two readers
    fused = [s.layer for s in model.steps() if isinstance(s.layer, ConvReLUPool)]
    assert fused[0].flatten is None and fused[1].flatten is not None
    # Every uid a step reads is produced by an earlier step (or is the input).
    made = {model.input_node.uid}
    for step in model.steps():
        assert set(step.inputs) <= made
        made.add(step.uid)
    assert model.steps()[-1].uid == model.output_node.uid
    assert len(plain_steps(model.nodes)) == len(model.nodes) - 1


def test_output_is_never_fused_away():
    inp = L.Input((6, 6, 1))
    out = L.Conv2D(2, 3, activation="relu")(inp)  # the output itself: nothing reads it
    model = gn.Model(inp, out)
    assert [type(s.layer) for s in fused_steps(model.nodes, model.output_node.uid)] == [L.Conv2D]


@pytest.mark.parametrize("reference", [True, False], ids=["reference", "fast"])
def test_fused_equals_unfused_values_and_gradients(rng, reference):
    model = _model()
    x, y = rng.standard_normal((5, 12, 12, 2)), rng.integers(0, 3, 5)
    with gn.reference_mode(reference):
        out_f, grads_f = _grads(model, x, y, fused=True)
        out_p, grads_p = _grads(model, x, y, fused=False)
    np.testing.assert_allclose(out_f, out_p, rtol=0, atol=1e-14)
    for gf, gp in zip(grads_f, grads_p, strict=True):
        np.testing.assert_allclose(gf, gp, rtol=1e-12, atol=1e-14)


def test_fused_flatten_keeps_the_layers_own_order(rng):
    """A Flatten subclass with another order (ONNX's channel-first) is honoured when fused."""
    x = rng.standard_normal((1, 12, 12, 2))
    for flatten in (L.Flatten, FlattenCHW):
        model = _model(flatten)
        with gn.no_grad():
            planned = model.forward(x).data
        unfused = list(model.feature_maps(x).values())[-1].data
        np.testing.assert_allclose(planned, unfused, rtol=1e-12, atol=1e-14)


def _conv_bn_model(conv, act, bias, classes=None):
    """Input -> conv -> BatchNorm -> act -> a second conv (so the act is not the output), then
    with ``classes`` Flatten and a softmax Dense."""
    inp = L.Input((9, 8, 4))
    y = conv(use_bias=bias)(inp)
    y = L.BatchNormalization(momentum=0.5, epsilon=1e-3)(y)
    if act is not None:
        y = act(y)
    out = L.Conv2D(2, 1)(y)
    if classes:
        out = L.Dense(classes, activation="softmax")(L.Flatten()(out))
    return gn.Model(inp, out)


CONV_BN_CASES = {
    "conv-relu": (lambda use_bias: L.Conv2D(5, 3, strides=2, padding=1, use_bias=use_bias),
                  L.ReLU),
    "depthwise-relu6": (lambda use_bias: L.DepthwiseConv2D(3, padding="same", use_bias=use_bias),
                        lambda: L.ReLU(max_value=6)),
    "conv-none": (lambda use_bias: L.Conv2D(5, 2, use_bias=use_bias), None),
    "conv-activation": (lambda use_bias: L.Conv2D(5, 3, padding="same", use_bias=use_bias),
                        lambda: L.Activation("relu")),
}


@pytest.mark.parametrize("case", CONV_BN_CASES)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("batch", [1, 3])  # batch 1: the small-batch kernels
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 2e-5)])
def test_conv_bn_relu_folds_for_inference(rng, case, bias, batch, dtype, tol):
    """Conv -> BatchNorm (-> ReLU) is one ConvBN step; inference folds the moving statistics
    into the convolution's epilogue: equal to the layers one by one to rounding, with
    non-trivial statistics, in float64 and float32; reference mode runs the pairs exactly."""
    from glassnet.layers.fused import ConvBN

    conv, act = CONV_BN_CASES[case]
    with dtype_scope(dtype):
        model = _conv_bn_model(conv, None if act is None else act(), bias).build(seed=3)
        bn = next(layer for layer in model.layers if isinstance(layer, L.BatchNormalization))
        c = bn.weights["gamma"].data.shape[0]
        bn.weights["gamma"].data[...] = rng.uniform(0.5, 2, c)
        bn.weights["beta"].data[...] = rng.standard_normal(c)
        bn.buffers["moving_mean"][...] = rng.standard_normal(c)
        bn.buffers["moving_variance"][...] = rng.uniform(0.2, 3, c)
        steps = model.steps(fused=True)
        fused = [s.layer for s in steps if isinstance(s.layer, ConvBN)]
        assert len(fused) == 1 and (fused[0].act is None) == (act is None)
        x = (rng.standard_normal((batch, 9, 8, 4)) * 3).astype(dtype)
        with gn.no_grad():
            planned = model.forward(x).data
        graph = model.forward(x, training=False).data  # the recorded layer-by-layer path
        np.testing.assert_allclose(planned, graph, rtol=tol, atol=tol)
        model._plan_cache = None
        with gn.reference_mode(), gn.no_grad():
            exact = model.forward(x).data
        with gn.reference_mode():
            np.testing.assert_array_equal(exact, model.forward(x, training=False).data)


@pytest.mark.parametrize("reference", [True, False], ids=["reference", "fast"])
def test_conv_bn_training_runs_the_layers_own_ops(rng, reference):
    """In training the fused node runs the three layers' ops: the same values and gradients."""
    conv, act = CONV_BN_CASES["conv-relu"]
    model = _conv_bn_model(conv, act(), True, classes=2)
    with dtype_scope("float64"):
        model.build(seed=1)
    x, y = rng.standard_normal((4, 9, 8, 4)), rng.integers(0, 2, 4)
    with gn.reference_mode(reference):
        out_f, grads_f = _grads(model, x, y, fused=True)
        out_p, grads_p = _grads(model, x, y, fused=False)
    np.testing.assert_array_equal(out_f, out_p)
    for gf, gp in zip(grads_f, grads_p, strict=True):
        np.testing.assert_array_equal(gf, gp)
