"""The diagnostic oracle as it was before its facts came from the profile: CC-TCU-1's rules
written out by hand (harness/uds/oracle.py up to issue 11), kept frozen here as the reference
that tests/uds/test_oracle_profile.py holds the profile-configured oracle to.

Not registered; not used by the harness.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from harness.uds.codec import hexs, nrc_name

__all__ = ["LEGACY_CC_TCU_1", "LegacyOracle"]

NOT_FOR_FUNCTIONAL = frozenset({0x11, 0x12, 0x31, 0x7E, 0x7F})
DEFAULT_SESSION = 0x01
EXTENDED_SESSION = 0x03
SUPPRESS = 0x80


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
    extended_only: bool = False
    suppress: str = "open"  # "fixed": bit 7 suppresses (the page says so); "open": not said

    def valid_lengths(self, sub: int | None) -> frozenset[int]:
        return self.lengths.get(sub, frozenset())


@dataclass
class OracleState:
    """The part's diagnostic state as the specification has it after the requests so far."""

    session: int | None = None  # None: unknown (before the first session request)
    unlocked: bool | None = None  # None: unknown
    last_request: float | None = None
    quiet_until: float = float("-inf")  # an ECUReset: the part may not answer until then


def _only(code: int, requirement: str, reason: str) -> Expect:
    return Expect(requirement, reason, frozenset({code}))


class LegacyOracle:
    """The oracle of one part's diagnostic specification (built-in: :data:`CC_TCU_1`)."""

    def __init__(
        self,
        name: str,
        services: Mapping[int, ServiceInfo],
        dids: Mapping[int, int | None],
        *,
        key_length: int,
        s3: float,
        reset_quiet: float,
        p2: float = 0.050,
        p2_star: float = 5.0,
    ) -> None:
        self.name = name
        self.services = dict(services)
        self.dids = dict(dids)  # readable DID -> data length (None: variable)
        self.key_length = key_length
        self.s3 = s3
        self.reset_quiet = reset_quiet
        self.p2 = p2
        self.p2_star = p2_star

    def with_timing(self, p2: float, p2_star: float) -> LegacyOracle:
        """The same oracle for a profile's P2 and P2* (announced in the 0x10 answer)."""
        return LegacyOracle(
            self.name,
            self.services,
            self.dids,
            key_length=self.key_length,
            s3=self.s3,
            reset_quiet=self.reset_quiet,
            p2=p2,
            p2_star=p2_star,
        )

    @property
    def supported(self) -> frozenset[int]:
        return frozenset(self.services)

    # -- one request ---------------------------------------------------------------------------
    def expect(
        self, payload: bytes, functional: bool, state: OracleState, t: float | None = None
    ) -> Expect:
        """The answers allowed to ``payload`` in ``state`` (at bus time ``t``)."""
        self._age(state, t)
        e = self._physical(payload, state)
        if t is not None and t < state.quiet_until:
            e = dataclasses.replace(e, silent=True, reason=e.reason + "; the part is restarting")
        if functional:
            e = self._functional(e)
        return e

    @staticmethod
    def _functional(e: Expect) -> Expect:
        banned = e.nrcs & NOT_FOR_FUNCTIONAL
        if not banned:
            return e
        shown = ", ".join(f"0x{c:02X}" for c in sorted(banned))
        return dataclasses.replace(
            e,
            nrcs=e.nrcs - banned,
            silent=True,
            reason=f"{e.reason}; functional: no answer instead of NRC {shown}",
        )

    def _physical(self, p: bytes, st: OracleState) -> Expect:
        sid = p[0]
        svc = self.services.get(sid)
        if svc is None:
            return _only(0x11, "UDS-008", f"service 0x{sid:02X} is not supported")
        base: int | None = None
        open_suppress = False
        if svc.subfunctions is not None and len(p) >= 2:
            sub = p[1]
            base = sub & 0x7F
            if base not in svc.subfunctions:
                return _only(0x12, "UDS-008", f"{svc.name} has no sub-function 0x{sub:02X}")
            if sub & SUPPRESS and svc.suppress == "open":
                open_suppress = True
        e = self._session_and_length(p, svc, base, st)
        if open_suppress:
            return self._open_suppress(e, p[1])
        if base is not None and p[1] & SUPPRESS and e.positive is not None:
            # the page fixes it (TesterPresent): bit 7 suppresses the positive answer only
            return dataclasses.replace(
                e, positive=None, silent=True, reason=e.reason + "; bit 7: no positive answer"
            )
        return e

    @staticmethod
    def _open_suppress(e: Expect, sub: int) -> Expect:
        """Bit 7 where the page does not say whether the service suppresses: no answer instead
        of the positive one, the base sub-function's NRCs, or 0x12 for the value 0x8n."""
        return Expect(
            e.requirement,
            f"{e.reason}; bit 7 of sub-function 0x{sub:02X}: suppressed, or an unknown value",
            e.nrcs | {0x12},
            None,
            silent=e.silent or e.positive is not None,
        )

    def _session_and_length(
        self, p: bytes, svc: ServiceInfo, base: int | None, st: OracleState
    ) -> Expect:
        maybe_7f = False
        if svc.extended_only:
            if st.session == DEFAULT_SESSION:
                req = svc.requirement
                return _only(0x7F, req, f"{svc.name} is not offered in the default session")
            maybe_7f = st.session is None
        e = self._service(p, svc, base, st)
        if maybe_7f:
            e = dataclasses.replace(
                e,
                nrcs=e.nrcs | {0x7F},
                reason=e.reason + "; the session is not known: 0x7F if it is the default one",
            )
        return e

    def _service(self, p: bytes, svc: ServiceInfo, base: int | None, st: OracleState) -> Expect:
        sid, n = p[0], len(p)
        too_short = _only(0x13, "UDS-008", f"{svc.name} request of the wrong length ({n} bytes)")
        if svc.subfunctions is not None and n < 2:
            return too_short
        if sid == 0x10:
            if n != 2:
                return too_short
            assert base is not None
            p2 = round(self.p2 * 1000).to_bytes(2, "big")
            p2s = round(self.p2_star * 100).to_bytes(2, "big")
            shape = PositiveShape(bytes([0x50, base]) + p2 + p2s, exact=True)
            return Expect("UDS-001", "session change", positive=shape)
        if sid == 0x11:
            if n != 2:
                return too_short
            return Expect("UDS-007", "ECU reset", positive=PositiveShape(b"\x51\x01", exact=True))
        if sid == 0x14:
            if n != 4:
                return too_short
            if p[1:4] != b"\xff\xff\xff":
                return _only(0x31, "UDS-006", f"DTC group {hexs(p[1:4])} is not known")
            return Expect("UDS-006", "clear all DTCs", positive=PositiveShape(b"\x54", exact=True))
        if sid == 0x19:
            if n != 3:
                return too_short
            shape = PositiveShape(b"\x59\x02\x09", records=4, text="59 02 09 (DTC records)")
            return Expect("UDS-006", "DTCs by status mask", positive=shape)
        if sid == 0x22:
            return self._read_dids(p, too_short)
        if sid == 0x27:
            return self._security(p, base)
        if sid == 0x2E:
            return self._write_did(p, st, too_short)
        if sid == 0x3E:
            if n != 2:
                return too_short
            return Expect("UDS-002", "tester present", positive=PositiveShape(b"\x7e\x00", True))
        raise AssertionError(f"no rule for service 0x{sid:02X}")  # pragma: no cover

    def _read_dids(self, p: bytes, too_short: Expect) -> Expect:
        n = len(p)
        if n < 3 or (n - 1) % 2:
            return too_short
        dids = [int.from_bytes(p[k : k + 2], "big") for k in range(1, n, 2)]
        known = [d for d in dids if d in self.dids]
        what = " ".join(f"{d:04X}" for d in dids)
        if not known:
            return _only(0x31, "UDS-003", f"no DID of {what} is readable")
        shape = PositiveShape(
            bytes([0x62]) + known[0].to_bytes(2, "big"),
            check=lambda payload: self._did_records(payload, known),
            text=f"62 {' ..., '.join(f'{d >> 8:02X} {d & 0xFF:02X}' for d in known)} ...",
        )
        nrcs: set[int] = set()
        reasons = [f"read {what}"]
        if len(known) < len(dids):
            nrcs.add(0x31)
            reasons.append("some DIDs unknown: their records left out, or 0x31")
        if len(dids) > 1:
            nrcs.add(0x13)
            reasons.append("0x13 if the part reads one DID per request")
        return Expect("UDS-003", "; ".join(reasons), frozenset(nrcs), shape)

    def _did_records(self, payload: bytes, known: list[int]) -> str | None:
        pos = 1
        for i, did in enumerate(known):
            if payload[pos : pos + 2] != did.to_bytes(2, "big"):
                return f"expected the record of DID {did:04X} at byte {pos}"
            pos += 2
            size = self.dids[did]
            if size is not None:
                pos += size
            elif i + 1 == len(known):
                pos = len(payload)
            else:
                nxt = payload.find(known[i + 1].to_bytes(2, "big"), pos + 1)
                if nxt < 0:
                    return f"expected the record of DID {known[i + 1]:04X}"
                pos = nxt
        if pos != len(payload):
            return f"expected {pos} bytes for the DIDs asked, got {len(payload)}"
        return None

    def _security(self, p: bytes, base: int | None) -> Expect:
        n = len(p)
        if base == 0x01:
            if n != 2:
                return Expect(
                    "UDS-008",
                    f"requestSeed of the wrong length ({n} bytes); 0x37 if locked out",
                    frozenset({0x13, 0x37}),
                )
            shape = PositiveShape(
                b"\x67\x01", length=6, check=_seed_problem, text="67 01 <4-byte seed>"
            )
            return Expect("UDS-004", "requestSeed; 0x37 if locked out", frozenset({0x37}), shape)
        if n != 2 + self.key_length:
            return Expect(
                "UDS-008",
                f"sendKey of the wrong length ({n} bytes); 0x24 if no seed is pending",
                frozenset({0x13, 0x24}),
            )
        return Expect(
            "UDS-004",
            "sendKey: a wrong key, no pending seed or the lockout",
            frozenset({0x24, 0x35, 0x36}),
            PositiveShape(b"\x67\x02", exact=True),
        )

    def _write_did(self, p: bytes, st: OracleState, too_short: Expect) -> Expect:
        if len(p) < 3:
            return too_short
        did = int.from_bytes(p[1:3], "big")
        if did != 0xF1A0:
            return _only(0x31, "UDS-005", f"DID {did:04X} is unknown or read-only")
        if len(p) != 7:
            return _only(0x13, "UDS-005", f"station_id data of {len(p) - 3} bytes, not 4")
        shape = PositiveShape(b"\x6e\xf1\xa0", exact=True)
        if st.unlocked is False:
            return _only(0x33, "UDS-005", "security is locked")
        if st.unlocked is None:
            return Expect("UDS-005", "security may be locked", frozenset({0x33}), shape)
        return Expect("UDS-005", "write station_id", positive=shape)

    # -- the stream ----------------------------------------------------------------------------
    def _age(self, st: OracleState, t: float | None) -> None:
        """S3: 5 s without a request fall back to the default session (near 5 s: unknown).
        An unknown session is the default one after that, too."""
        if t is None or st.last_request is None or st.session == DEFAULT_SESSION:
            return
        gap = t - st.last_request
        if gap > self.s3 + 0.2:
            st.session, st.unlocked = DEFAULT_SESSION, False
        elif gap > self.s3 - 0.2:
            st.session, st.unlocked = None, False

    def update(self, st: OracleState, payload: bytes, t: float, answer: bytes | None) -> None:
        """Follow the part's state after ``payload`` (sent at ``t``) got ``answer``: its final
        response, None for none. A request the page says changes the state changes it when
        the part accepted it (positively, or silently with the suppress bit); a refusal
        leaves the state as it was, and no answer where one was due leaves it unknown."""
        self._age(st, t)
        st.last_request = t
        if not payload or (answer is not None and answer[:1] == b"\x7f"):
            return
        sid, n = payload[0], len(payload)
        suppressed = n >= 2 and answer is None and bool(payload[1] & SUPPRESS)
        # a request the restarting part may have dropped: whether it took effect is unknown
        accepted = answer is not None or (suppressed and t >= st.quiet_until)
        if sid == 0x10 and n == 2 and payload[1] & 0x7F in (DEFAULT_SESSION, EXTENDED_SESSION):
            st.session = payload[1] & 0x7F if accepted else None
            st.unlocked = False if accepted else None
        elif sid == 0x11 and n == 2 and payload[1] & 0x7F == 0x01:
            st.session, st.unlocked = (DEFAULT_SESSION, False) if accepted else (None, None)
            st.quiet_until = t + self.reset_quiet
        elif sid == 0x27 and answer is not None and answer[:2] == b"\x67\x02":
            st.unlocked = True


def _seed_problem(payload: bytes) -> str | None:
    seed = payload[2:6]
    if any(seed) and not all(seed):
        return f"seed {hexs(seed)}: each byte non-zero, or 00 00 00 00 when unlocked"
    return None


LEGACY_CC_TCU_1 = LegacyOracle(
    "cc-tcu-1",
    {
        0x10: ServiceInfo(
            0x10,
            "DiagnosticSessionControl",
            "UDS-001",
            frozenset({0x01, 0x03}),
            {0x01: frozenset({2}), 0x03: frozenset({2})},
        ),
        0x11: ServiceInfo(0x11, "ECUReset", "UDS-007", frozenset({0x01}), {0x01: frozenset({2})}),
        0x14: ServiceInfo(
            0x14, "ClearDiagnosticInformation", "UDS-006", None, {None: frozenset({4})}
        ),
        0x19: ServiceInfo(
            0x19, "ReadDTCInformation", "UDS-006", frozenset({0x02}), {0x02: frozenset({3})}
        ),
        0x22: ServiceInfo(
            0x22, "ReadDataByIdentifier", "UDS-003", None, {None: frozenset({3, 5, 7})}
        ),
        0x27: ServiceInfo(
            0x27,
            "SecurityAccess",
            "UDS-004",
            frozenset({0x01, 0x02}),
            {0x01: frozenset({2}), 0x02: frozenset({6})},
            extended_only=True,
        ),
        0x2E: ServiceInfo(
            0x2E,
            "WriteDataByIdentifier",
            "UDS-005",
            None,
            {None: frozenset({7})},
            extended_only=True,
        ),
        0x3E: ServiceInfo(
            0x3E,
            "TesterPresent",
            "UDS-002",
            frozenset({0x00}),
            {0x00: frozenset({2})},
            suppress="fixed",
        ),
    },
    {0xF190: 17, 0xF189: None, 0xF18C: 12, 0xF1A0: 4},  # VIN, sw_version, serial, station_id
    key_length=4,
    s3=5.0,
    reset_quiet=0.650,  # silent 400..600 ms after the answer, then P2 to answer again
)
"""CC-TCU-1 (``shared/reference-tcu.md``, UDS-001..UDS-008)."""


class _Requirements:
    malformed = "UDS-008"  # the judge's ISOTP_REQUIREMENT constant before issue 11


LegacyOracle.requirements = _Requirements()  # type: ignore[attr-defined]
