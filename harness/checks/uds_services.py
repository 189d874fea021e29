"""UDS checks that understand a service: SecurityAccess with a seed-to-key algorithm, and
ReadDTCInformation with expected DTCs and status bits.

Like every check they only read the recorded frames: the security check finds the seed in the
DUT's response and recomputes the key the tester should have sent from it (the algorithm is
named in the profile), so a re-evaluation from the trace needs the same algorithm, not the
part. The DTC check decodes the response with udsoncan's ReadDTCInformation interpreter.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator
from udsoncan.exceptions import InvalidResponseException
from udsoncan.services.ReadDTCInformation import ReadDTCInformation

from harness.checks.base import Check, CheckParams, Resolver, fail, register
from harness.checks.uds import (
    POSITIVE,
    Expectation,
    Judgement,
    UdsParams,
    _missing,
    describe_expectation,
    find_exchange,
)
from harness.errors import InputError
from harness.observe import Window
from harness.record import CheckResult, Verdict
from harness.uds.codec import hexs
from harness.uds.seedkey import get_algorithm, make_key
from harness.units import format_duration

__all__ = ["DtcExpect", "UdsDtcCheck", "UdsSecurityAccessCheck"]


class UdsSecurityParams(UdsParams):
    kind: Literal["uds_security_access"]
    level: int = Field(default=1, ge=1, le=0x7D, description="the requestSeed sub-function (odd)")
    algorithm: str = Field(description="seed-to-key algorithm name, e.g. cc-tcu-1")
    key: Literal["correct", "wrong"] = Field(
        default="correct", description="wrong: send the correct key with every bit inverted"
    )
    expect: Expectation = Field(default=POSITIVE, description="the answer to the key")
    already_unlocked: bool = Field(
        default=False,
        description="true: security is expected unlocked already (seed 00 00 00 00, no key); "
        "false: a new seed is expected",
    )

    @model_validator(mode="after")
    def _odd(self) -> UdsSecurityParams:
        if self.level % 2 == 0:
            raise ValueError(f"expected an odd requestSeed level (1, 3, ...), but got {self.level}")
        return self


@register
class UdsSecurityAccessCheck(Check):
    """requestSeed answered with a seed; the key the algorithm gives answered as expected."""

    kind = "uds_security_access"
    Params = UdsSecurityParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, UdsSecurityParams)
        self.p = params
        try:
            get_algorithm(params.algorithm)
        except InputError as exc:
            raise resolver.error(
                "algorithm", exc.detail, expected=exc.expected, got=exc.got, choices=exc.choices
            ) from None
        super().__init__(params, resolver)

    def describe(self) -> str:
        p = self.p
        if p.already_unlocked:
            return f"SecurityAccess level 0x{p.level:02X} already unlocked (zero seed)"
        return (
            f"SecurityAccess level 0x{p.level:02X} ({p.algorithm}, {p.key} key) -> "
            f"{describe_expectation(p.expect)}"
        )

    def evaluate(self, window: Window) -> CheckResult:
        p = self.p
        seed_req = bytes([0x27, p.level])
        seed_ex = find_exchange(window, p.ids, seed_req)
        if seed_ex is None:
            return _missing(self, hexs(seed_req))
        seed_j = Judgement(seed_ex, window, p, POSITIVE)
        meas: dict[str, Any] = {"seed_request": seed_j.meas}
        limits = {"expect": describe_expectation(p.expect), "within": p.within}
        if seed_j.problems or seed_j.final is None:
            return self.result(
                Verdict.FAIL,
                "seed: " + "; ".join(seed_j.problems),
                meas,
                limits,
                seed_j.offender,
            )
        seed = seed_j.final.payload[2:]
        meas["seed"] = hexs(seed)
        unlocked = bool(seed) and not any(seed)
        if unlocked or p.already_unlocked:
            ok = unlocked == p.already_unlocked
            if unlocked:
                text = f"security already unlocked (seed {hexs(seed)})"
                text += "" if ok else ": expected a new seed (security locked)"
            else:
                text = f"new seed {hexs(seed)}: security was locked, expected it unlocked"
            return self.result(fail(ok), text, meas, limits, None if ok else seed_j.offender)
        key_ex = find_exchange(window, p.ids, bytes([0x27, p.level + 1]), seed_ex.request.first)
        if key_ex is None:
            return _missing(self, hexs(bytes([0x27, p.level + 1])) + " (sendKey)")
        key = key_ex.request.payload[2:]
        meas["key"] = hexs(key)
        try:
            wanted = make_key(p.algorithm, seed, p.level, p.key)
        except ValueError as exc:
            return self.result(Verdict.FAIL, f"seed {hexs(seed)}: {exc}", meas, limits)
        if key != wanted:
            return self.result(
                Verdict.ERROR,
                f"the tester sent key {hexs(key)}, the {p.key} key for seed {hexs(seed)} is "
                f"{hexs(wanted)}",
                meas,
                limits,
            )
        key_j = Judgement(key_ex, window, p, p.expect)
        meas["key_request"] = key_j.meas
        if key_j.problems:
            return self.result(
                Verdict.FAIL, "key: " + "; ".join(key_j.problems), meas, limits, key_j.offender
            )
        answer = "no response" if key_j.final is None else key_j.decoded.describe()
        return self.result(
            Verdict.PASS, f"seed {hexs(seed)}, {p.key} key {hexs(key)}: {answer}", meas, limits
        )


class DtcExpect(BaseModel):
    """One DTC: reported with these status bits, or not reported at all."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    dtc: int = Field(ge=0, le=0xFFFFFF, description="the 3-byte DTC, e.g. 0xC12200")
    status: int | None = Field(default=None, ge=0, le=0xFF, description="the exact status byte")
    set: list[int] = Field(default_factory=list, description="status bits that must be set")
    clear: list[int] = Field(default_factory=list, description="status bits that must be clear")
    absent: StrictBool = Field(default=False, description="true: the DTC is not reported")

    @model_validator(mode="after")
    def _bits(self) -> DtcExpect:
        for bit in (*self.set, *self.clear):
            if not 0 <= bit <= 7:
                raise ValueError(f"expected status bit numbers 0..7, but got {bit}")
        if self.absent and (self.status is not None or self.set or self.clear):
            raise ValueError("expected either absent: true or status bits, not both")
        return self


class UdsDtcParams(UdsParams):
    kind: Literal["uds_dtcs"]
    status_mask: int = Field(default=0xFF, ge=0, le=0xFF, description="the request's mask")
    dtcs: list[DtcExpect] = Field(default_factory=list)
    availability: int | None = Field(
        default=None, ge=0, le=0xFF, description="the expected status availability mask"
    )
    only: bool = Field(default=False, description="true: no DTC other than those listed")


@register
class UdsDtcCheck(Check):
    """ReadDTCInformation 0x02 (by status mask) reports the expected DTCs and status bits."""

    kind = "uds_dtcs"
    Params = UdsDtcParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, UdsDtcParams)
        self.p = params
        super().__init__(params, resolver)

    def describe(self) -> str:
        wants = []
        for d in self.p.dtcs:
            if d.absent:
                wants.append(f"no {d.dtc:06X}")
            elif d.status is not None:
                wants.append(f"{d.dtc:06X}={d.status:02X}")
            else:
                bits = [f"+{b}" for b in d.set] + [f"-{b}" for b in d.clear]
                wants.append(f"{d.dtc:06X}{''.join(bits)}")
        return f"DTCs by mask 0x{self.p.status_mask:02X}: " + (", ".join(wants) or "any")

    def evaluate(self, window: Window) -> CheckResult:
        p = self.p
        ex = find_exchange(window, p.ids, bytes([0x19, 0x02]))
        if ex is None:
            return _missing(self, "19 02 (ReadDTCInformation by status mask)")
        j = Judgement(ex, window, p, POSITIVE)
        limits: dict[str, Any] = {"within": p.within, "expect": self.describe()}
        if j.problems or j.final is None:
            return self.result(Verdict.FAIL, "; ".join(j.problems), j.meas, limits, j.offender)
        response = j.decoded.response
        try:
            ReadDTCInformation.interpret_response(response, subfunction=2)
        except (InvalidResponseException, ValueError) as exc:
            return self.result(Verdict.FAIL, f"malformed DTC report: {exc}", j.meas, limits)
        data = response.service_data
        assert data is not None
        reported = {d.id: d.status.get_byte_as_int() for d in data.dtcs}  # type: ignore[attr-defined]
        avail = data.status_availability.get_byte_as_int()  # type: ignore[attr-defined]
        meas = dict(j.meas)
        meas["availability"] = f"0x{avail:02X}"
        meas["dtcs"] = {f"{k:06X}": f"0x{v:02X}" for k, v in sorted(reported.items())}
        problems: list[str] = []
        if p.availability is not None and avail != p.availability:
            problems.append(f"status availability 0x{avail:02X}, expected 0x{p.availability:02X}")
        for d in p.dtcs:
            status = reported.get(d.dtc)
            name = f"{d.dtc:06X}"
            if d.absent:
                if status is not None:
                    problems.append(f"{name} reported (status 0x{status:02X}), expected absent")
                continue
            if status is None:
                problems.append(f"{name} not reported")
                continue
            if d.status is not None and status != d.status:
                problems.append(f"{name} status 0x{status:02X}, expected 0x{d.status:02X}")
            for bit in d.set:
                if not status >> bit & 1:
                    problems.append(f"{name} status 0x{status:02X}: bit {bit} not set")
            for bit in d.clear:
                if status >> bit & 1:
                    problems.append(f"{name} status 0x{status:02X}: bit {bit} set")
        if p.only:
            listed = {d.dtc for d in p.dtcs if not d.absent}
            extra = sorted(set(reported) - listed)
            if extra:
                problems.append("unexpected DTCs: " + ", ".join(f"{x:06X}" for x in extra))
        shown = ", ".join(f"{k} 0x{v[2:]}" for k, v in meas["dtcs"].items()) or "no DTC"
        summary = (
            "; ".join(problems)
            if problems
            else f"{shown} after {format_duration(meas['response_time'])}"
        )
        return self.result(
            Verdict.FAIL if problems else Verdict.PASS, summary, meas, limits, j.offender
        )
