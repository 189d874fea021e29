"""Compiling the diagnostic steps: request bytes encoded, the judging check built, all pure.

Each ``diag``, ``security_access`` and ``read_dtcs`` step becomes a :class:`PlannedStep` whose
``diag`` says what the tester sends and whose single check judges the exchange from the
recorded frames. Request fields are encoded by udsoncan at load time, so a request that
cannot be made (a sub-function for a service without one, a functional request longer than
a single frame) is an error at its place in the profile, not at run time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from harness.checks import Check, Resolver
from harness.checks.uds import UdsResponseCheck, UdsResponseParams, expectation, parse_hex
from harness.checks.uds_services import (
    UdsDtcCheck,
    UdsDtcParams,
    UdsSecurityAccessCheck,
    UdsSecurityParams,
)
from harness.errors import ProfileError
from harness.identity import IdentityField
from harness.profile.diag_model import (
    DiagnosticsSection,
    DiagSpec,
    DiagStep,
    IdentityItem,
    ReadDtcsSpec,
    ReadDtcsStep,
    SecurityAccessSpec,
    SecurityAccessStep,
)
from harness.profile.fuzz_diag_model import FuzzDiagStep
from harness.uds.codec import build_request, hexs, service_class, service_names
from harness.uds.config import DiagConfig
from harness.uds.oracle import UdsOracle
from harness.uds.plan import DiagPlan
from harness.yamlsafe import format_path

if TYPE_CHECKING:
    from harness.plan import PlannedStep
    from harness.profile.model import Profile

__all__ = [
    "DIAG_STEPS",
    "check_diag_format",
    "compile_diag_step",
    "diag_config",
    "identity_dids",
    "identity_fields",
    "single_frame_room",
]

DIAG_STEPS = (DiagStep, SecurityAccessStep, ReadDtcsStep, FuzzDiagStep)
_SINGLE_FRAME = 7  # payload bytes of a classic CAN single frame


class DiagCompiler(Protocol):
    """What the diagnostic step compilers need of the profile compiler."""

    p: Profile
    diag_bus_fd: bool  # whether the diagnostics' bus is CAN FD

    def err(
        self, path: Sequence[str | int], message: str | None = None, **kw: Any
    ) -> ProfileError: ...

    def diag_oracle(self) -> UdsOracle | None: ...

    def _resolver(
        self,
        base: tuple[str | int, ...],
        markers: Sequence[str],
        later: Mapping[str, str] | None = None,
    ) -> Resolver: ...

    def _check(
        self,
        spec: BaseModel,
        path: tuple[str | int, ...],
        markers: Sequence[str],
        later: Mapping[str, str] | None = None,
    ) -> Check: ...


def diag_config(section: DiagnosticsSection) -> DiagConfig:
    return DiagConfig(
        ids=section.ids,
        p2=section.p2,
        p2_star=section.p2_star,
        timeout=section.timeout,
        listen=section.listen,
        padding=section.padding,
        stmin=section.stmin,
        block_size=section.block_size,
        can_fd=section.can_fd,
        tx_data_length=section.tx_data_length,
        bitrate_switch=section.bitrate_switch,
        response_format=section.answer_format,
    )


def check_diag_format(c: DiagCompiler, section: DiagnosticsSection, bus_fd: bool) -> None:
    """The ISO-TP frame format the diagnostics declare fits itself and its bus."""
    place = ("diagnostics",)
    if section.can_fd and not bus_fd:
        raise c.err(
            (*place, "can_fd"),
            "ISO-TP over CAN FD needs a CAN FD bus, and the diagnostics bus is classic",
            expected="can_fd: false, or a bus declared with fd: true",
            got="true",
        )
    if not section.can_fd and section.tx_data_length != 8:
        raise c.err(
            (*place, "tx_data_length"),
            "classic ISO-TP frames carry 8 bytes: a longer TX_DL needs can_fd: true",
            expected="8 (or can_fd: true)",
            got=section.tx_data_length,
        )
    if not section.can_fd and section.bitrate_switch:
        raise c.err(
            (*place, "bitrate_switch"),
            "the bit rate switch is a CAN FD flag: it needs can_fd: true",
            expected="false (or can_fd: true)",
            got="true",
        )
    if section.response_format in ("fd", "fd_brs") and not bus_fd:
        raise c.err(
            (*place, "response_format"),
            "the part cannot answer in CAN FD frames on a classic bus",
            expected="any or classic, or a bus declared with fd: true",
            got=section.response_format,
        )


def single_frame_room(cfg: DiagConfig) -> int:
    """The most request bytes one single frame of the tester carries (classic: 7; CAN FD
    with TX_DL above 8: TX_DL less the escape's two bytes and any address byte)."""
    if cfg.can_fd and cfg.tx_data_length > 8:
        return cfg.tx_data_length - 2 - (1 if cfg.ids.prefixed else 0)
    return _SINGLE_FRAME


def identity_fields(profile: Profile) -> tuple[IdentityField, ...]:
    """The identity items a profile declares, in its order (a bare DID reads as ascii)."""
    out = []
    for name, spec in profile.identity.items():
        if not isinstance(spec, IdentityItem):
            out.append(IdentityField(name, spec))
            continue
        low = high = None
        if isinstance(spec.length, int):
            low = high = spec.length
        elif spec.length is not None:
            low, high = spec.length
        out.append(
            IdentityField(name, spec.did, spec.format, low, high, spec.pattern, spec.subject)
        )
    return tuple(out)


def identity_dids(profile: Profile) -> tuple[IdentityField, ...]:
    """The identity items the harness reads from the part (those with a DID)."""
    return tuple(f for f in identity_fields(profile) if f.did is not None)


def _common(
    c: DiagCompiler,
    path: tuple[str | int, ...],
    cfg: DiagConfig,
    spec: DiagSpec | SecurityAccessSpec | ReadDtcsSpec,
    timeout: float | None,
) -> dict[str, Any]:
    ids = c.p.profile.requirements.ids
    for i, req in enumerate(spec.requirements or ()):
        if req not in ids:
            raise c.err(
                (*path, "requirements", i),
                "not a requirement of the set this profile traces",
                expected="a requirement ID listed under profile.requirements.ids",
                got=req,
                choices=list(ids),
            )
    within = spec.within
    return {
        "label": spec.label,
        "requirements": spec.requirements,
        "request_id": cfg.ids.request_id,
        "functional_id": cfg.ids.functional_id,
        "response_id": cfg.ids.response_id,
        "addressing": cfg.ids.mode,
        "target_address": cfg.ids.target_address,
        "functional_address": cfg.ids.functional_address,
        "source_address": cfg.ids.source_address,
        "within": cfg.p2 if within is None else within,
        "p2_star": cfg.p2_star,
        "timeout": cfg.timeout if timeout is None else timeout,
        "frame_format": _frame_format(c, path, cfg, spec),
    }


def _frame_format(
    c: DiagCompiler,
    path: tuple[str | int, ...],
    cfg: DiagConfig,
    spec: DiagSpec | SecurityAccessSpec | ReadDtcsSpec,
) -> str:
    """The format every frame of the step's answer must have: the step's own, or the
    section's; an FD format only on an FD bus."""
    if spec.response_format is None:
        return cfg.response_format
    if spec.response_format in ("fd", "fd_brs") and not c.diag_bus_fd:
        raise c.err(
            (*path, "response_format"),
            "the part cannot answer in CAN FD frames on a classic bus",
            expected="any or classic, or a diagnostics bus declared with fd: true",
            got=spec.response_format,
        )
    return spec.response_format


def _request(c: DiagCompiler, spec: DiagSpec, path: tuple[str | int, ...]) -> bytes:
    if spec.request is not None:
        payload = parse_hex(spec.request)
        if not payload:
            raise c.err((*path, "request"), expected="at least one byte (the service)", got="")
        return payload
    assert spec.service is not None
    service = spec.service
    if isinstance(service, str) and service_class(service) is None:
        raise c.err(
            (*path, "service"),
            "udsoncan knows no service of this name",
            expected="a service id such as 0x22 or a udsoncan service name",
            got=service,
            choices=service_names(),
        )
    if isinstance(service, int) and not 0 <= service <= 0xFF:
        raise c.err((*path, "service"), expected="a service id 0x00..0xFF", got=hex(service))
    try:
        return build_request(
            service,
            spec.subfunction,
            suppress=spec.suppress,
            did=spec.did,
            data=parse_hex(spec.data),
        )
    except ValueError as exc:
        raise c.err(path, f"cannot encode this request: {exc}") from None


def compile_diag_step(
    c: DiagCompiler,
    step: DiagStep | SecurityAccessStep | ReadDtcsStep | FuzzDiagStep,
    path: tuple[str | int, ...],
    markers: Sequence[str],
    later: Mapping[str, str] | None = None,
) -> PlannedStep:
    from harness.plan import PlannedStep

    if isinstance(step, FuzzDiagStep):
        from harness.profile.compile_fuzz_diag import compile_fuzz_diag_step

        return compile_fuzz_diag_step(c, step, path, markers, later)

    cfg = diag_config(c.p.diagnostics)
    where = format_path(path)
    check: Check
    if isinstance(step, DiagStep):
        spec = step.diag
        base = (*path, "diag")
        payload = _request(c, spec, base)
        functional = spec.addressing == "functional"
        readable = [f.name for f in identity_dids(c.p)]
        if spec.data_identity is not None and spec.data_identity not in readable:
            raise c.err(
                (*base, "data_identity"),
                "the profile's identity section reads no such item from the part",
                expected="an item of the identity section with a did",
                got=spec.data_identity,
                choices=readable or ["(the profile's identity section reads no DID)"],
            )
        room = single_frame_room(cfg)
        if functional and len(payload) > room:
            raise c.err(
                (*base, "request" if spec.request is not None else "data"),
                f"a functional request must fit a single frame ({room} bytes), "
                f"this one has {len(payload)}",
            )
        mode = expectation(spec.expect)[0]
        none = mode == "none"
        timeout = spec.timeout if spec.timeout is not None else (cfg.listen if none else None)
        params = UdsResponseParams.model_validate(
            {
                "kind": "uds_response",
                "request": hexs(payload),
                "functional": functional,
                "expect": spec.expect,
                **_common(c, base, cfg, spec, timeout),
            }
        )
        check = UdsResponseCheck(params, c._resolver(base, markers, later))
        plan = DiagPlan(
            "request",
            payload,
            functional=functional,
            expect_response=not none,
            timeout=params.timeout,
            data_identity=spec.data_identity,
        )
        return PlannedStep("diag", where, step.name, checks=(check,), data=plan)
    if isinstance(step, SecurityAccessStep):
        sa = step.security_access
        base = (*path, "security_access")
        if sa.level % 2 == 0:
            raise c.err(
                (*base, "level"), expected="an odd requestSeed level (1, 3, ...)", got=sa.level
            )
        sparams = UdsSecurityParams.model_validate(
            {
                "kind": "uds_security_access",
                "level": sa.level,
                "algorithm": sa.algorithm,
                "key": sa.key,
                "expect": sa.expect,
                "already_unlocked": sa.already_unlocked,
                **_common(c, base, cfg, sa, sa.timeout),
            }
        )
        check = UdsSecurityAccessCheck(sparams, c._resolver(base, markers, later))
        plan = DiagPlan(
            "security",
            bytes([0x27, sa.level]),
            expect_response=expectation(sa.expect)[0] != "none",
            timeout=sparams.timeout,
            level=sa.level,
            algorithm=sa.algorithm,
            key=sa.key,
            already_unlocked=sa.already_unlocked,
        )
        return PlannedStep("security_access", where, step.name, checks=(check,), data=plan)
    rd = step.read_dtcs
    base = (*path, "read_dtcs")
    dparams = UdsDtcParams.model_validate(
        {
            "kind": "uds_dtcs",
            "status_mask": rd.status_mask,
            "dtcs": list(rd.expect),
            "availability": rd.availability,
            "only": rd.only,
            **_common(c, base, cfg, rd, rd.timeout),
        }
    )
    check = UdsDtcCheck(dparams, c._resolver(base, markers, later))
    payload = build_request("ReadDTCInformation", 0x02, data=bytes([rd.status_mask]))
    plan = DiagPlan("dtcs", payload, timeout=dparams.timeout)
    return PlannedStep("read_dtcs", where, step.name, checks=(check,), data=plan)
