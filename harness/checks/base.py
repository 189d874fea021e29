"""What a check is, how a profile names it, and how its references are resolved.

A check kind is a :class:`Check` subclass with a pydantic ``Params`` model (what the profile
may write under ``kind: <name>``) registered in :data:`CHECKS` (:func:`register` in the
harness, the ``cc_harness.checks`` entry point group in a lab's package). At load time the profile
builds the check from its params and a :class:`Resolver`, which turns message, signal, value
and marker names into DBC objects or a located :class:`~harness.errors.ProfileError`; so an
unknown reference never survives to run time. At run time :meth:`Check.evaluate` is a pure
function of a :class:`~harness.observe.Window`.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from harness.can.dbc import CanDatabase, MessageCodec, SignalCodec, classic_misfit
from harness.can.e2e import Protection
from harness.errors import InputError, ProfileError
from harness.observe import BusView, Window
from harness.record import CheckResult, Offender, Verdict
from harness.registry import Registry
from harness.units import SignalValue

__all__ = [
    "CHECKS",
    "Check",
    "CheckParams",
    "Resolver",
    "SignalCondition",
    "fail",
    "hexdata",
    "register",
]


class CheckParams(BaseModel):
    """Fields every check accepts; each kind adds its own."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    kind: str
    label: str | None = Field(default=None, description="a name for this check in reports")
    requirements: list[str] | None = Field(
        default=None,
        description="requirement IDs this check shows, when not all of the case's",
    )
    bus: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z][A-Za-z0-9_-]*$",
        description="the bus whose frames the check reads (a name of the profile's buses): "
        "optional with one bus or where its messages name the bus",
    )


class SignalCondition(BaseModel):
    """A condition on one signal value: equals, one_of, and/or an inclusive range."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    equals: SignalValue | None = None
    one_of: list[SignalValue] | None = None
    min: float | None = None
    max: float | None = None

    def is_empty(self) -> bool:
        return self.equals is None and self.one_of is None and self.min is None and self.max is None


class Resolver:
    """Resolves names in one check against the DBC and the case; raises located errors."""

    mqtt: Any = None  # the profile's compiled mqtt section (harness.mqtt.plan.MqttPlan)
    diagnostics: Any = None  # its diagnostics section (harness.profile.diag_model)
    diag_oracle: Any = None  # the oracle its diagnostics section declares (a UdsOracle) or None
    fd: bool = False  # the profile's bus is CAN FD: FD messages of the DBC are in reach

    def __init__(
        self,
        db: CanDatabase,
        e2e: Mapping[str, Protection],
        markers: Sequence[str],
        error: Callable[..., ProfileError],
        base_path: tuple[str | int, ...],
        dut_messages: Sequence[str],
    ) -> None:
        self.db = db
        self.e2e_map = e2e
        self.markers = list(markers)
        self._error = error
        self.base_path = base_path
        self.dut_messages = list(dut_messages)

    def error(
        self,
        field: str | Sequence[str | int],
        message: str | None = None,
        **kw: Any,
    ) -> ProfileError:
        rel = (field,) if isinstance(field, str) else tuple(field)
        return self._error(self.base_path + rel, message=message, **kw)

    def message(self, field: str, name: str) -> MessageCodec:
        if name in self.db.messages:
            misfit = None if self.fd else classic_misfit(self.db.messages[name])
            if misfit is not None:
                raise self.error(field, misfit)
            return self.db.messages[name]
        close = difflib.get_close_matches(name, self.db.messages, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise self.error(
            field,
            f"unknown message in {self.db.source}{hint}",
            expected="a message of the DBC",
            got=name,
            choices=sorted(self.db.messages),
        )

    def signal(self, field: str, msg: MessageCodec, name: str) -> SignalCodec:
        if name in msg.outside:  # kept by a lenient reading; no frame of the message holds it
            raise self.error(
                field,
                f"signal {name} lies beyond the {msg.length} data bytes of {msg.name} "
                f"in {self.db.source}",
                expected="a signal within the frame",
                got=name,
            )
        if name in msg.signals:
            return msg.signals[name]
        raise self.error(
            field,
            f"message {msg.name} has no such signal",
            expected="a signal of " + msg.name,
            got=name,
            choices=sorted(msg.signals),
        )

    def raw_value(self, field: Sequence[str | int], sig: SignalCodec, value: SignalValue) -> int:
        """A physical value or value-table name as the signal's raw integer, range-checked."""
        if isinstance(value, str):
            if value not in sig.choices:
                raise self.error(
                    field,
                    f"signal {sig.name} has no value named so",
                    expected="a value-table name or a number",
                    got=value,
                    choices=sorted(sig.choices) or ["(the signal has no value table)"],
                )
            return sig.choices[value]
        raw = sig.to_raw(value)
        lo = -(1 << (sig.length - 1)) if sig.signed else 0
        hi = (1 << (sig.length - 1)) - 1 if sig.signed else (1 << sig.length) - 1
        if not lo <= raw <= hi:
            raise self.error(
                field,
                f"signal {sig.name} cannot carry this value",
                expected=f"a value between {lo * sig.scale + sig.offset:g} and "
                f"{hi * sig.scale + sig.offset:g} {sig.unit}".rstrip(),
                got=value,
            )
        return raw

    def marker(self, field: str, name: str) -> str:
        if name not in self.markers:
            raise self.error(
                field,
                "no earlier step of this case carries this name",
                expected="the name of an earlier step",
                got=name,
                choices=self.markers or ["(no step of this case is named yet)"],
            )
        return name

    def e2e(self, field: str, msg: MessageCodec) -> Protection:
        prot = self.e2e_map.get(msg.name)
        if prot is None:
            raise self.error(
                field,
                f"message {msg.name} has no E2E protection declared in the profile's e2e section",
                expected="an E2E-protected message",
                got=msg.name,
                choices=sorted(self.e2e_map),
            )
        return prot

    def condition(self, field: str, sig: SignalCodec, cond: SignalCondition) -> RawCondition:
        allowed: set[int] | None = None
        if cond.equals is not None:
            allowed = {self.raw_value((field, "equals"), sig, cond.equals)}
        if cond.one_of is not None:
            values = {
                self.raw_value((field, "one_of", i), sig, v) for i, v in enumerate(cond.one_of)
            }
            allowed = values if allowed is None else allowed & values
        return RawCondition(sig, allowed, cond.min, cond.max)


class RawCondition:
    """A resolved :class:`SignalCondition`: tests a payload quickly."""

    def __init__(
        self, sig: SignalCodec, allowed: set[int] | None, lo: float | None, hi: float | None
    ) -> None:
        self.sig = sig
        self.allowed = allowed
        self.lo = lo
        self.hi = hi

    def matches(self, data: bytes) -> bool:
        raw = self.sig.raw(data)
        if raw is None:
            return False
        if self.allowed is not None and raw not in self.allowed:
            return False
        if self.lo is not None or self.hi is not None:
            value = raw * self.sig.scale + self.sig.offset
            if self.lo is not None and value < self.lo:
                return False
            if self.hi is not None and value > self.hi:
                return False
        return True

    def describe(self) -> str:
        parts = []
        if self.allowed is not None:
            names = sorted(
                self.sig.choice_name(v) or f"{v * self.sig.scale:g}" for v in self.allowed
            )
            parts.append(" or ".join(names))
        if self.lo is not None:
            parts.append(f">= {self.lo:g}")
        if self.hi is not None:
            parts.append(f"<= {self.hi:g}")
        return f"{self.sig.name} " + (" and ".join(parts) if parts else "present")

    def show(self, data: bytes) -> str:
        raw = self.sig.raw(data)
        if raw is None:
            return "absent (payload too short)"
        name = self.sig.choice_name(raw)
        return name if name else f"{raw * self.sig.scale + self.sig.offset:g}"


class Check(ABC):
    """A pure evaluator over a window of observations.

    ``bus`` is set by the profile compiler on a profile with several buses: the check then
    reads that bus's frames as the window's ``can`` stream (:meth:`Window.on_bus`).
    """

    kind: ClassVar[str]
    Params: ClassVar[type[CheckParams]]
    bus: BusView | None = None

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        self.params = params
        self.label = params.label or self.describe()
        self.requirements: tuple[str, ...] = tuple(params.requirements or ())

    def describe(self) -> str:
        return self.kind

    @abstractmethod
    def evaluate(self, window: Window) -> CheckResult: ...

    def result(
        self,
        verdict: Verdict,
        summary: str,
        measurements: Mapping[str, Any] | None = None,
        limits: Mapping[str, Any] | None = None,
        offender: Offender | None = None,
    ) -> CheckResult:
        return CheckResult(
            kind=self.kind,
            verdict=verdict,
            summary=summary,
            measurements=measurements or {},
            limits=limits or {},
            offender=offender,
            label=self.label,
            requirements=self.requirements,
        )


def fail(ok: bool) -> Verdict:
    return Verdict.PASS if ok else Verdict.FAIL


def hexdata(data: bytes) -> str:
    return data.hex(" ").upper()


def _check_kind(name: str, item: object) -> None:
    """Refuse a class that is not a check kind of this name (a plug-in's mistake, named)."""
    problem = None
    if not (isinstance(item, type) and issubclass(item, Check)):
        problem = f"not a harness.checks.Check subclass but {item!r}"
    elif getattr(item, "kind", None) != name:
        problem = f"its kind is {getattr(item, 'kind', None)!r}"
    elif not (isinstance(item.Params, type) and issubclass(item.Params, CheckParams)):
        problem = "its Params is not a harness.checks.CheckParams subclass"
    elif item.Params.model_fields["kind"].annotation is str:
        problem = f"its Params.kind is not Literal[{name!r}]"
    if problem is not None:
        raise InputError(
            f"check kind {name!r} cannot be registered: {problem}",
            expected="a Check subclass whose kind is its registry name, with a Params model "
            "whose kind field is that name",
        )


CHECKS: Registry[type[Check]] = Registry("check kind", "cc_harness.checks", check=_check_kind)
"""Every check kind by name: the built-ins (registered by importing :mod:`harness.checks`)
and a lab's, from the ``cc_harness.checks`` entry point group (``name = "module:CheckClass"``,
the class not decorated with :func:`register`)."""

C = TypeVar("C", bound=type[Check])


def register(cls: C) -> C:
    """Class decorator: add a built-in check kind; a name used twice is an error."""
    CHECKS.add(cls.kind, cls)
    return cls
