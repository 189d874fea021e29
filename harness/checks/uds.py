"""UDS checks: each judges one diagnostic exchange read back from the recorded frames.

The diagnostic steps of a profile (``diag``, ``security_access``, ``read_dtcs``) send their
request live and then hand the window of their exchange to one of these checks, which
reassembles the ISO-TP frames from the log (:mod:`harness.uds.exchange`), decodes them with
udsoncan and compares them with the expectation: a positive response (optionally its exact
bytes or their start), a negative response code, or no response at all. Response times are
taken from frame timestamps (the request's last frame to the response's first), never from
when Python got round to it: the first response within P2, each after a 'response pending'
within P2*. So a run re-evaluated from its trace gives the same verdicts.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    model_validator,
)

from harness.checks.base import Check, CheckParams, Resolver, register
from harness.observe import Window
from harness.record import CheckResult, Offender, Verdict
from harness.uds.codec import decode_response, describe_request, hexs, nrc_code, nrc_name
from harness.uds.exchange import (
    FRAME_FORMATS,
    DiagIds,
    Exchange,
    Transfer,
    answer_frames,
    exchanges,
    format_of,
    wrong_format,
)
from harness.units import CanId, Duration, format_duration

__all__ = [
    "HexBytes",
    "NrcValue",
    "ResponseExpect",
    "UdsResponseCheck",
    "expectation",
    "parse_hex",
]


FRAME_FORMATS_SHOWN = {
    "any": "any format",
    "classic": "classic CAN",
    "fd": "CAN FD",
    "fd_brs": "CAN FD with BRS",
}
assert set(FRAME_FORMATS_SHOWN) == set(FRAME_FORMATS)


def parse_hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def _check_hex(text: str) -> str:
    digits = text.replace(" ", "")
    if any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise ValueError("expected hex bytes such as '22 F1 90'")
    if len(digits) % 2:
        raise ValueError("expected whole hex bytes (an even number of digits)")
    return text


def _check_nrc(value: int | str) -> int | str:
    try:
        nrc_code(value)
    except ValueError:
        raise ValueError(
            "expected a negative response code 0x01..0xFF or its udsoncan name, "
            "such as 0x31 or RequestOutOfRange"
        ) from None
    return value


HexBytes = Annotated[str, AfterValidator(_check_hex)]
NrcValue = Annotated[int | str, AfterValidator(_check_nrc)]


class ResponseExpect(BaseModel):
    """What the response must be: none, positive (exact bytes or their start) or an NRC."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    none: StrictBool = Field(default=False, description="true: no response at all")
    positive: StrictBool | None = Field(default=None, description="true: a positive response")
    data: HexBytes | None = Field(default=None, description="the whole positive response")
    prefix: HexBytes | None = Field(default=None, description="how the positive response starts")
    nrc: NrcValue | None = Field(
        default=None, description="negative response code: 0x31 or its name, RequestOutOfRange"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> ResponseExpect:
        wants_positive = self.positive or self.data is not None or self.prefix is not None
        if self.none:
            if wants_positive or self.nrc is not None:
                raise ValueError("expected either none: true or a response, not both")
        elif self.nrc is not None:
            if wants_positive:
                raise ValueError("expected either a positive response or an nrc, not both")
        elif not wants_positive:
            raise ValueError("expected positive: true, data, prefix, nrc or none: true")
        return self


def _shorthand(value: object) -> object:
    """``none`` and ``positive`` stand for ``{none: true}`` and ``{positive: true}``."""
    if value == "none":
        return {"none": True}
    if value == "positive":
        return {"positive": True}
    if isinstance(value, str):
        raise ValueError("expected none, positive, or a mapping with data, prefix or nrc")
    return value


Expectation = Annotated[
    ResponseExpect,
    BeforeValidator(
        _shorthand, json_schema_input_type=Literal["none", "positive"] | ResponseExpect
    ),
]
POSITIVE = ResponseExpect(positive=True)


def expectation(value: ResponseExpect) -> tuple[str, bytes | None, bool, int | None]:
    """(mode, bytes, exact, nrc): mode 'none', 'positive' or 'nrc'."""
    if value.none:
        return "none", None, False, None
    if value.nrc is not None:
        return "nrc", None, False, nrc_code(value.nrc)
    if value.data is not None:
        return "positive", parse_hex(value.data), True, None
    if value.prefix is not None:
        return "positive", parse_hex(value.prefix), False, None
    return "positive", None, False, None


def describe_expectation(value: ResponseExpect) -> str:
    mode, data, exact, nrc = expectation(value)
    if mode == "none":
        return "no response"
    if mode == "nrc":
        assert nrc is not None
        return f"NRC 0x{nrc:02X} {nrc_name(nrc)}"
    if data is None:
        return "positive"
    return f"{hexs(data, 12)}{'' if exact else ' ...'}"


class UdsParams(CheckParams):
    """Addressing every UDS check shares; diagnostic steps fill it from the profile."""

    request_id: CanId = 0x7E0
    functional_id: CanId = 0x7DF
    response_id: CanId = 0x7E8
    addressing: Literal["normal_11", "normal_29", "normal_fixed_29", "extended"] = "normal_11"
    target_address: int | None = Field(default=None, ge=0, le=0xFF)
    functional_address: int | None = Field(default=None, ge=0, le=0xFF)
    source_address: int | None = Field(default=None, ge=0, le=0xFF)
    within: Duration = Field(default=0.050, description="P2: the longest time to a response")
    p2_star: Duration = Field(default=5.0, description="P2*: after a 'response pending'")
    timeout: Duration = Field(default=1.0, description="how long the tester waits")
    frame_format: Literal["any", "classic", "fd", "fd_brs"] = Field(
        default="any",
        description="what every frame of the answer must be: any (not judged), classic, fd "
        "(CAN FD), fd_brs (CAN FD with the bit rate switch)",
    )

    @property
    def ids(self) -> DiagIds:
        return DiagIds(
            self.request_id,
            self.functional_id,
            self.response_id,
            self.addressing,
            self.target_address,
            self.functional_address,
            self.source_address,
        )


class UdsResponseParams(UdsParams):
    kind: Literal["uds_response"]
    request: HexBytes = Field(description="the request payload, e.g. '22 F1 90'")
    functional: bool = False
    expect: Expectation = POSITIVE


def find_exchange(
    window: Window, ids: DiagIds, start: bytes, after: float | None = None
) -> Exchange | None:
    """The first exchange in the window whose request starts with ``start``."""
    for ex in exchanges(window.log, window.t0, window.t1, ids):
        if ex.request.payload.startswith(start) and (after is None or ex.request.first > after):
            return ex
    return None


class Judgement:
    """One exchange judged against an expectation: problems, measurements, an offender."""

    def __init__(self, ex: Exchange, window: Window, p: UdsParams, expect: ResponseExpect) -> None:
        self.ex = ex
        self.problems: list[str] = []
        self.offender: Offender | None = None
        self.final: Transfer | None = ex.final
        what = describe_request(ex.request.payload, ex.functional)
        mode, data, exact, nrc = expectation(expect)
        sent = ex.request.last
        self.meas: dict[str, Any] = {
            "request": hexs(ex.request.payload),
            "addressing": "functional" if ex.functional else "physical",
            "response": None,
            "response_time": None,
            "pending": sum(1 for r in ex.responses if r.is_pending),
            "nrc": None,
        }
        responses = ex.responses
        if mode == "none":
            if responses:
                r = responses[0]
                shown = decode_response(r.payload).describe()
                self.meas.update(response=hexs(r.payload, 64), response_time=r.first - sent)
                self.problems.append(
                    f"{what} was answered ({shown}) after {format_duration(r.first - sent)}; "
                    "expected no response"
                )
                self._blame(r, "unexpected response", p.response_id)
            return
        if not responses:
            waited = window.t1 - sent
            col = window.log.rx_of(p.response_id)
            i, j = col.span(sent, window.t1)
            stray = (
                f"; {j - i} frame(s) on 0x{p.response_id:X} do not read as its answer"
                if j > i
                else ""
            )
            self.problems.append(
                f"no response to {what} within {format_duration(waited)} "
                f"(tester timeout {format_duration(p.timeout)}, P2 {format_duration(p.within)}) "
                f"with {p.ids.describe()}{stray}: check diagnostics.addressing"
            )
            return
        first = responses[0]
        self.meas["response_time"] = first.first - sent
        self._format(window, p, first.first, responses[-1].last)
        if first.first - sent > p.within + 1e-9:
            self.problems.append(
                f"first response ({decode_response(first.payload).describe()}) after "
                f"{format_duration(first.first - sent)}, P2 is {format_duration(p.within)}"
            )
            self._blame(first, "late response", p.response_id)
        for prev, nxt in pairwise(responses):
            if nxt.first - prev.last > p.p2_star + 1e-9:
                self.problems.append(
                    f"response {format_duration(nxt.first - prev.last)} after 'response "
                    f"pending', P2* is {format_duration(p.p2_star)}"
                )
                self._blame(nxt, "late after response pending", p.response_id)
        final = self.final
        if final is None:
            self.problems.append(f"{what}: only 'response pending', no final response")
            return
        decoded = decode_response(final.payload)
        self.decoded = decoded
        self.meas["response"] = hexs(final.payload, 64)
        self.meas["final_time"] = final.first - sent
        self.meas["nrc"] = None if decoded.positive else decoded.code
        if mode == "nrc":
            assert nrc is not None
            if decoded.positive or decoded.code != nrc:
                self.problems.append(
                    f"{what} answered {decoded.describe()}, expected NRC 0x{nrc:02X} "
                    f"{nrc_name(nrc)}"
                )
                self._blame(final, "wrong response", p.response_id)
            return
        if not decoded.positive:
            self.problems.append(f"{what} answered {decoded.describe()}, expected positive")
        elif data is not None and (
            final.payload != data if exact else not final.payload.startswith(data)
        ):
            self.problems.append(
                f"{what} answered {hexs(final.payload, 24)}, expected "
                f"{hexs(data, 24)}{'' if exact else ' ...'}"
            )
        else:
            return
        self._blame(final, "wrong response", p.response_id)

    def _format(self, window: Window, p: UdsParams, t0: float, t1: float) -> None:
        """Every frame of the answer in the format the diagnostics declare."""
        if p.frame_format == "any":
            return
        frames = answer_frames(window.log, p.ids, t0, t1)
        bad = wrong_format(frames, p.frame_format)
        if bad is None:
            return
        ts, data, flags = bad
        wanted = FRAME_FORMATS_SHOWN[p.frame_format]
        got = format_of(flags)
        self.problems.append(
            f"diagnostic frame 0x{p.response_id:X} [{hexs(data[:8])}] at t={ts:.6f} is "
            f"{got}; diagnostics expect {wanted}"
        )
        if self.offender is None:
            self.offender = Offender(
                ts, f"diagnostic frame in {got}", p.response_id, hexs(data[:8])
            )

    def _blame(self, r: Transfer, detail: str, can_id: int) -> None:
        if self.offender is None:
            self.offender = Offender(r.first, detail, can_id, hexs(r.payload[:8]))


def _missing(check: Check, what: str) -> CheckResult:
    return check.result(
        Verdict.ERROR, f"the window holds no request {what}: the tester did not send it"
    )


@register
class UdsResponseCheck(Check):
    """A request in the window got the expected response (or none), the first within P2."""

    kind = "uds_response"
    Params = UdsResponseParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, UdsResponseParams)
        self.p = params
        self.payload = parse_hex(params.request)
        if not self.payload:
            raise resolver.error("request", expected="at least one byte (the service)", got="")
        super().__init__(params, resolver)

    def describe(self) -> str:
        how = " functional" if self.p.functional else ""
        return f"{hexs(self.payload, 8)}{how} -> {describe_expectation(self.p.expect)}"

    def evaluate(self, window: Window) -> CheckResult:
        p = self.p
        ex = find_exchange(window, p.ids, self.payload[:1])
        if ex is None:
            return _missing(self, describe_request(self.payload, p.functional))
        j = Judgement(ex, window, p, p.expect)
        summary = "; ".join(j.problems) if j.problems else self._passed(j)
        limits = {"expect": describe_expectation(p.expect), "within": p.within}
        return self.result(
            Verdict.FAIL if j.problems else Verdict.PASS, summary, j.meas, limits, j.offender
        )

    @staticmethod
    def _passed(j: Judgement) -> str:
        if j.final is None:
            return "no response, as expected"
        shown = j.decoded.describe(24)
        return f"{shown} after {format_duration(j.meas['response_time'])}"
