"""The decoders by name: the one place that knows them (the CLIs' --decoder, the decoding child).

Its own module so that neither decoder imports the other (decord's wrapper builds on the exact
decoder's checks), and so that decord is looked up, not imported, until a clip is decoded.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Callable

DECODERS = ("pyav", "decord")


def get_decoder(name: str) -> Callable:
    """The decode_clip function of decoder `name` ('pyav', the default, or 'decord')."""
    if name == "pyav":
        from preprocess.video import decoder

        return decoder.decode_clip
    if name == "decord":
        if importlib.util.find_spec("decord") is None:
            raise ValueError(
                "--decoder=decord needs the decord package, which is not installed; "
                "install the extra: pip install 'aslvid2gloss[decord]'"
            )
        from preprocess.video import decord_decoder

        return decord_decoder.decode_clip
    raise ValueError(f"unknown decoder {name!r}; expected one of {', '.join(DECODERS)}")


def resolve(name: str) -> Callable:
    """A name of DECODERS, or 'package.module:function' (a function with decode_clip's
    signature: the tests' crashing and hanging decoders plug in this way)."""
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            function = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as e:
            raise ValueError(
                f"decoder {name!r}: cannot import {attr} from {module_name} ({e})"
            ) from e
        if not callable(function):
            raise ValueError(f"decoder {name!r} is not a function")
        return function
    return get_decoder(name)
