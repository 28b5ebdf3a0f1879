"""Hooks: how a lower layer uses a service that an upper layer implements, without importing it.

Imports flow one way (docs/architecture.md, "Layers and imports"). When a lower layer needs
something only an upper one can do — ``Model.fit`` (models) needs the training loop (training)
— the lower layer defines the protocol it calls, reads the implementation from a :class:`Hook`
here, and the composition root ``glassnet/__init__.py`` (outside every layer) fills the hook
with a factory that imports the implementation on first use. ``import glassnet.models`` thus
loads no training, data, dist or onnx module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from glassnet.errors import GlassnetError

T = TypeVar("T")


class Hook(Generic[T]):
    """One slot for a service: filled once with a factory, built on the first :meth:`get`.

    Args:
        what: what the service is, for the error message when nothing filled the hook.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._factory: Callable[[], T] | None = None
        self._value: T | None = None

    def provide(self, factory: Callable[[], T]) -> None:
        """Fill the hook (replacing any earlier service); ``factory`` runs on the first get."""
        self._factory, self._value = factory, None

    def get(self) -> T:
        """Return the service, building it on the first call.

        Raises:
            GlassnetError: if nothing filled the hook.
        """
        if self._value is None:
            if self._factory is None:
                raise GlassnetError(f"no {self.what} is installed (glassnet/__init__.py does it)")
            self._value = self._factory()
        return self._value


# The engine behind Model.compile/fit/evaluate/predict/save: the protocol is
# glassnet.models.api.TrainingEngine, the implementation glassnet.training.engine.Engine.
TRAINING_ENGINE: Hook[object] = Hook("training engine")
