"""Measurements a lab takes in its own Python code, judged against limits with marginal bands.

A :class:`Measurement` names a quantity, its unit and its limits, the way OpenHTF's
``in_range`` validator does: ``lower <= value <= upper`` passes (both inclusive, either may
be left open); a value inside the limits but in a marginal band (``lower <= value <=
marginal_lower`` or ``marginal_upper <= value <= upper``) still passes and is flagged
*marginal*, so a part that only just passes shows in the report before it starts failing. A
value outside the limits, NaN or missing, fails. :meth:`Measurement.judge` gives the same
:class:`~harness.record.CheckResult` a profile's check gives (kind ``measurement``), so a
measured value goes into ``run.json``, the report and the certificate like any verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.errors import InputError
from harness.record import CheckResult, Verdict

__all__ = ["MEASUREMENT_KIND", "Measurement"]

MEASUREMENT_KIND = "measurement"


def _fmt(value: float, units: str) -> str:
    return f"{value:g}{' ' + units if units else ''}"


@dataclass(frozen=True)
class Measurement:
    """A named quantity with its unit, limits and marginal band (all bounds inclusive).

    ``requirements``: the requirement IDs it shows, when not all of its case's.
    """

    name: str
    units: str = ""
    lower: float | None = None
    upper: float | None = None
    marginal_lower: float | None = None
    marginal_upper: float | None = None
    description: str = ""
    requirements: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        def bad(message: str) -> InputError:
            return InputError(f"measurement {self.name!r}: {message}")

        if not self.name:
            raise InputError("measurement", expected="a name", got="")
        lo, hi, mlo, mhi = self.lower, self.upper, self.marginal_lower, self.marginal_upper
        for what, v in (("lower", lo), ("upper", hi), ("marginal_lower", mlo),
                        ("marginal_upper", mhi)):  # fmt: skip
            if v is not None and (not isinstance(v, (int, float)) or math.isnan(v)):
                raise bad(f"{what} must be a number, not {v!r}")
        if lo is None and hi is None:
            raise bad("give a lower limit, an upper limit or both")
        if lo is not None and hi is not None and lo > hi:
            raise bad(f"lower limit {lo:g} is above the upper limit {hi:g}")
        if mlo is not None and (lo is None or mlo < lo):
            raise bad("marginal_lower needs a lower limit at or below it")
        if mhi is not None and (hi is None or mhi > hi):
            raise bad("marginal_upper needs an upper limit at or above it")
        if mlo is not None and mhi is not None and mlo > mhi:
            raise bad("marginal_lower is above marginal_upper")

    def within(self, value: float) -> bool:
        """Inside the limits (marginal or not)."""
        if math.isnan(value):
            return False
        if self.lower is not None and value < self.lower:
            return False
        return not (self.upper is not None and value > self.upper)

    def is_marginal(self, value: float) -> bool:
        """Inside the limits but in a marginal band."""
        if not self.within(value):
            return False
        if self.marginal_lower is not None and value <= self.marginal_lower:
            return True
        return self.marginal_upper is not None and value >= self.marginal_upper

    def describe_limits(self) -> str:
        """``90 ms <= x <= 110 ms (marginal below 95 ms, above 105 ms)``."""
        text = "x"
        if self.lower is not None:
            text = f"{_fmt(self.lower, self.units)} <= {text}"
        if self.upper is not None:
            text = f"{text} <= {_fmt(self.upper, self.units)}"
        band = []
        if self.marginal_lower is not None:
            band.append(f"at or below {_fmt(self.marginal_lower, self.units)}")
        if self.marginal_upper is not None:
            band.append(f"at or above {_fmt(self.marginal_upper, self.units)}")
        return text + (f" (marginal {' or '.join(band)})" if band else "")

    def limits(self) -> dict[str, float | str | None]:
        out: dict[str, float | str | None] = {"units": self.units}
        for key in ("lower", "upper", "marginal_lower", "marginal_upper"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    def judge(self, value: float | None) -> CheckResult:
        """The verdict on ``value``: PASS (perhaps marginal) inside the limits, FAIL outside."""
        shown = "nothing" if value is None else _fmt(float(value), self.units)
        measured: dict[str, object] = {self.name: value, "units": self.units}
        if value is None or not self.within(float(value)):
            verdict = Verdict.FAIL
            summary = f"{self.name} = {shown}, outside {self.describe_limits()}"
            measured["marginal"] = False
        else:
            marginal = self.is_marginal(float(value))
            verdict = Verdict.PASS
            summary = f"{self.name} = {shown}, within {self.describe_limits()}"
            if marginal:
                summary += "; MARGINAL"
            measured["marginal"] = marginal
        return CheckResult(
            kind=MEASUREMENT_KIND,
            verdict=verdict,
            summary=summary,
            measurements=measured,
            limits=self.limits(),
            label=self.name,
            requirements=self.requirements,
        )
