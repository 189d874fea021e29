"""The profile's diagnostic parts: the ``diagnostics`` and ``identity`` sections and UDS steps.

::

    diagnostics:                  # all optional; these are the defaults
      request_id: 0x7E0           # physical requests
      functional_id: 0x7DF
      response_id: 0x7E8
      p2: 50 ms                   # every first response within P2
      p2_star: 5 s                # after a 'response pending' (NRC 0x78)
      timeout: 1 s                # the tester gives up waiting for a response
      listen: 200 ms              # how long 'expect: none' listens
      padding: 0xCC               # tester frames padded to 8 bytes (null: not padded)
      stmin: 0                    # in the tester's flow control
      block_size: 0
      addressing: normal_11       # ISO-TP addressing (ISO 15765-2), see below
      can_fd: false               # ISO-TP over CAN FD frames (the diagnostics bus must be FD)
      tx_data_length: 8           # TX_DL: 8, 12, 16, 20, 24, 32, 48, 64 (above 8: can_fd)
      bitrate_switch: false       # the tester's FD frames with BRS (needs can_fd)
      response_format: any        # the part's frames: any, classic, fd, fd_brs (see below)

``addressing`` is ``normal_11`` (11-bit normal, the default), ``normal_29`` (29-bit normal:
the three identifiers given explicitly), ``normal_fixed_29`` (ISO 15765-4 style: physical
``0x18DA<TA><SA>``, functional ``0x18DB<functional_address><SA>``, response
``0x18DA<SA><TA>``, from ``target_address`` (the part) and ``source_address`` (the tester);
no identifiers given) or ``extended`` (11-bit identifiers; the first byte of each frame is
the target address: ``target_address`` on the tester's physical requests,
``functional_address`` on functional ones, ``source_address`` on the part's frames).
Whether identifiers are 29-bit follows from the mode, never from their value.

With ``can_fd`` the tester sends its ISO-TP frames as CAN FD frames of up to
``tx_data_length`` bytes; it takes in the part's frames in either format. Every diagnostic
step checks each frame of the part's answer against ``response_format``: by default
``fd_brs`` when the tester uses CAN FD with ``bitrate_switch``, ``fd`` with CAN FD alone,
and ``any`` (not judged) on classic CAN; a part that must answer classic says ``classic``.

    identity:                     # the part's identity items, under any names (harness.identity)
      vin: {did: 0xF190, length: 17, subject: true}   # read at the start of every run
      sw_version: 0xF189                              # a bare DID: ascii, any length
      station_id: {did: 0xF1A0, format: hex, length: 8}
      serial: {length: [12, 16]}  # no DID: the bench's dut.identity or --identity gives it

Steps:

* ``diag``: one request, as raw bytes (``request: "22 F1 90"``) or service fields
  (``service: ReadDataByIdentifier, did: 0xF190``), physical or functional, with the expected
  answer: ``positive`` (default), ``{data: "..."}`` / ``{prefix: "..."}``, ``{nrc: 0x31}``, or
  ``none`` (no response, e.g. TesterPresent with the suppress bit);
* ``security_access``: requestSeed, then the key from a named seed-to-key algorithm (or a
  deliberately wrong one), with the expected answer to the key;
* ``read_dtcs``: ReadDTCInformation by status mask, with the DTCs and status bits expected.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.checks.uds import POSITIVE, Expectation, HexBytes
from harness.checks.uds_services import DtcExpect
from harness.profile.fuzz_diag_model import FuzzDiagStep
from harness.profile.oracle_model import OracleSection
from harness.uds.exchange import DiagIds, normal_fixed_ids
from harness.units import CanId, Duration

__all__ = [
    "DIAG_STEP_MODELS",
    "DiagSpec",
    "DiagStep",
    "DiagnosticsSection",
    "IdentityItem",
    "ReadDtcsSpec",
    "ReadDtcsStep",
    "SecurityAccessSpec",
    "SecurityAccessStep",
]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DiagnosticsSection(_Strict):
    bus: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z][A-Za-z0-9_-]*$",
        description="the named bus diagnostics run on (default: the profile's first bus)",
    )
    request_id: CanId = Field(default=0x7E0, description="physical request identifier")
    functional_id: CanId = Field(default=0x7DF, description="functional request identifier")
    response_id: CanId = Field(default=0x7E8, description="response identifier")
    p2: Duration = Field(default=0.050, description="P2 server: first response within this")
    p2_star: Duration = Field(default=5.0, description="P2* server: after 'response pending'")
    timeout: Duration = Field(default=1.0, description="the tester waits this long for an answer")
    listen: Duration = Field(default=0.2, description="'expect: none' listens this long")
    padding: int | None = Field(
        default=0xCC, ge=0, le=0xFF, description="pad byte of the tester's frames (null: none)"
    )
    stmin: int = Field(default=0, ge=0, le=0x7F, description="STmin in the tester's flow control")
    block_size: int = Field(default=0, ge=0, le=0xFF, description="block size in its flow control")
    addressing: Literal["normal_11", "normal_29", "normal_fixed_29", "extended"] = Field(
        default="normal_11", description="ISO-TP addressing mode (ISO 15765-2)"
    )
    can_fd: bool = Field(
        default=False, description="the tester's ISO-TP over CAN FD frames (an FD bus only)"
    )
    tx_data_length: Literal[8, 12, 16, 20, 24, 32, 48, 64] = Field(
        default=8, description="TX_DL: the tester's longest frame (above 8 only with can_fd)"
    )
    bitrate_switch: bool = Field(
        default=False, description="the tester's FD frames with the bit rate switch (can_fd)"
    )
    response_format: Literal["any", "classic", "fd", "fd_brs"] | None = Field(
        default=None,
        description="what every frame of the part's answers must be (default: fd_brs with "
        "can_fd and bitrate_switch, fd with can_fd, any on classic CAN)",
    )
    target_address: int | None = Field(
        default=None, ge=0, le=0xFF, description="the part's address N_TA (fixed, extended)"
    )
    source_address: int | None = Field(
        default=None, ge=0, le=0xFF, description="the tester's address N_SA (fixed, extended)"
    )
    functional_address: int | None = Field(
        default=None,
        ge=0,
        le=0xFF,
        description="N_TA of functional requests (default 0x33 normal_fixed_29; extended: "
        "target_address)",
    )
    oracle: OracleSection | None = Field(
        default=None, description="the part's diagnostic facts diagnostic fuzz judges by"
    )

    @model_validator(mode="after")
    def _ids(self) -> DiagnosticsSection:
        mode = self.addressing
        names = ("request_id", "functional_id", "response_id")
        given = [n for n in names if n in self.model_fields_set]
        addresses = ("target_address", "source_address")
        if mode in ("normal_11", "extended"):
            for name in names:
                if getattr(self, name) > 0x7FF:
                    raise ValueError(
                        f"expected an 11-bit identifier for {name} ({mode} addressing), "
                        f"got 0x{getattr(self, name):X}"
                    )
        if mode == "normal_29" and len(given) < 3:
            missing = ", ".join(n for n in names if n not in given)
            raise ValueError(f"normal_29 addressing: expected 29-bit identifiers for {missing}")
        if mode == "normal_fixed_29" and given:
            raise ValueError(
                f"normal_fixed_29 addressing derives the identifiers from target_address and "
                f"source_address: {', '.join(given)} cannot be given"
            )
        if mode in ("normal_fixed_29", "extended"):
            absent = [a for a in addresses if getattr(self, a) is None]
            if absent:
                raise ValueError(f"{mode} addressing: expected {' and '.join(absent)} (0..0xFF)")
        else:
            extra = [a for a in (*addresses, "functional_address") if getattr(self, a) is not None]
            if extra:
                raise ValueError(f"{', '.join(extra)}: only for normal_fixed_29 or extended")
        if mode == "normal_fixed_29" and self.target_address == self.source_address:
            raise ValueError(
                f"normal_fixed_29 addressing: target_address and source_address must differ "
                f"(both 0x{self.target_address:02X}: requests and responses would share an id)"
            )
        ids = self.ids
        if ids.request_id == ids.functional_id:
            raise ValueError(
                f"request_id and functional_id must differ (both 0x{ids.request_id:X})"
            )
        if ids.response_id in (ids.request_id, ids.functional_id):
            raise ValueError(
                f"response_id 0x{ids.response_id:X} must differ from the request identifiers "
                f"(request 0x{ids.request_id:X}, functional 0x{ids.functional_id:X})"
            )
        return self

    @property
    def answer_format(self) -> str:
        """``response_format``, or its default from the tester's own format."""
        if self.response_format is not None:
            return self.response_format
        if not self.can_fd:
            return "any"
        return "fd_brs" if self.bitrate_switch else "fd"

    @property
    def ids(self) -> DiagIds:
        """The resolved addressing (identifiers, mode and address bytes)."""
        mode = self.addressing
        if mode == "normal_fixed_29":
            assert self.target_address is not None and self.source_address is not None
            functional = 0x33 if self.functional_address is None else self.functional_address
            phys, func, resp = normal_fixed_ids(
                self.target_address, self.source_address, functional
            )
            return DiagIds(phys, func, resp, mode)
        if mode == "extended":
            fa = self.functional_address
            return DiagIds(
                self.request_id,
                self.functional_id,
                self.response_id,
                mode,
                self.target_address,
                self.target_address if fa is None else fa,
                self.source_address,
            )
        return DiagIds(self.request_id, self.functional_id, self.response_id, mode)


class IdentityItem(_Strict):
    did: int | None = Field(
        default=None,
        ge=0,
        le=0xFFFF,
        description="the data identifier to read it from; omitted: the part has none, and "
        "the bench's dut.identity or --identity NAME=VALUE gives the value",
    )
    format: Literal["ascii", "hex", "unsigned"] = Field(
        default="ascii",
        description="how the DID's bytes read: ascii text, hex digits (upper case), or an "
        "unsigned big-endian number in decimal",
    )
    length: (
        Annotated[int, Field(ge=1, le=200)]
        | Annotated[list[Annotated[int, Field(ge=0, le=200)]], Field(min_length=2, max_length=2)]
        | None
    ) = Field(default=None, description="characters of the value: N, or [min, max]")
    pattern: str | None = Field(
        default=None, max_length=200, description="regular expression the whole value matches"
    )
    subject: bool = Field(
        default=False,
        description="this item names the certificate's subject (default: the first item)",
    )

    @model_validator(mode="after")
    def _valid(self) -> IdentityItem:
        if isinstance(self.length, list) and self.length[0] > self.length[1]:
            raise ValueError(f"expected length [min, max] with min <= max, got {self.length}")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression: {exc}") from None
        return self


class _StepBase(_Strict):
    name: str | None = Field(
        default=None, pattern=_NAME, description="names the moment of this step for checks"
    )


class _Timing(_Strict):
    label: str | None = Field(default=None, description="a name for the step's check in reports")
    requirements: list[str] | None = Field(
        default=None,
        description="requirement IDs the step's check shows, when not all of the case's",
    )
    within: Duration | None = Field(
        default=None, description="longest time to the first response (default: P2)"
    )
    timeout: Duration | None = Field(
        default=None,
        description="how long the tester waits (default: the diagnostics timeout, or listen "
        "for expect: none)",
    )
    response_format: Literal["any", "classic", "fd", "fd_brs"] | None = Field(
        default=None,
        description="what every frame of this step's answer must be (default: the "
        "diagnostics section's response_format); e.g. fd_brs in a case that needs a feature "
        "such as CC-GW-1's fd_diagnostics",
    )


class DiagSpec(_Timing):
    request: HexBytes | None = Field(default=None, description="raw request bytes, '22 F1 90'")
    service: int | str | None = Field(
        default=None, description="service id (0x22) or udsoncan name (ReadDataByIdentifier)"
    )
    subfunction: int | None = Field(default=None, ge=0, le=0x7F)
    suppress: bool = Field(default=False, description="set the suppressPosRspMsgIndication bit")
    did: int | None = Field(default=None, ge=0, le=0xFFFF, description="data identifier")
    data: HexBytes = Field(default="", description="bytes after the sub-function and DID")
    data_identity: str | None = Field(
        default=None,
        description="append the value of this identity item as read at the start of the run "
        "(e.g. station_id, to write the part's own value back)",
    )
    addressing: Literal["physical", "functional"] = "physical"
    expect: Expectation = POSITIVE

    @model_validator(mode="after")
    def _request_or_service(self) -> DiagSpec:
        if (self.request is None) == (self.service is None):
            raise ValueError("expected either request (raw bytes) or service (with its fields)")
        if self.request is not None and (
            self.subfunction is not None or self.did is not None or self.data or self.suppress
        ):
            raise ValueError(
                "expected subfunction, suppress, did and data only with service, not with request"
            )
        return self


class DiagStep(_StepBase):
    diag: DiagSpec


class SecurityAccessSpec(_Timing):
    level: int = Field(default=1, ge=1, le=0x7D, description="requestSeed sub-function (odd)")
    algorithm: str = Field(description="seed-to-key algorithm: cc-tcu-1, or a lab's own")
    key: Literal["correct", "wrong"] = Field(
        default="correct", description="wrong: the correct key with every bit inverted"
    )
    expect: Expectation = Field(default=POSITIVE, description="the answer to the key")
    already_unlocked: bool = Field(
        default=False,
        description="true: expect security unlocked already (seed 00 00 00 00, no key sent); "
        "false (default): expect a new seed, then send the key",
    )


class SecurityAccessStep(_StepBase):
    security_access: SecurityAccessSpec


class ReadDtcsSpec(_Timing):
    status_mask: int = Field(default=0xFF, ge=0, le=0xFF)
    expect: list[DtcExpect] = Field(default_factory=list, description="DTCs and status bits")
    availability: int | None = Field(
        default=None, ge=0, le=0xFF, description="expected status availability mask"
    )
    only: bool = Field(default=False, description="true: no DTC besides those expected")


class ReadDtcsStep(_StepBase):
    read_dtcs: ReadDtcsSpec


DIAG_STEP_MODELS: dict[str, type[BaseModel]] = {
    "diag": DiagStep,
    "security_access": SecurityAccessStep,
    "read_dtcs": ReadDtcsStep,
    "fuzz_diag": FuzzDiagStep,  # harness.profile.fuzz_diag_model
}
