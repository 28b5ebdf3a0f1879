"""The zoo: every total, AlexNet's rows, ResNet-50's MACs, per-layer counts against torch."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet import layers as L
from glassnet import zoo
from glassnet.errors import GlassnetError

# name -> (trainable params = torchvision/Keras numel, total incl. BatchNorm moving statistics)
TOTALS = {
    "lenet5": (61_706, 61_706),
    "keras_mnist_mlp": (13_002, 13_002),
    "keras_mnist_convnet": (34_826, 34_826),
    "tiny_vgg": (19_920, 19_920),
    "alexnet": (62_378_344, 62_378_344),
    "alexnet_torchvision": (61_100_840, 61_100_840),
    "vgg11": (132_863_336, 132_863_336),
    "vgg13": (133_047_848, 133_047_848),
    "vgg16": (138_357_544, 138_357_544),
    "vgg19": (143_667_240, 143_667_240),
    "resnet18": (11_689_512, 11_699_112),
    "resnet34": (21_797_672, 21_814_696),
    "resnet50": (25_557_032, 25_610_152),
    "googlenet": (6_624_904, 6_639_464),
    "mobilenet_v2": (3_504_872, 3_538_984),  # Keras' MobileNetV2 reports the same pair
}


def test_names_cover_the_table():
    assert set(zoo.names()) == set(TOTALS)


@pytest.mark.parametrize("name", list(TOTALS))
def test_totals(name):
    info = zoo.get(name).summary(print_fn=None)
    assert (info["trainable_params"], info["total_params"]) == TOTALS[name]


def test_alexnet_rows():
    rows = {r["name"]: r["params"] for r in zoo.alexnet().summary(print_fn=None)["layers"]}
    assert {k: rows[k] for k in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc1", "fc2",
                                 "fc3")} == {
        "conv1": 34_944, "conv2": 614_656, "conv3": 885_120, "conv4": 1_327_488,
        "conv5": 884_992, "fc1": 37_752_832, "fc2": 16_781_312, "fc3": 4_097_000,
    }


def test_macs_of_known_models():
    macs = {n: zoo.get(n).summary(print_fn=None)["total_macs"] for n in
            ("resnet50", "resnet18", "vgg16", "alexnet_torchvision", "mobilenet_v2")}
    assert round(macs["resnet50"] / 1e9, 2) == 4.09  # torchvision's table: 4.09 GFLOPS (MACs)
    assert round(macs["resnet18"] / 1e9, 2) == 1.81
    assert round(macs["vgg16"] / 1e9, 2) == 15.47
    assert round(macs["alexnet_torchvision"] / 1e9, 2) == 0.71
    assert round(macs["mobilenet_v2"] / 1e9, 2) == 0.30


def test_input_shape_and_classes_kwargs():
    m = zoo.get("AlexNet", input_shape=(227, 227, 1), num_classes=10)
    assert m.output_shape == (10,) and m.input_shape == (227, 227, 1)
    with pytest.raises(GlassnetError, match=r"zoo: unknown model 'alexnet2'; valid names: lenet5"):
        zoo.get("alexnet2")


def test_small_chain_models_forward(rng):
    for name in ("lenet5", "keras_mnist_mlp", "keras_mnist_convnet", "tiny_vgg"):
        m = zoo.get(name)
        out = m(rng.random((2, *m.input_shape), dtype=np.float32))
        assert out.shape == (2, 10)
        np.testing.assert_allclose(out.data.sum(axis=1), 1.0, rtol=1e-5)


# ----- per-layer counts against torch.nn modules built on the meta device (no memory) ----------
def _numel_by_layer(module, torch):
    out = {}
    for name, mod in module.named_modules():
        params = list(mod.parameters(recurse=False))
        if params:
            out[name] = sum(p.numel() for p in params)
    return out


def _ours_by_layer(model):
    return {r["name"]: r["trainable_params"] for r in model.summary(print_fn=None)["layers"]
            if r["trainable_params"]}


def test_lenet5_and_alexnets_per_layer_vs_torch(torch):
    nn = torch.nn
    with torch.device("meta"):
        lenet = nn.ModuleDict({"conv1": nn.Conv2d(1, 6, 5), "conv2": nn.Conv2d(6, 16, 5),
                               "fc1": nn.Linear(400, 120), "fc2": nn.Linear(120, 84),
                               "fc3": nn.Linear(84, 10)})
        alex = nn.ModuleDict({"conv1": nn.Conv2d(3, 96, 11, 4), "conv2": nn.Conv2d(96, 256, 5),
                              "conv3": nn.Conv2d(256, 384, 3), "conv4": nn.Conv2d(384, 384, 3),
                              "conv5": nn.Conv2d(384, 256, 3), "fc1": nn.Linear(9216, 4096),
                              "fc2": nn.Linear(4096, 4096), "fc3": nn.Linear(4096, 1000)})
        tv = nn.ModuleDict({"conv1": nn.Conv2d(3, 64, 11, 4, 2), "conv2": nn.Conv2d(64, 192, 5),
                            "conv3": nn.Conv2d(192, 384, 3), "conv4": nn.Conv2d(384, 256, 3),
                            "conv5": nn.Conv2d(256, 256, 3), "fc1": nn.Linear(9216, 4096),
                            "fc2": nn.Linear(4096, 4096), "fc3": nn.Linear(4096, 1000)})
    assert _ours_by_layer(zoo.lenet5()) == _numel_by_layer(lenet, torch)
    assert _ours_by_layer(zoo.alexnet()) == _numel_by_layer(alex, torch)
    assert _ours_by_layer(zoo.alexnet_torchvision()) == _numel_by_layer(tv, torch)


def test_vgg16_per_layer_vs_torch(torch):
    nn = torch.nn
    mods, c_in, block, conv = {}, 3, 1, 1
    with torch.device("meta"):
        for item in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                     512, 512, 512, "M"]:
            if item == "M":
                block, conv = block + 1, 1
                continue
            mods[f"block{block}_conv{conv}"] = nn.Conv2d(c_in, item, 3, padding=1)
            c_in, conv = item, conv + 1
        mods |= {"fc1": nn.Linear(25088, 4096), "fc2": nn.Linear(4096, 4096),
                 "predictions": nn.Linear(4096, 1000)}
        tmod = nn.ModuleDict(mods)
    assert _ours_by_layer(zoo.vgg16()) == _numel_by_layer(tmod, torch)


def _torch_resnet(torch, blocks, bottleneck):
    """torchvision's ResNet layer names and shapes, rebuilt from torch.nn (no torchvision)."""
    nn = torch.nn
    exp = 4 if bottleneck else 1

    class Block(nn.Module):
        def __init__(self, c_in, planes, stride):
            super().__init__()
            ks = (1, 3, 1) if bottleneck else (3, 3)
            outs = (planes, planes, planes * exp) if bottleneck else (planes, planes)
            c = c_in
            for i, (k, o) in enumerate(zip(ks, outs, strict=True), start=1):
                setattr(self, f"conv{i}", nn.Conv2d(c, o, k, bias=False))
                setattr(self, f"bn{i}", nn.BatchNorm2d(o))
                c = o
            if stride != 1 or c_in != planes * exp:
                self.downsample = nn.Sequential(nn.Conv2d(c_in, planes * exp, 1, bias=False),
                                                nn.BatchNorm2d(planes * exp))

    net = nn.Module()
    net.conv1, net.bn1 = nn.Conv2d(3, 64, 7, bias=False), nn.BatchNorm2d(64)
    c_in = 64
    for s, (n, planes) in enumerate(zip(blocks, (64, 128, 256, 512), strict=True), start=1):
        layer = []
        for i in range(n):
            layer.append(Block(c_in, planes, 2 if s > 1 and i == 0 else 1))
            c_in = planes * exp
        setattr(net, f"layer{s}", nn.Sequential(*layer))
    net.fc = nn.Linear(512 * exp, 1000)
    return net


@pytest.mark.parametrize(("name", "blocks", "bottleneck"), [
    ("resnet18", (2, 2, 2, 2), False), ("resnet34", (3, 4, 6, 3), False),
    ("resnet50", (3, 4, 6, 3), True),
])
def test_resnets_per_layer_vs_torch(torch, name, blocks, bottleneck):
    with torch.device("meta"):
        net = _torch_resnet(torch, blocks, bottleneck)
    ours = _ours_by_layer(zoo.get(name))
    assert ours == _numel_by_layer(net, torch)
    buffers = sum(b.numel() for n, b in net.named_buffers() if "running" in n)
    info = zoo.get(name).summary(print_fn=None)
    assert info["non_trainable_params"] == buffers


def test_zoo_layers_are_fresh_objects():
    a, b = zoo.lenet5(), zoo.lenet5()
    assert not set(map(id, a.layers)) & set(map(id, b.layers))
    assert isinstance(a.layers[0], L.Conv2D)


def test_models_remember_how_to_rebuild():
    m = zoo.get("alexnet", input_shape=(227, 227, 1))
    assert (m.zoo_name, m.zoo_kwargs) == ("alexnet", {"input_shape": [227, 227, 1]})
    assert zoo.lenet5((32, 32, 2), 5).zoo_kwargs == {"input_shape": [32, 32, 2], "num_classes": 5}
    again = zoo.get(m.zoo_name, **m.zoo_kwargs)
    assert again.summary(print_fn=None) == m.summary(print_fn=None)
