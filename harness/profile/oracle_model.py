"""The facts of a part's diagnostic specification, declared in the profile: the oracle
diagnostic fuzz judges by (:mod:`harness.uds.oracle`)::

    diagnostics:
      oracle:
        name: cc-tcu-1                 # shown in reports (default: profile)
        nrc_order: [0x11, 0x12, 0x7F, 0x13]   # the general checks in the part's order
                                       # (default ISO 14229-1's: 0x11, 0x7F, 0x13, 0x12, 0x7E)
        requirements:                  # what each general finding traces
          {unsupported: UDS-008, subfunction: UDS-008, length: UDS-008, malformed: UDS-008}
        services:                      # service id -> what the part offers
          0x10: {name: DiagnosticSessionControl, requirement: UDS-001,
                 subfunctions: {0x01: 2, 0x03: 2}}        # sub-function -> request length(s)
          0x22: {name: ReadDataByIdentifier, requirement: UDS-003, length: [3, 5, 7]}
          0x27: {name: SecurityAccess, requirement: UDS-004,
                 subfunctions: {0x01: 2, 0x02: 6}, sessions: [0x03]}
          0x3E: {name: TesterPresent, requirement: UDS-002, subfunctions: {0x00: 2},
                 suppress: fixed}      # bit 7 suppresses the positive answer (else: open)
        dids:                          # readable (default) and/or writable
          0xF190: {name: vin, length: 17}
          0xF1A0: {name: station_id, length: 4, write: true, write_security: true}
          0xF1B0: {name: calibration, read_sessions: [0x03], read_security: true}
        security: {seed_length: 4, key_length: 4}
        dtc: {groups: [0xFFFFFF], availability: 0x09}
        s3: 5 s                        # back to the default session without requests
        reset_quiet: 650 ms            # an ECUReset: the part may not answer until then

A ``fuzz_diag`` step and a ``diag_fuzz`` check without ``oracle:`` judge by these facts; one
naming a registered oracle (``oracle: cc-tcu-1``) by that. :func:`profile_oracle` builds the
:class:`~harness.uds.oracle.UdsOracle`; a fact that contradicts another (a session no
DiagnosticSessionControl sub-function enters, a requirement the profile does not list, ...)
is an error at its place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.units import Duration

if TYPE_CHECKING:
    from harness.errors import ProfileError
    from harness.profile.model import Profile
    from harness.uds.oracle import UdsOracle

__all__ = ["DidFacts", "OracleSection", "ServiceFacts", "profile_oracle"]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_Byte = Annotated[int, Field(ge=0, le=0xFF)]
_Sub = Annotated[int, Field(ge=0, le=0x7F)]
_Len = Annotated[int, Field(ge=1, le=4095)]
_Lengths = _Len | Annotated[list[_Len], Field(min_length=1)]
_Req = Annotated[str, Field(pattern=_NAME)]
# services whose meaning (ISO 14229-1) has a sub-function, and those that have none
_WITH_SUB = {0x10, 0x11, 0x19, 0x27, 0x3E}
_WITHOUT_SUB = {0x14, 0x22, 0x2E}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ServiceFacts(_Strict):
    name: str = Field(min_length=1, max_length=80, description="the service's name")
    requirement: _Req = Field(description="the requirement its own answers trace")
    subfunctions: dict[_Sub, _Lengths] | None = Field(
        default=None, description="sub-function -> valid request length(s) in bytes"
    )
    length: _Lengths | None = Field(
        default=None, description="valid request length(s), for a service without sub-function"
    )
    sessions: list[_Byte] | None = Field(
        default=None, description="the sessions offering it (default: every one; else 0x7F)"
    )
    subfunction_sessions: dict[_Sub, list[_Byte]] | None = Field(
        default=None, description="sub-function -> the sessions offering it (else 0x7E)"
    )
    suppress: Literal["fixed", "open"] = Field(
        default="open",
        description="fixed: bit 7 of the sub-function suppresses the positive answer; "
        "open: the specification does not say (either reading is allowed)",
    )


class DidFacts(_Strict):
    name: str = Field(pattern=_NAME, description="shown in findings")
    length: _Len | None = Field(default=None, description="bytes of its record (omitted: any)")
    read: bool = Field(default=True, description="ReadDataByIdentifier reads it")
    read_sessions: list[_Byte] | None = Field(
        default=None, description="the sessions it is readable in (default: every one)"
    )
    read_security: bool = Field(default=False, description="reading needs security unlocked")
    write: bool = Field(default=False, description="WriteDataByIdentifier writes it")
    write_security: bool = Field(default=False, description="writing needs security unlocked")


class SecurityFacts(_Strict):
    seed_length: int = Field(default=4, ge=1, le=64, description="bytes of a seed")
    key_length: int = Field(default=4, ge=1, le=64, description="bytes of a key")


class DtcFacts(_Strict):
    groups: list[Annotated[int, Field(ge=0, le=0xFFFFFF)]] = Field(
        default_factory=lambda: [0xFFFFFF], description="groups ClearDiagnosticInformation knows"
    )
    availability: _Byte = Field(default=0x09, description="the status availability mask")


class RequirementFacts(_Strict):
    unsupported: _Req = Field(description="an unsupported service (NRC 0x11)")
    subfunction: _Req = Field(description="an unknown sub-function (NRC 0x12, 0x7E)")
    length: _Req = Field(description="a request of the wrong length (NRC 0x13)")
    malformed: _Req = Field(description="frames that make no valid ISO-TP request")


class OracleSection(_Strict):
    name: str = Field(default="profile", pattern=_NAME, description="the oracle's name")
    nrc_order: list[_Byte] = Field(
        default_factory=lambda: [0x11, 0x7F, 0x13, 0x12, 0x7E],
        description="the general checks (0x11, 0x12, 0x13, 0x7E, 0x7F) in the part's order",
    )
    requirements: RequirementFacts
    services: dict[_Byte, ServiceFacts] = Field(min_length=1)
    dids: dict[Annotated[int, Field(ge=0, le=0xFFFF)], DidFacts] = Field(default_factory=dict)
    security: SecurityFacts = Field(default_factory=SecurityFacts)
    dtc: DtcFacts = Field(default_factory=DtcFacts)
    s3: Duration = Field(default=5.0, description="S3 server: the session falls back after it")
    reset_quiet: Duration = Field(
        default=0.65, description="after an ECUReset the part may not answer for this long"
    )


def _set(value: int | list[int]) -> frozenset[int]:
    return frozenset([value] if isinstance(value, int) else value)


class _Builder:
    def __init__(self, section: OracleSection, profile: Profile, err: Any) -> None:
        self.s = section
        self.req_ids = set(profile.profile.requirements.ids)
        self._err = err
        self.base: tuple[str | int, ...] = ("diagnostics", "oracle")

    def err(self, path: Sequence[str | int], message: str, **kw: Any) -> ProfileError:
        return self._err((*self.base, *path), message=message, **kw)  # type: ignore[no-any-return]

    def requirement(self, path: Sequence[str | int], req: str) -> str:
        if req not in self.req_ids:
            raise self.err(
                path,
                f"requirement {req} is not one of the profile's",
                expected="an id listed under profile: requirements:",
                got=req,
                choices=sorted(self.req_ids),
            )
        return req

    def nrc_order(self) -> tuple[int, ...]:
        from harness.uds.oracle_facts import GATES

        order = self.s.nrc_order
        for k, code in enumerate(order):
            if code not in GATES or code in order[:k]:
                raise self.err(
                    ("nrc_order", k),
                    "each general check once, out of 0x11, 0x12, 0x13, 0x7E and 0x7F",
                    got=f"0x{code:02X}",
                )
        if order[:1] != [0x11]:
            raise self.err(("nrc_order", 0), "0x11 (service not supported) comes first")
        return tuple(order)

    def sessions(self, path: Sequence[str | int], values: list[int]) -> frozenset[int]:
        dsc = self.s.services.get(0x10)
        known = set(dsc.subfunctions or ()) if dsc is not None else {0x01}
        for k, v in enumerate(values):
            if v not in known:
                raise self.err(
                    (*path, k),
                    "no DiagnosticSessionControl sub-function enters this session",
                    got=f"0x{v:02X}",
                    choices=[f"0x{s:02X}" for s in sorted(known)],
                )
        return frozenset(values)

    def service(self, sid: int, f: ServiceFacts) -> Any:
        from harness.uds.oracle_facts import ServiceInfo

        at: tuple[str | int, ...] = ("services", sid)
        if 0x40 <= sid < 0x80 or sid >= 0xC0:
            raise self.err(at, f"0x{sid:02X} is no request service id (a response's)")
        if sid in _WITH_SUB and f.subfunctions is None:
            raise self.err(at, f"{f.name} has sub-functions: declare them (subfunctions:)")
        if sid in _WITHOUT_SUB and f.subfunctions is not None:
            raise self.err((*at, "subfunctions"), f"{f.name} has no sub-function")
        if f.subfunctions is not None and f.length is not None:
            raise self.err((*at, "length"), "give the lengths per sub-function (subfunctions:)")
        if sid == 0x27 and not (
            any(s % 2 for s in f.subfunctions or ())
            and any(s and not s % 2 for s in f.subfunctions or ())
        ):
            raise self.err((*at, "subfunctions"), "a requestSeed (odd) and a sendKey (even)")
        lengths: dict[int | None, frozenset[int]]
        if f.subfunctions is not None:
            lengths = {sub: _set(n) for sub, n in f.subfunctions.items()}
        else:
            lengths = {None: _set(f.length)} if f.length is not None else {}
        subs = frozenset(f.subfunctions) if f.subfunctions is not None else None
        sub_sessions = None
        if f.subfunction_sessions is not None:
            sub_sessions = {}
            for sub, values in f.subfunction_sessions.items():
                if sub not in (subs or ()):
                    raise self.err((*at, "subfunction_sessions", sub), "not a sub-function of it")
                sub_sessions[sub] = self.sessions((*at, "subfunction_sessions", sub), values)
        sessions = None if f.sessions is None else self.sessions((*at, "sessions"), f.sessions)
        return ServiceInfo(
            sid,
            f.name,
            self.requirement((*at, "requirement"), f.requirement),
            subs,
            lengths,
            suppress=f.suppress,
            sessions=sessions,
            sub_sessions=sub_sessions,
        )

    def did(self, did: int, f: DidFacts) -> Any:
        from harness.uds.oracle_facts import DidInfo

        at: tuple[str | int, ...] = ("dids", did)
        if f.write and 0x2E not in self.s.services:
            raise self.err(
                (*at, "write"), "writable, but WriteDataByIdentifier (0x2E) is not a service"
            )
        if f.read and 0x22 not in self.s.services:
            raise self.err(
                (*at, "read"), "readable, but ReadDataByIdentifier (0x22) is not a service"
            )
        rs = (
            None
            if f.read_sessions is None
            else self.sessions((*at, "read_sessions"), f.read_sessions)
        )
        return DidInfo(
            f.name,
            f.length,
            readable=f.read,
            read_sessions=rs,
            read_security=f.read_security,
            writable=f.write,
            write_security=f.write_security,
        )

    def build(self) -> UdsOracle:
        from harness.uds.oracle import UdsOracle
        from harness.uds.oracle_facts import Requirements

        r = self.s.requirements
        reqs = Requirements(
            *(
                self.requirement(("requirements", k), getattr(r, k))
                for k in ("unsupported", "subfunction", "length", "malformed")
            )
        )
        order = self.nrc_order()
        if 0x10 in self.s.services and 0x01 not in (self.s.services[0x10].subfunctions or {}):
            raise self.err(
                ("services", 0x10, "subfunctions"), "the default session 0x01 is missing"
            )
        services = {sid: self.service(sid, f) for sid, f in self.s.services.items()}
        dids = {did: self.did(did, f) for did, f in self.s.dids.items()}
        return UdsOracle(
            self.s.name,
            services,
            dids,
            key_length=self.s.security.key_length,
            seed_length=self.s.security.seed_length,
            s3=self.s.s3,
            reset_quiet=self.s.reset_quiet,
            nrc_order=order,
            requirements=reqs,
            dtc_groups=frozenset(self.s.dtc.groups),
            dtc_availability=self.s.dtc.availability,
        )


def profile_oracle(profile: Profile, err: Any) -> UdsOracle | None:
    """The oracle the profile's ``diagnostics: oracle:`` declares (None: it declares none),
    with the profile's P2 and P2*; ``err(path, message=..., **kw)`` makes a located error."""
    section = profile.diagnostics.oracle
    if section is None:
        return None
    oracle = _Builder(section, profile, err).build()
    return oracle.with_timing(profile.diagnostics.p2, profile.diagnostics.p2_star)
