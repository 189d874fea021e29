"""Adapters behind one protocol: the step kinds a transport executes and the streams it records.

A transport (CAN, MQTT, UDS, the operator at the bench, or a lab's own) is two things:

* an **adapter**, the live object of one run (:class:`Adapter`): it has a ``name``, says what
  it has recorded so far as named observation streams (:meth:`Adapter.streams`, which the
  runner hands to every check in a :class:`~harness.observe.Window`), and is told when a case
  begins and ends (to reset what a case changed and cancel what runs in the background);
* its **step kinds**, registered in :data:`STEP_KINDS` by name (the ``action`` of a
  :class:`~harness.plan.PlannedStep`): each says which adapter it needs and carries the
  function that executes a step of that kind, whose data is the transport's own typed
  dataclass (``step.data``).

The runner (:mod:`harness.runner`) looks a step's kind up here and calls it; it has no branch
per transport. Adding a transport is a module with an adapter and its step kinds, registered
with ``STEP_KINDS.register`` (or from a lab's package, under the entry point group
``cc_harness.step_kinds``), plus ``runner.attach(adapter)`` for the run.

Two kinds belong to no transport and are registered here: ``wait`` (let bus time pass) and
``observe`` (let bus time pass, then judge the step's checks on that span).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from harness.clock import EventLoop
from harness.errors import StepFailed
from harness.fuzz import FuzzContext
from harness.plan import Plan, PlannedStep
from harness.registry import Registry

__all__ = [
    "STEP_KINDS",
    "Adapter",
    "StepContext",
    "StepKind",
    "StepOutcome",
    "step_kind",
]

A = TypeVar("A")


@runtime_checkable
class Adapter(Protocol):
    """A transport's live side in one run (see the module docstring)."""

    name: str

    def streams(self) -> Mapping[str, object]:
        """The observation streams recorded so far, by name (brought up to date first)."""
        ...

    def begin_case(self) -> None:
        """A case starts: undo what the last one changed."""
        ...

    def end_case(self) -> None:
        """A case ends (also on error): stop what the case started in the background."""
        ...


@dataclass(frozen=True)
class StepOutcome:
    """What a step did: when it happened, and where its checks' window starts.

    ``moment`` is the time a step name marks (None: the step's start); ``window_from``, when
    set, makes the runner judge the step's checks from then to the end of the step.
    """

    moment: float | None = None
    window_from: float | None = None


class StepContext(Protocol):
    """What a step kind's function gets from the runner."""

    @property
    def loop(self) -> EventLoop: ...

    @property
    def plan(self) -> Plan: ...

    @property
    def fuzz(self) -> FuzzContext: ...

    def adapter(self, name: str, kind: type[A], missing: str) -> A:
        """The run's adapter ``name`` as ``kind``; StepFailed with ``missing`` when absent."""
        ...


StepFunction = Callable[[StepContext, PlannedStep], StepOutcome]


@dataclass(frozen=True)
class StepKind:
    """A registered step kind: the transport (adapter name) and data type it needs, and the
    function that executes it."""

    name: str
    transport: str
    data: type | tuple[type, ...] | None
    run: StepFunction

    def execute(self, ctx: StepContext, step: PlannedStep) -> StepOutcome:
        if self.data is not None and not isinstance(step.data, self.data):
            raise StepFailed(
                f"{step.path}: a {self.name} step carries {type(step.data).__name__}, "
                f"expected {_type_names(self.data)}"
            )
        return self.run(ctx, step)


def _type_names(data: type | tuple[type, ...]) -> str:
    types = data if isinstance(data, tuple) else (data,)
    return " or ".join(t.__name__ for t in types)


def _check_kind(name: str, item: object) -> None:
    if not isinstance(item, StepKind):
        raise TypeError(f"step kind {name!r}: expected a harness.adapter.StepKind, got {item!r}")
    if item.name != name:
        raise ValueError(f"step kind registered as {name!r} calls itself {item.name!r}")


STEP_KINDS: Registry[StepKind] = Registry(
    "step kind", group="cc_harness.step_kinds", check=_check_kind
)


def step_kind(
    name: str, transport: str, data: type | tuple[type, ...] | None = None
) -> Callable[[StepFunction], StepFunction]:
    """Register the decorated function as step kind ``name`` of adapter ``transport``."""

    def deco(fn: StepFunction) -> StepFunction:
        STEP_KINDS.add(name, StepKind(name, transport, data, fn))
        return fn

    return deco


# -- the kinds of no transport: bus time passing -----------------------------------------------
@step_kind("wait", "core")
def _wait(ctx: StepContext, step: PlannedStep) -> StepOutcome:
    ctx.loop.run_for(step.duration)
    return StepOutcome()


@step_kind("observe", "core")
def _observe(ctx: StepContext, step: PlannedStep) -> StepOutcome:
    t0 = ctx.loop.now()
    ctx.loop.run_for(step.duration)
    return StepOutcome(window_from=t0)
