"""The ``fuzz_diag`` step as the profile writes it (see :mod:`harness.uds.fuzz`)::

- fuzz_diag:
    count: 80                 # requests (and malformed ISO-TP stimuli) to send
    interval: 60 ms           # or rate: 16 (per second); must exceed P2
    addressing: both          # physical (default), functional, both
    raw_isotp: true           # also malformed ISO-TP frames (default true)
    services: [0x10, 0x22]    # only these service ids (default: all but exclude)
    exclude: [0x11, 0x14, "10 02"]   # service ids or request prefixes; replaces the
                              # default list of state-changing services
    kinds: [unsupported, length, subfunction, did, random, isotp]
    session: default          # default / extended: 10 01 / 10 03 first; keep: as it is
    oracle: cc-tcu-1          # a registered oracle; omitted: diagnostics: oracle: (the
                              # profile's facts, harness.profile.oracle_model), else cc-tcu-1
    seed: 42                  # omitted: derived from the run seed (harness certify --seed)
  name: fuzz
  checks:                     # over the fuzzing window, e.g.
    - {kind: diag_fuzz, requirements: [UDS-008]}
    - {kind: cycle_time, message: TCU_Status, min: 90 ms, max: 110 ms}
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

from harness.checks.spec import CheckSpec
from harness.units import Duration

__all__ = ["FUZZ_KINDS", "FuzzDiagSpec", "FuzzDiagStep"]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
FUZZ_KINDS = ("unsupported", "length", "subfunction", "did", "random", "isotp")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class FuzzDiagSpec(_Strict):
    count: int = Field(ge=1, le=100000, description="how many stimuli to send")
    rate: Annotated[float, Field(gt=0, le=1000)] | None = Field(
        default=None, description="stimuli per second (or interval)"
    )
    interval: Duration | None = Field(
        default=None, description="time between two stimuli (or rate); must exceed P2"
    )
    addressing: Literal["physical", "functional", "both"] = Field(
        default="physical", description="both: about 30 % of the stimuli go functional"
    )
    raw_isotp: bool = Field(default=True, description="also send malformed ISO-TP frames")
    services: list[Annotated[StrictInt, Field(ge=0, le=0xFF)]] | None = Field(
        default=None, description="only these service ids (default: every one not excluded)"
    )
    exclude: list[Annotated[StrictInt, Field(ge=0, le=0xFF)] | StrictStr] | None = Field(
        default=None,
        description="service ids or request prefixes ('10 02') never sent; replaces the "
        "default list of services that change the part's state for good",
    )
    kinds: list[Literal[FUZZ_KINDS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(FUZZ_KINDS), min_length=1, description="what to send"
    )
    session: Literal["default", "extended", "keep"] = Field(
        default="default",
        description="default/extended: request that session first; keep: start as it is",
    )
    oracle: str | None = Field(
        default=None,
        description="the part's diagnostic specification: omitted (or 'profile'), the facts "
        "of diagnostics: oracle: (else cc-tcu-1); or a registered oracle's name",
    )
    seed: Annotated[int, Field(ge=0, lt=2**63)] | None = Field(
        default=None,
        description="fixed seed: the same stimuli on every run; omitted: derived from the "
        "run seed (harness certify --seed), recorded in run.json",
    )

    @model_validator(mode="after")
    def _one_pace(self) -> FuzzDiagSpec:
        if (self.rate is None) == (self.interval is None):
            raise ValueError("fuzz_diag needs exactly one of rate (per second) and interval")
        return self


class FuzzDiagStep(_Strict):
    name: str | None = Field(
        default=None, pattern=_NAME, description="names the moment of this step for checks"
    )
    fuzz_diag: FuzzDiagSpec
    checks: list[CheckSpec] = Field(
        default_factory=list,
        description="evaluated over the fuzzing window, e.g. diag_fuzz and the DUT's cycle",
    )
