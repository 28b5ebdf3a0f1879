"""Keras model files (``.keras``, ``.h5``) read without Keras (``pip install 'glassnet[keras]'``).

>>> from glassnet.keras import load_keras_model
>>> model = load_keras_model("mnist_convnet.keras")     # Keras' layer names and weights
>>> model.summary(explain=True)

Only h5py is needed (imported on first use); Keras and TensorFlow are never imported.
"""

from glassnet.keras.convert import SUPPORTED
from glassnet.keras.files import SUFFIXES
from glassnet.keras.reader import load_keras_model

__all__ = ["SUFFIXES", "SUPPORTED", "load_keras_model"]
