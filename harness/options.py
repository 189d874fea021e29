"""Command-line options shared by ``harness certify`` and the pytest plugin.

An :class:`Option` is one definition (flags, help, type, default) that both an
:mod:`argparse` parser and a pytest option group take, so ``harness certify --junit`` and
``pytest profile.yaml --junit`` mean the same and say the same in ``--help``. The pytest
side prefixes each destination with ``harness_`` (pytest's option namespace is shared by
every plug-in). :func:`output_namespace` reads them back as the argparse-shaped namespace the
run's code takes, whichever side parsed them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "OUTPUT_OPTIONS",
    "Option",
    "add_to_argparse",
    "add_to_pytest",
    "output_names",
    "pytest_namespace",
]

PYTEST_PREFIX = "harness_"


@dataclass(frozen=True)
class Option:
    """One option: its flags, its destination, and the argparse keywords (help, type, ...)."""

    flags: tuple[str, ...]
    dest: str
    kwargs: dict[str, Any] = field(default_factory=dict)


def add_to_argparse(parser: Any, options: Sequence[Option]) -> None:
    """Add ``options`` to an argparse parser or argument group."""
    for opt in options:
        parser.add_argument(*opt.flags, dest=opt.dest, **opt.kwargs)


def add_to_pytest(group: Any, options: Sequence[Option]) -> None:
    """Add ``options`` to a pytest option group (destinations prefixed ``harness_``)."""
    for opt in options:
        group.addoption(*opt.flags, dest=PYTEST_PREFIX + opt.dest, **opt.kwargs)


def pytest_namespace(
    getoption: Callable[[str], Any], options: Sequence[Option]
) -> argparse.Namespace:
    """The values of ``options`` as pytest parsed them, under their argparse destinations."""
    return argparse.Namespace(**{o.dest: getoption(PYTEST_PREFIX + o.dest) for o in options})


def output_names(text: str | None) -> list[str] | None:
    """``--output html,junit``: the names, or None (every registered output)."""
    if text is None:
        return None
    return [n.strip() for n in text.split(",") if n.strip()]


OUTPUT_OPTIONS = (
    Option(
        ("--junit",),
        "junit",
        {
            "type": Path,
            "metavar": "FILE",
            "help": "also write the JUnit XML here (it is always written to "
            "<evidence>/report/junit.xml, beside report.html)",
        },
    ),
    Option(
        ("--output",),
        "outputs",
        {
            "metavar": "NAMES",
            "help": "the outputs to run, comma-separated (default: every registered output: "
            "console, html, junit, certificate, and any a lab's package adds under the entry "
            "point group cc_harness.outputs)",
        },
    ),
)
"""Options naming where a run's outputs go (both entry points)."""
