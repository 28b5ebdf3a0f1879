"""ONNX interchange: export glassnet models, import ONNX CNNs (``pip install 'glassnet[onnx]'``).

>>> from glassnet.onnx import export_onnx, load_onnx_model
>>> export_onnx(gn.zoo.lenet5(), "lenet5.onnx")          # NHWC input, weights, dynamic batch
>>> model = load_onnx_model("resnet.onnx")               # a glassnet graph Model (NHWC input)
>>> model.summary(explain=True)

Imported models are checkpointed with :func:`glassnet.training.imported.save_imported`
(``glassnet import``) and read back with :func:`~glassnet.training.imported.load_imported`.
"""

from glassnet.onnx.export import DEFAULT_OPSET, export_onnx, to_onnx
from glassnet.onnx.importer import load_onnx_model
from glassnet.onnx.model import ImportedModel

__all__ = [
    "DEFAULT_OPSET",
    "ImportedModel",
    "export_onnx",
    "load_onnx_model",
    "to_onnx",
]
