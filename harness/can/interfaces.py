"""What a python-can interface takes as options, read from python-can itself.

A bench's ``can.options`` go to ``can.Bus`` as keyword arguments, and python-can silently
ignores one its interface does not know; :func:`interface_options` lists what an interface
takes (its bus class's named parameters, the keys its module reads from ``**kwargs``,
python-can's common ones and the bit-timing keys) so the bench can refuse a misspelt one.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import re
from collections.abc import Iterator

import can

__all__ = ["interface_options"]

# Keyword arguments python-can itself handles for every interface (can.Bus, BusABC).
_COMMON_OPTIONS = frozenset({"bitrate", "data_bitrate", "fd", "timing", "can_filters"})
_KWARG_USE = re.compile(r"""kwargs(?:\.get|\.pop|\.setdefault)?\s*[\[(]\s*["'](\w+)["']""")


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def interface_options(interface: str) -> frozenset[str] | None:
    """The keyword arguments the python-can ``interface`` takes: its bus class's named
    parameters, the keys its module reads from ``**kwargs``, and python-can's common ones.
    None when the interface cannot be inspected here (its module does not import)."""
    try:
        module_name, class_name = can.interfaces.BACKENDS[interface]
        with _quiet("can"):  # a vendor backend logs that its library is missing
            module = importlib.import_module(module_name)
        bus_class = getattr(module, class_name)
        params = inspect.signature(bus_class.__init__).parameters
        source = inspect.getsource(inspect.getmodule(bus_class) or module)
    except Exception:  # a vendor backend whose library is missing: python-can decides later
        return None
    named = {
        name
        for name, p in params.items()
        if name not in ("self", "channel") and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }
    return frozenset(named | set(_KWARG_USE.findall(source)) | _COMMON_OPTIONS | _timing_options())


def _timing_options() -> set[str]:
    """Bit-timing keys (``f_clock``, ``nom_brp``, ...) that backends take from ``**kwargs``."""
    names: set[str] = set()
    for timing in (can.BitTiming, can.BitTimingFd):
        names.update(p for p in inspect.signature(timing.__init__).parameters if p != "self")
    return names | {"f_clock_mhz", "auto_reset"}
