"""Outputs: what a run produces besides its evidence, as observers the session runs.

The evidence of a run (``trace.blf``, ``run.json``, the inputs, ``manifest.json``) is the
session's own duty and is always written. Everything derived from it is an **output**: the
console progress and summary, the HTML report, the JUnit XML, the certificate, or a lab's
own (a LIMS upload, a dashboard). An output is an :class:`Output`, a
:class:`~harness.runner.RunObserver` with two more hooks:

``run_started(start)``
    when the session is entered, before the DUT is opened (:class:`RunStart`);
``case_started`` / ``step_started`` / ``case_finished``
    as cases run (from :class:`~harness.runner.RunObserver`);
``run_finished(end)``
    once, on every way the run ends (passed, failed, interrupted, incomplete, could not
    start), after the record is final and the evidence folder sealed (:class:`RunEnd`).

The session calls ``run_finished`` of every output even when an earlier one raised; the
first error an output raised is raised after all of them ran (a
:class:`~harness.errors.HarnessError` as it is, so a certificate that fails its own
verification is still exit 4; any other exception as a HarnessError naming the output),
unless the run itself is already ending with an exception. Outputs speak through
:class:`OutputSettings` ``say`` and ``warn``: the CLI prints with rich, the pytest plugin
adds the lines to its summary, :func:`harness.open_session` keeps them in ``lab.notes``.

Outputs are registered in :data:`OUTPUTS` (entry point group ``cc_harness.outputs``) as a
factory taking the :class:`OutputSettings` of the run, usually the output class itself. The
built-in ones (``console``, ``html``, ``junit``, ``certificate``) are the cc-harness
distribution's own entry points, so they are listed and loaded exactly like a lab's::

    [project.entry-points."cc_harness.outputs"]
    lims = "acme_lims:LimsUpload"

:func:`make_outputs` builds the selected ones (default: every registered output).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import InputError
from harness.registry import Registry
from harness.runner import RunObserver

if TYPE_CHECKING:
    from harness.bench import Bench
    from harness.observe import FrameLog
    from harness.profile.compile import Plan
    from harness.record import RunRecord, RunStatus

__all__ = [
    "OUTPUTS",
    "Output",
    "OutputFactory",
    "OutputSettings",
    "RunEnd",
    "RunStart",
    "make_outputs",
]


def _ignore(text: str) -> None:
    pass


@dataclass
class OutputSettings:
    """What the entry point (``harness certify``, the pytest plugin, a lab's script) tells
    the outputs of one run. Each output reads what concerns it and ignores the rest.

    ``junit``: a further path for the JUnit XML (beside ``<evidence>/report/junit.xml``);
    ``issuer``: a :class:`~harness.certificate.issue.Issuer` (the ``certificate`` output
    signs with it; without one it does nothing); ``quiet``: the console shows only the
    summary; ``say``/``warn``: how outputs talk (rich markup allowed; plain callers strip it);
    ``console``/``error_console``: rich consoles, for the ``console`` output;
    ``options``: anything further a lab's output wants (by name).
    """

    junit: Path | None = None
    issuer: Any = None
    quiet: bool = False
    say: Callable[[str], None] = _ignore
    warn: Callable[[str], None] = _ignore
    console: Any = None
    error_console: Any = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunStart:
    """A run about to start: ``record`` is the live record the session fills."""

    plan: Plan
    record: RunRecord
    evidence: Path | None


@dataclass(frozen=True)
class RunEnd:
    """A run that ended, however it ended.

    ``evidence`` is the sealed evidence folder, or None when the run wrote none (no folder
    was asked for, or another run held it): outputs that write files then write nothing.
    ``error`` is the exception the run ended with (None when it completed).
    """

    plan: Plan
    record: RunRecord
    evidence: Path | None
    bench: Bench
    log: FrameLog
    error: BaseException | None = None
    logs: Mapping[str, FrameLog] = field(default_factory=dict)  # each named bus's frames

    @property
    def status(self) -> RunStatus:
        return self.record.status


class Output(RunObserver):
    """One output of a run; override the hooks it needs (each does nothing by default)."""

    name = ""  # the name it is registered under (set by make_outputs)

    def __init__(self, settings: OutputSettings) -> None:
        self.settings = settings

    def run_started(self, start: RunStart) -> None:
        pass

    def run_finished(self, end: RunEnd) -> None:
        pass


OutputFactory = Callable[[OutputSettings], Output]

BUILTIN_ORDER = ("console", "html", "junit", "certificate")
"""The built-in outputs, in the order they run (a lab's run after them)."""


def _check_factory(name: str, item: object) -> None:
    if not callable(item):
        raise TypeError(f"output {name!r}: expected a factory taking OutputSettings")


OUTPUTS: Registry[OutputFactory] = Registry(
    "output", group="cc_harness.outputs", check=_check_factory
)


def make_outputs(
    settings: OutputSettings,
    names: Sequence[str] | None = None,
    *,
    leave_out: Sequence[str] = (),
) -> list[Output]:
    """The outputs ``names`` (default: every registered one but ``leave_out``), built with
    ``settings``, in registry order. An unknown name is an InputError listing the known."""
    chosen = list(OUTPUTS.names()) if names is None else list(names)
    for name in chosen:
        OUTPUTS.get(name)  # InputError with the registered names
    outputs = []
    known = OUTPUTS.names()
    order = [n for n in BUILTIN_ORDER if n in known] + [n for n in known if n not in BUILTIN_ORDER]
    for name in order:
        if name in chosen and name not in leave_out:
            built = OUTPUTS.get(name)(settings)
            if not isinstance(built, Output):
                raise InputError(
                    f"output {name!r} ({OUTPUTS.origin(name)})",
                    expected="a factory returning a harness.Output",
                    got=type(built).__name__,
                )
            built.name = name
            outputs.append(built)
    return outputs
