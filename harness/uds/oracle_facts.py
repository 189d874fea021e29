"""The facts a diagnostic oracle judges by, and what it answers (:mod:`harness.uds.oracle`).

A part's diagnostic specification as data: its services (:class:`ServiceInfo`: sub-functions,
request lengths, the sessions that offer them), its DIDs (:class:`DidInfo`: readable in which
sessions, behind security or not, writable or not), the order in which it checks a request
(:data:`ISO_NRC_ORDER` or the part's own) and the requirement each kind of finding traces
(:class:`Requirements`). The profile declares them (``diagnostics: oracle:``,
:mod:`harness.profile.oracle_model`); CC-TCU-1's are also built in
(:data:`CC_TCU_1_SERVICES`, :data:`CC_TCU_1_DIDS`, configuring :data:`harness.uds.oracle.CC_TCU_1`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from harness.uds.codec import hexs, nrc_name

__all__ = [
    "CC_TCU_1_DIDS",
    "CC_TCU_1_SERVICES",
    "DEFAULT_SESSION",
    "GATES",
    "NOT_FOR_FUNCTIONAL",
    "SUPPRESS",
    "DidInfo",
    "Expect",
    "OracleState",
    "PositiveShape",
    "Requirements",
    "ServiceInfo",
    "session_name",
]

NOT_FOR_FUNCTIONAL = frozenset({0x11, 0x12, 0x31, 0x7E, 0x7F})
DEFAULT_SESSION = 0x01
SUPPRESS = 0x80
GATES = frozenset({0x11, 0x12, 0x13, 0x7E, 0x7F})
"""The NRCs a part checks every request for before its service's own checks: unsupported
service (0x11, always first), sub-function (0x12), sub-function in the session (0x7E),
service in the session (0x7F), length (0x13). Their order is the part's (``nrc_order``)."""

_SESSION_NAMES = {0x01: "default", 0x02: "programming", 0x03: "extended"}


def session_name(session: int) -> str:
    return _SESSION_NAMES.get(session, f"0x{session:02X}")


@dataclass(frozen=True)
class PositiveShape:
    """What a positive response must look like: exact bytes, or a prefix and a length rule."""

    prefix: bytes
    exact: bool = False
    length: int | None = None  # the whole response's length
    records: int | None = None  # the bytes after the prefix come in records of this size
    check: Callable[[bytes], str | None] | None = None  # further structure; a problem or None
    text: str = ""

    def problem(self, payload: bytes) -> str | None:
        """Why ``payload`` is not such a positive response (None: it is)."""
        if self.exact:
            return None if payload == self.prefix else f"expected exactly {hexs(self.prefix)}"
        if not payload.startswith(self.prefix):
            return f"expected {hexs(self.prefix)} ..."
        if self.length is not None and len(payload) != self.length:
            return f"expected {self.length} bytes, got {len(payload)}"
        if self.records and (len(payload) - len(self.prefix)) % self.records:
            return f"expected records of {self.records} bytes after {hexs(self.prefix)}"
        return self.check(payload) if self.check is not None else None

    def describe(self) -> str:
        if self.text:
            return self.text
        return hexs(self.prefix) if self.exact else f"{hexs(self.prefix)} ..."


@dataclass(frozen=True)
class Expect:
    """The answers the specification allows to one request."""

    requirement: str
    reason: str
    nrcs: frozenset[int] = frozenset()
    positive: PositiveShape | None = None
    silent: bool = False  # no response is allowed

    @property
    def must_be_silent(self) -> bool:
        return self.silent and not self.nrcs and self.positive is None

    def describe(self) -> str:
        parts = []
        if self.positive is not None:
            parts.append(f"positive {self.positive.describe()}")
        parts.extend(f"NRC 0x{code:02X} {nrc_name(code)}" for code in sorted(self.nrcs))
        if self.silent:
            parts.append("no response")
        return " or ".join(parts) if parts else "nothing"


@dataclass(frozen=True)
class ServiceInfo:
    """A service of the part as its specification lists it (also what the fuzzer aims at)."""

    sid: int
    name: str
    requirement: str  # the requirement its own answers trace
    subfunctions: frozenset[int] | None  # valid values (bit 7 clear); None: no sub-function
    lengths: Mapping[int | None, frozenset[int]]  # valid single-frame lengths by sub-function
    extended_only: bool = False  # offered in the extended session (0x03) only
    suppress: str = "open"  # "fixed": bit 7 suppresses (the page says so); "open": not said
    sessions: frozenset[int] | None = None  # the sessions offering it (None: every one)
    sub_sessions: Mapping[int, frozenset[int]] | None = None  # sub-function -> its sessions

    def offered_in(self) -> frozenset[int] | None:
        """The sessions that offer the service (None: every session)."""
        if self.sessions is not None:
            return self.sessions
        return frozenset({0x03}) if self.extended_only else None

    def valid_lengths(self, sub: int | None) -> frozenset[int]:
        return self.lengths.get(sub, frozenset())


@dataclass
class OracleState:
    """The part's diagnostic state as the specification has it after the requests so far."""

    session: int | None = None  # None: unknown (before the first session request)
    unlocked: bool | None = None  # None: unknown
    last_request: float | None = None
    quiet_until: float = float("-inf")  # an ECUReset: the part may not answer until then


@dataclass(frozen=True)
class DidInfo:
    """A data identifier of the part: its record's length, and who may read and write it."""

    name: str
    length: int | None  # bytes of its record (None: variable)
    readable: bool = True
    read_sessions: frozenset[int] | None = None  # None: every session
    read_security: bool = False  # reading needs security unlocked
    writable: bool = False
    write_security: bool = False  # writing needs security unlocked (0x33 while locked)


@dataclass(frozen=True)
class Requirements:
    """The requirement each kind of finding traces where no service's own rule decides."""

    unsupported: str  # NRC 0x11 for a service the part does not have
    subfunction: str  # NRC 0x12 (and 0x7E)
    length: str  # NRC 0x13, and a SecurityAccess request of the wrong length
    malformed: str  # a stimulus that makes no valid ISO-TP request must get no answer


# -- CC-TCU-1 (shared/reference-tcu.md, UDS-001..UDS-008) ------------------------------------
CC_TCU_1_SERVICES: dict[int, ServiceInfo] = {
    0x10: ServiceInfo(
        0x10,
        "DiagnosticSessionControl",
        "UDS-001",
        frozenset({0x01, 0x03}),
        {0x01: frozenset({2}), 0x03: frozenset({2})},
    ),
    0x11: ServiceInfo(0x11, "ECUReset", "UDS-007", frozenset({0x01}), {0x01: frozenset({2})}),
    0x14: ServiceInfo(0x14, "ClearDiagnosticInformation", "UDS-006", None, {None: frozenset({4})}),
    0x19: ServiceInfo(
        0x19, "ReadDTCInformation", "UDS-006", frozenset({0x02}), {0x02: frozenset({3})}
    ),
    0x22: ServiceInfo(0x22, "ReadDataByIdentifier", "UDS-003", None, {None: frozenset({3, 5, 7})}),
    0x27: ServiceInfo(
        0x27,
        "SecurityAccess",
        "UDS-004",
        frozenset({0x01, 0x02}),
        {0x01: frozenset({2}), 0x02: frozenset({6})},
        sessions=frozenset({0x03}),
    ),
    0x2E: ServiceInfo(
        0x2E,
        "WriteDataByIdentifier",
        "UDS-005",
        None,
        {None: frozenset({7})},
        sessions=frozenset({0x03}),
    ),
    0x3E: ServiceInfo(
        0x3E,
        "TesterPresent",
        "UDS-002",
        frozenset({0x00}),
        {0x00: frozenset({2})},
        suppress="fixed",
    ),
}

CC_TCU_1_DIDS: dict[int, DidInfo] = {
    0xF190: DidInfo("vin", 17),
    0xF189: DidInfo("sw_version", None),
    0xF18C: DidInfo("serial", 12),
    0xF1A0: DidInfo("station_id", 4, writable=True, write_security=True),
}
