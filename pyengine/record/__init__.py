"""Recording live market data: :class:`Recorder` (``pyengine record``) and :func:`check`
(``pyengine record --check``), which proves a recording rebuilds every book."""
from pyengine.record.check import SymbolCheck, check
from pyengine.record.recorder import Recorder, RecorderError

__all__ = ["Recorder", "RecorderError", "SymbolCheck", "check"]
