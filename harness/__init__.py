"""cc-harness: certify connected-car components over CAN, V2X/MQTT and UDS from YAML profiles.

Layers
------
Imports point down only; ``lint-imports`` (the contract in ``pyproject.toml``, run by
``.ci/run``) fails CI when one points up. From the top:

1. ``cli``, then ``pytest_plugin`` (over ``pytest_fixtures``, then ``pytest_state`` beside
   ``lab``, the Python API a lab's own tests use): the entry points.
2. ``server`` and ``certificate`` (one layer: ``harness certificate upload`` talks to the
   server's client, the server issues and verifies certificates), then ``qualify`` (over
   ``queue``: ``qualify --queue`` spreads its runs over the queue's bench workers, whose job
   kinds are a registry the qualification job joins by entry point), then ``queue`` and
   ``init_cli`` (independent of each other), then ``report``, then ``offline``: the outputs
   and the tools built on a run.
3. ``session`` (opens buses, broker, DUT and evidence for a run), then ``run_outputs`` (the
   outputs registry the session runs on every way out), then ``session_mqtt`` (its
   MQTT wiring, including the simulated TCU's MQTT backend).
4. ``runner``: executes a plan's steps through the adapters and evaluates checks.
5. ``sim``: the simulated DUTs. They are DUT providers: above the adapters whose far side
   they speak (CAN, MQTT, UDS server) and the bench that places them, below the session that
   starts them.
6. ``bench``: the bench description. Above ``profile`` (it reuses the profile's error
   location) and the adapters (it holds their bench settings).
7. ``conformance`` (a part's statement of optional features, which the bench may hold),
   then ``profile``: YAML to validated models to a plan, using the registered checks.
8. ``checks``: pure evaluators over a window; they read what the adapters record and never
   touch a bus, a broker or a client (a second ``forbidden`` contract).
9. The adapters ``uds``, ``mqtt``, ``operator`` (independent of each other), over ``can``
   (which the UDS link rides on), over ``adapter``: the protocol every transport implements
   and the registry of step kinds the runner dispatches through, beside ``dut`` (the DUT
   provider protocol and registry).
10. ``outputs`` (the evidence folder's claim and the run record's writer), then ``evidence``
    (the bundle, its manifest and verification).
11. ``plan``: the compiled, frozen test plan, data only.
12. The base: ``errors``, ``identity``, ``measure``, ``options``, ``clock``, ``units``,
    ``canonical``, ``observe``, ``record``, ``registry``, ``safeio``, ``spill``, ``fuzz``,
    ``trace``, ``runjson``, ``yamlsafe``, ``yamlscalar``, ``yamlsyntax``: they import only
    each other.

Imports under ``if TYPE_CHECKING:`` are left out of the contract: a lower layer may name a
higher one's type in an annotation (the plan names the DBC codec and the profile model it
carries), never load it.

Public API
----------
The public Python API is this namespace (``__all__``); everything else is internal and may
move. Names are imported on first use, so ``import harness`` (and ``harness --help``) stays
fast. A lab writes a test in Python with :func:`open_session`, :class:`Measurement` and the
records; it extends the harness through the registries (:data:`CHECKS`, :data:`OUTPUTS`) and
their entry point groups.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.bench import Bench, load_bench
    from harness.can.lab import Frame, LabBus
    from harness.checks import CHECKS, Check, CheckParams
    from harness.errors import HarnessError, InputError, ProfileError, RunIncomplete
    from harness.lab import LabCase, LabSession, build_check, open_session
    from harness.measure import Measurement
    from harness.profile.compile import Plan, load_profile
    from harness.record import CaseRecord, CheckResult, RunRecord, RunStatus, Verdict
    from harness.registry import Registry
    from harness.run_outputs import (
        OUTPUTS,
        Output,
        OutputSettings,
        RunEnd,
        RunStart,
        make_outputs,
    )
    from harness.session import DutChoice, Session

__version__ = "0.1.0"

_WHERE = {
    # a lab's test in Python
    "open_session": "harness.lab",
    "LabSession": "harness.lab",
    "LabCase": "harness.lab",
    "LabBus": "harness.can.lab",
    "Frame": "harness.can.lab",
    "Measurement": "harness.measure",
    "build_check": "harness.lab",
    # inputs and the session underneath
    "load_profile": "harness.profile.compile",
    "Plan": "harness.profile.compile",
    "load_bench": "harness.bench",
    "Bench": "harness.bench",
    "Session": "harness.session",
    "DutChoice": "harness.session",
    # records
    "Verdict": "harness.record",
    "RunStatus": "harness.record",
    "CheckResult": "harness.record",
    "CaseRecord": "harness.record",
    "RunRecord": "harness.record",
    # extension points
    "Registry": "harness.registry",
    "CHECKS": "harness.checks",
    "Check": "harness.checks",
    "CheckParams": "harness.checks",
    "OUTPUTS": "harness.run_outputs",
    "Output": "harness.run_outputs",
    "OutputSettings": "harness.run_outputs",
    "RunStart": "harness.run_outputs",
    "RunEnd": "harness.run_outputs",
    "make_outputs": "harness.run_outputs",
    # errors
    "HarnessError": "harness.errors",
    "InputError": "harness.errors",
    "ProfileError": "harness.errors",
    "RunIncomplete": "harness.errors",
}

__all__ = [
    "CHECKS",
    "OUTPUTS",
    "Bench",
    "CaseRecord",
    "Check",
    "CheckParams",
    "CheckResult",
    "DutChoice",
    "Frame",
    "HarnessError",
    "InputError",
    "LabBus",
    "LabCase",
    "LabSession",
    "Measurement",
    "Output",
    "OutputSettings",
    "Plan",
    "ProfileError",
    "Registry",
    "RunEnd",
    "RunIncomplete",
    "RunRecord",
    "RunStart",
    "RunStatus",
    "Session",
    "Verdict",
    "__version__",
    "build_check",
    "load_bench",
    "load_profile",
    "make_outputs",
    "open_session",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value  # once found, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
