"""TensorFlow, imported on first use.

Reading a flag, answering `--help` or refusing a misspelt flag must not cost TensorFlow's start-up
(seconds, and a screen of C++ log lines): modules that only touch `tf` inside functions import it
from here (`from schemas.lazy_tf import tensorflow as tf`) and the real import happens on the
first attribute looked up.
"""

from __future__ import annotations

import importlib


class _LazyModule:
    def __init__(self, name: str):
        self.__dict__["_name"] = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self.__dict__["_name"]), attr)

    def __repr__(self) -> str:
        return f"<lazily imported module {self.__dict__['_name']!r}>"


tensorflow = _LazyModule("tensorflow")
