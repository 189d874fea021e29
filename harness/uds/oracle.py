"""What a part's diagnostic specification demands of one request: the oracle of diagnostic fuzz.

The oracle is written from the specification, never from the simulator: its facts (services,
sub-functions, request lengths, sessions, DIDs readable and writable, the NRC order and the
requirement each finding traces, :mod:`harness.uds.oracle_facts`) come from the profile's
``diagnostics: oracle:`` (:mod:`harness.profile.oracle_model`), or from a registered oracle
such as :data:`CC_TCU_1` (``shared/reference-tcu.md``, UDS-001..UDS-008); what the services
mean is ISO 14229-1's. For a single request it says which
answers the page allows (:class:`Expect`): a positive response of a given shape, a set of
negative response codes, and/or no response at all. Where the page fixes the answer, the set
has one member:

* an unsupported service: NRC 0x11 (CC-TCU-1: UDS-008);
* a sub-function the service does not have: NRC 0x12;
* a service the active session does not offer: NRC 0x7F (CC-TCU-1: SecurityAccess and
  WriteDataByIdentifier outside the extended session);
* a request too short for its service, or of the wrong length: NRC 0x13 (UDS-008);

in the part's priority order (``nrc_order``; CC-TCU-1: 0x11, 0x12, 0x7F, 0x13), then each
service's own checks (UDS-001..UDS-006). Where the page
leaves a choice open, the oracle allows each reading and says so in :attr:`Expect.reason`:
whether bit 7 of a sub-function suppresses the positive response (the page fixes it only for
TesterPresent, UDS-002: for the others either no answer, the base sub-function's NRCs, or
NRC 0x12 for an unknown sub-function value); which of 0x13 and 0x37 (or 0x24) comes first for a
SecurityAccess request of the wrong length; whether a part answers several DIDs in one request.
Functionally addressed requests never get NRC 0x11, 0x12, 0x31, 0x7E or 0x7F: no answer instead.

Some answers depend on the part's state: the session (SecurityAccess and WriteDataByIdentifier
answer 0x7F in the default session) and security. :class:`OracleState` follows it through a
stream of requests as the page has it (an accepted 0x10 changes the session and relocks, 5 s
without a request fall back to the default session, an ECUReset restarts the part); where it
cannot know (before the first session request), both answers are allowed.

Each expectation names the requirement whose text decides it, so that a check can fail exactly
the requirement a part breaks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from harness.errors import InputError
from harness.registry import Registry
from harness.uds.codec import hexs
from harness.uds.oracle_facts import (
    CC_TCU_1_DIDS,
    CC_TCU_1_SERVICES,
    DEFAULT_SESSION,
    NOT_FOR_FUNCTIONAL,
    SUPPRESS,
    DidInfo,
    Expect,
    OracleState,
    PositiveShape,
    Requirements,
    ServiceInfo,
    session_name,
)

__all__ = [
    "CC_TCU_1",
    "ISO_NRC_ORDER",
    "NOT_FOR_FUNCTIONAL",
    "ORACLES",
    "DidInfo",
    "Expect",
    "OracleState",
    "PositiveShape",
    "Requirements",
    "ServiceInfo",
    "UdsOracle",
    "get_oracle",
    "resolve_oracle",
]

ISO_NRC_ORDER = (0x11, 0x7F, 0x13, 0x12, 0x7E)  # ISO 14229-1's general server response
CC_NRC_ORDER = (0x11, 0x12, 0x7F, 0x13)


def _only(code: int, requirement: str, reason: str) -> Expect:
    return Expect(requirement, reason, frozenset({code}))


def _dids(dids: Mapping[int, int | DidInfo | None]) -> dict[int, DidInfo]:
    out: dict[int, DidInfo] = {}
    for did, v in dids.items():
        out[did] = v if isinstance(v, DidInfo) else DidInfo(f"DID {did:04X}", v)
    return out


class UdsOracle:
    """The oracle of one part's diagnostic specification, from its facts (built-in:
    :data:`CC_TCU_1`; a profile's: :func:`harness.profile.oracle_model.build_oracle`)."""

    def __init__(
        self,
        name: str,
        services: Mapping[int, ServiceInfo],
        dids: Mapping[int, int | DidInfo | None],
        *,
        key_length: int,
        s3: float,
        reset_quiet: float,
        p2: float = 0.050,
        p2_star: float = 5.0,
        seed_length: int = 4,
        nrc_order: Sequence[int] = CC_NRC_ORDER,
        requirements: Requirements | None = None,
        dtc_groups: frozenset[int] = frozenset({0xFFFFFF}),
        dtc_availability: int = 0x09,
    ) -> None:
        self.name = name
        self.services = dict(services)
        self.did_info = _dids(dids)
        self.dids = {d: i.length for d, i in self.did_info.items() if i.readable}
        self.key_length = key_length
        self.seed_length = seed_length
        self.s3 = s3
        self.reset_quiet = reset_quiet
        self.p2 = p2
        self.p2_star = p2_star
        self.nrc_order = tuple(nrc_order)
        self.requirements = requirements or Requirements("UDS-008", "UDS-008", "UDS-008", "UDS-008")
        self.dtc_groups = dtc_groups
        self.dtc_availability = dtc_availability

    def with_timing(self, p2: float, p2_star: float) -> UdsOracle:
        """The same oracle for a profile's P2 and P2* (announced in the 0x10 answer)."""
        other = object.__new__(UdsOracle)
        other.__dict__.update(self.__dict__)
        other.p2, other.p2_star = p2, p2_star
        return other

    def facts(self) -> dict[str, object]:
        """Everything the oracle judges by (two oracles with equal facts judge alike)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("name", "dids")}

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

    def _gates(
        self, p: bytes, svc: ServiceInfo, base: int | None, st: OracleState
    ) -> tuple[Expect | None, set[int], list[str]]:
        """The part's general checks in its order: (an early answer or None, NRCs allowed
        because the session is not known, why)."""
        n = len(p)
        maybe: set[int] = set()
        why: list[str] = []
        for k, code in enumerate(self.nrc_order):
            if code == 0x12 and base is not None and base not in (svc.subfunctions or ()):
                req = self.requirements.subfunction
                return _only(0x12, req, f"{svc.name} has no sub-function 0x{p[1]:02X}"), maybe, why
            if code == 0x7F and (offered := svc.offered_in()) is not None:
                if st.session is None:
                    maybe.add(0x7F)
                    why.append("the session is not known: 0x7F if it is the default one")
                elif st.session not in offered:
                    where = session_name(st.session)
                    reason = f"{svc.name} is not offered in the {where} session"
                    return _only(0x7F, svc.requirement, reason), maybe, why
            if code == 0x7E and base is not None and svc.sub_sessions:
                offered = svc.sub_sessions.get(base)
                if offered is not None and st.session is None:
                    maybe.add(0x7E)
                    why.append("the session is not known: 0x7E if it does not offer it")
                elif offered is not None and st.session not in offered:
                    reason = f"sub-function 0x{base:02X} is not offered in this session"
                    return _only(0x7E, self.requirements.subfunction, reason), maybe, why
            if code == 0x13 and k + 1 < len(self.nrc_order):
                valid = svc.valid_lengths(base)
                shortest = min((min(v) for v in svc.lengths.values() if v), default=1)
                wrong = bool(valid) and n not in valid and svc.sid not in (0x22, 0x2E)
                if n < shortest or (svc.subfunctions is not None and n < 2) or wrong:
                    reason = f"{svc.name} request of the wrong length ({n} bytes)"
                    return _only(0x13, self.requirements.length, reason), maybe, why
        return None, maybe, why

    def _physical(self, p: bytes, st: OracleState) -> Expect:
        sid = p[0]
        svc = self.services.get(sid)
        if svc is None:
            return _only(
                0x11, self.requirements.unsupported, f"service 0x{sid:02X} is not supported"
            )
        base = p[1] & 0x7F if svc.subfunctions is not None and len(p) >= 2 else None
        early, maybe, why = self._gates(p, svc, base, st)
        e = early if early is not None else self._service(p, svc, base, st)
        if maybe:
            e = dataclasses.replace(e, nrcs=e.nrcs | maybe, reason="; ".join([e.reason, *why]))
        if base is None or base not in (svc.subfunctions or ()):
            return e
        if p[1] & SUPPRESS and svc.suppress == "open":
            return self._open_suppress(e, p[1])
        if p[1] & SUPPRESS and e.positive is not None:
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

    def _service(self, p: bytes, svc: ServiceInfo, base: int | None, st: OracleState) -> Expect:
        """The service's own checks, as ISO 14229-1 has the service, with the part's facts."""
        sid, n = p[0], len(p)
        req = svc.requirement
        too_short = _only(
            0x13, self.requirements.length, f"{svc.name} request of the wrong length ({n} bytes)"
        )
        if svc.subfunctions is not None and n < 2:
            return too_short
        if sid == 0x22:
            return self._read_dids(p, svc, st, too_short)
        if sid == 0x27:
            return self._security(p, svc, base)
        if sid == 0x2E:
            return self._write_did(p, svc, st, too_short)
        if n not in svc.valid_lengths(base):
            return too_short
        if sid == 0x10:
            assert base is not None
            p2 = round(self.p2 * 1000).to_bytes(2, "big")
            p2s = round(self.p2_star * 100).to_bytes(2, "big")
            shape = PositiveShape(bytes([0x50, base]) + p2 + p2s, exact=True)
            return Expect(req, "session change", positive=shape)
        if sid == 0x11:
            assert base is not None
            return Expect(req, "ECU reset", positive=PositiveShape(bytes([0x51, base]), exact=True))
        if sid == 0x14:
            group = int.from_bytes(p[1:4], "big")
            if n != 4 or group not in self.dtc_groups:
                return _only(0x31, req, f"DTC group {hexs(p[1:4])} is not known")
            return Expect(req, "clear all DTCs", positive=PositiveShape(b"\x54", exact=True))
        if sid == 0x19 and base == 0x02:
            head = bytes([0x59, 0x02, self.dtc_availability])
            shape = PositiveShape(head, records=4, text=f"{hexs(head)} (DTC records)")
            return Expect(req, "DTCs by status mask", positive=shape)
        if sid == 0x3E:
            assert base is not None
            return Expect(req, "tester present", positive=PositiveShape(bytes([0x7E, base]), True))
        head = bytes([sid + 0x40]) + (bytes([p[1]]) if base is not None else b"")
        return Expect(req, f"{svc.name}", positive=PositiveShape(head))

    def _read_dids(self, p: bytes, svc: ServiceInfo, st: OracleState, too_short: Expect) -> Expect:
        n = len(p)
        if n < 3 or (n - 1) % 2:
            return too_short
        dids = [int.from_bytes(p[k : k + 2], "big") for k in range(1, n, 2)]
        nrcs: set[int] = set()
        reasons: list[str] = []
        known = []
        for d in dids:
            info = self.did_info.get(d)
            if info is None or not info.readable:
                continue
            if info.read_sessions is not None and st.session not in info.read_sessions:
                if st.session is not None:
                    continue
                nrcs.add(0x31)
                reasons.append(f"{info.name}: 0x31 if the session does not offer it")
            if info.read_security and st.unlocked is not True:
                nrcs.add(0x33)
                reasons.append(f"{info.name}: 0x33 while security is locked")
            known.append(d)
        what = " ".join(f"{d:04X}" for d in dids)
        if not known:
            return _only(0x31, svc.requirement, f"no DID of {what} is readable")
        shape = PositiveShape(
            bytes([0x62]) + known[0].to_bytes(2, "big"),
            check=lambda payload: self._did_records(payload, known),
            text=f"62 {' ..., '.join(f'{d >> 8:02X} {d & 0xFF:02X}' for d in known)} ...",
        )
        reasons.insert(0, f"read {what}")
        if len(known) < len(dids):
            nrcs.add(0x31)
            reasons.insert(1, "some DIDs unknown: their records left out, or 0x31")
        if len(dids) > 1:
            nrcs.add(0x13)
            reasons.append("0x13 if the part reads one DID per request")
        return Expect(svc.requirement, "; ".join(reasons), frozenset(nrcs), shape)

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

    def _security(self, p: bytes, svc: ServiceInfo, base: int | None) -> Expect:
        n = len(p)
        assert base is not None
        if base % 2:
            if n != 2:
                return Expect(
                    self.requirements.length,
                    f"requestSeed of the wrong length ({n} bytes); 0x37 if locked out",
                    frozenset({0x13, 0x37}),
                )
            seed = self.seed_length
            shape = PositiveShape(
                bytes([0x67, base]),
                length=2 + seed,
                check=_seed_problem,
                text=f"67 {base:02X} <{seed}-byte seed>",
            )
            return Expect(
                svc.requirement, "requestSeed; 0x37 if locked out", frozenset({0x37}), shape
            )
        if n != 2 + self.key_length:
            return Expect(
                self.requirements.length,
                f"sendKey of the wrong length ({n} bytes); 0x24 if no seed is pending",
                frozenset({0x13, 0x24}),
            )
        return Expect(
            svc.requirement,
            "sendKey: a wrong key, no pending seed or the lockout",
            frozenset({0x24, 0x35, 0x36}),
            PositiveShape(bytes([0x67, base]), exact=True),
        )

    def _write_did(self, p: bytes, svc: ServiceInfo, st: OracleState, too_short: Expect) -> Expect:
        if len(p) < 3:
            return too_short
        did = int.from_bytes(p[1:3], "big")
        info = self.did_info.get(did)
        req = svc.requirement
        if info is None or not info.writable:
            return _only(0x31, req, f"DID {did:04X} is unknown or read-only")
        size = len(p) - 3
        if (info.length is not None and size != info.length) or size == 0:
            want = info.length if info.length is not None else "at least 1"
            return _only(0x13, req, f"{info.name} data of {size} bytes, not {want}")
        shape = PositiveShape(bytes([0x6E]) + p[1:3], exact=True)
        if info.write_security and st.unlocked is False:
            return _only(0x33, req, "security is locked")
        if info.write_security and st.unlocked is None:
            return Expect(req, "security may be locked", frozenset({0x33}), shape)
        return Expect(req, f"write {info.name}", positive=shape)

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

    def _subs(self, sid: int) -> frozenset[int]:
        svc = self.services.get(sid)
        return svc.subfunctions or frozenset() if svc is not None else frozenset()

    def _key_answers(self) -> set[bytes]:
        """The positive answers to a sendKey (an even sub-function): security unlocked."""
        return {bytes([0x67, s]) for s in self._subs(0x27) if s % 2 == 0 and s}

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
        sub = payload[1] & 0x7F if n >= 2 else -1
        if sid == 0x10 and n == 2 and sub in self._subs(0x10):
            st.session = sub if accepted else None
            st.unlocked = False if accepted else None
        elif sid == 0x11 and n == 2 and sub in self._subs(0x11):
            st.session, st.unlocked = (DEFAULT_SESSION, False) if accepted else (None, None)
            st.quiet_until = t + self.reset_quiet
        elif sid == 0x27 and answer is not None and answer[:2] in self._key_answers():
            st.unlocked = True


def _seed_problem(payload: bytes) -> str | None:
    seed = payload[2:]
    if any(seed) and not all(seed):
        return f"seed {hexs(seed)}: each byte non-zero, or 00 00 00 00 when unlocked"
    return None


CC_TCU_1 = UdsOracle(
    "cc-tcu-1",
    CC_TCU_1_SERVICES,
    CC_TCU_1_DIDS,
    key_length=4,
    s3=5.0,
    reset_quiet=0.650,  # silent 400..600 ms after the answer, then P2 to answer again
    seed_length=4,
    nrc_order=CC_NRC_ORDER,
    requirements=Requirements("UDS-008", "UDS-008", "UDS-008", "UDS-008"),
)
"""CC-TCU-1 (``shared/reference-tcu.md``, UDS-001..UDS-008): the generic oracle configured
with the same facts as ``profiles/cc-tcu-1.yaml``'s ``diagnostics: oracle:`` (kept
registered so that profiles naming ``oracle: cc-tcu-1`` judge as before)."""


def _check_oracle(name: str, item: object) -> None:
    if not isinstance(item, UdsOracle) or item.name != name:
        raise InputError(
            f"diagnostic oracle {name!r} cannot be registered: {item!r}",
            expected=f"a harness.uds.oracle.UdsOracle named {name!r}",
        )


ORACLES: Registry[UdsOracle] = Registry("diagnostic oracle", "cc_harness.oracles", _check_oracle)
"""Every part specification diagnostic fuzz can judge against: CC-TCU-1 and a lab's own from
the ``cc_harness.oracles`` entry point group (``name = "module:ORACLE"``, a UdsOracle). A
profile can instead declare its part's facts (``diagnostics: oracle:``)."""
ORACLES.register(CC_TCU_1.name, CC_TCU_1)


def get_oracle(name: str) -> UdsOracle:
    """The oracle ``name``; an unknown name is an InputError listing the known ones."""
    return ORACLES.get(name)


PROFILE = "profile"  # names the profile's declared oracle, whatever its own name


def resolve_oracle(name: str | None, declared: UdsOracle | None) -> UdsOracle:
    """The oracle a step or check names: omitted, ``profile`` or the declared oracle's own
    name: the profile's (``diagnostics: oracle:``); omitted with none declared: CC-TCU-1;
    else the registered one. An InputError if ``profile`` names nothing or the name no
    registered oracle."""
    if declared is not None and (name is None or name in (PROFILE, declared.name)):
        return declared
    if name == PROFILE:
        raise InputError(
            "oracle: profile, but the profile declares no diagnostic facts",
            expected="diagnostics: oracle: {services: ..., requirements: ...}, or a "
            "registered oracle's name",
            got=name,
            choices=ORACLES.names(),
        )
    return get_oracle(name if name is not None else CC_TCU_1.name)
