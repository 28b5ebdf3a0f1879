"""Parameter counts: AlexNet's published numbers, torch modules, explanations and errors."""

from __future__ import annotations

import pytest

from glassnet import arith
from glassnet.errors import GlassnetError

# AlexNet (227 input, one tower): name, counting function, arguments, published parameter count.
ALEXNET = [
    ("conv1", arith.conv2d_params, (11, 11, 3, 96), 34_944),
    ("conv2", arith.conv2d_params, (5, 5, 96, 256), 614_656),
    ("conv3", arith.conv2d_params, (3, 3, 256, 384), 885_120),
    ("conv4", arith.conv2d_params, (3, 3, 384, 384), 1_327_488),
    ("conv5", arith.conv2d_params, (3, 3, 384, 256), 884_992),
    ("fc1", arith.dense_params, (9216, 4096), 37_752_832),
    ("fc2", arith.dense_params, (4096, 4096), 16_781_312),
    ("fc3", arith.dense_params, (4096, 1000), 4_097_000),
]


@pytest.mark.parametrize(("name", "count", "args", "expected"), ALEXNET)
def test_alexnet_layer_params(name, count, args, expected):
    result = count(*args)
    assert result.params == expected
    assert result.weights + result.biases == expected
    assert result.trainable == expected and result.non_trainable == 0


def test_alexnet_total():
    assert sum(int(count(*args).params) for _, count, args, _ in ALEXNET) == 62_378_344


def test_conv_explain_lines():
    result = arith.conv2d_params(11, 11, 3, 96)
    assert result.explain() == [
        "W = K_h·K_w·C_in·N = 11·11·3·96 = 34,848",
        "b = N = 96",
        "P = W + b = 34,848 + 96 = 34,944",
    ]
    assert result.as_dict() == {
        "weights": 34848,
        "biases": 96,
        "params": 34944,
        "trainable_params": 34944,
        "non_trainable_params": 0,
    }


def test_grouped_and_biasless_conv():
    result = arith.conv2d_params(3, 3, 32, 64, groups=4, bias=False)
    assert result.weights == 3 * 3 * 8 * 64 and result.biases == 0
    assert result.weights.explain() == "W = K_h·K_w·(C_in/groups)·N = 3·3·(32/4)·64 = 4,608"
    assert result.biases.explain() == "b = 0 (bias=False)"


def test_conv_matches_torch(torch):
    conv = torch.nn.Conv2d(12, 24, (3, 5), groups=3)
    assert arith.conv2d_params(3, 5, 12, 24, groups=3).params == sum(
        p.numel() for p in conv.parameters()
    )


def test_depthwise(torch):
    result = arith.depthwise_conv2d_params(3, 3, 32, depth_multiplier=2)
    assert (result.weights, result.biases, result.params) == (576, 64, 640)
    conv = torch.nn.Conv2d(32, 64, 3, groups=32)
    assert result.params == sum(p.numel() for p in conv.parameters())
    assert result.weights.explain() == "W = K_h·K_w·C_in·M = 3·3·32·2 = 576"
    assert arith.depthwise_conv2d_params(3, 3, 32, bias=False).params == 288


def test_dense_explain():
    result = arith.dense_params(9216, 4096)
    assert result.explain()[0] == "W = n_in·n_out = 9,216·4,096 = 37,748,736"
    assert arith.dense_params(10, 3, bias=False).params == 30


def test_batchnorm(torch):
    result = arith.batchnorm_params(64)
    assert (result.params, result.trainable, result.non_trainable) == (256, 128, 128)
    bn = torch.nn.BatchNorm2d(64)
    assert result.trainable == sum(p.numel() for p in bn.parameters())
    assert result.non_trainable == bn.running_mean.numel() + bn.running_var.numel()
    lines = result.explain()
    assert lines[0] == "γ = C = 64 (trainable scale)"
    assert lines[2] == "P_nt = 2·C = 2·64 = 128 (non-trainable moving mean and variance)"
    assert lines[3] == "P = γ + β + P_nt = 4·C = 4·64 = 256 (trainable 2·C = 128)"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: arith.conv2d_params(0, 3, 3, 8), r"conv2d_params: kernel_h=0 is invalid"),
        (lambda: arith.conv2d_params(3, 3, 3, 8.0), r"conv2d_params: filters=8.0 is invalid"),
        (
            lambda: arith.conv2d_params(3, 3, 4, 8, groups=3),
            r"conv2d_params: groups=3 does not divide c_in=4; expected groups to divide both "
            r"c_in and filters",
        ),
        (
            lambda: arith.conv2d_params(3, 3, 6, 8, groups=3),
            r"conv2d_params: groups=3 does not divide filters=8",
        ),
        (
            lambda: arith.conv2d_params(3, 3, 6, 8, bias="yes"),
            r"conv2d_params: bias='yes' is invalid; expected True or False",
        ),
        (
            lambda: arith.depthwise_conv2d_params(3, 3, 8, depth_multiplier=0),
            r"depthwise_conv2d_params: depth_multiplier=0 is invalid; expected a positive int",
        ),
        (
            lambda: arith.depthwise_conv2d_params(3, 3, 8, bias=None),
            r"depthwise_conv2d_params: bias=None is invalid",
        ),
        (lambda: arith.dense_params(0, 10), r"dense_params: n_in=0 is invalid"),
        (lambda: arith.dense_params(10, -1), r"dense_params: n_out=-1 is invalid"),
        (lambda: arith.dense_params(10, 1, bias=0), r"dense_params: bias=0 is invalid"),
        (lambda: arith.batchnorm_params(0), r"batchnorm_params: channels=0 is invalid"),
    ],
)
def test_param_errors(call, match):
    with pytest.raises(GlassnetError, match=match):
        call()
