"""The compiled test plan: cases, steps and rest-bus messages, frozen data only.

:func:`harness.profile.compile.load_profile` makes a :class:`Plan`; the runner, the adapters,
the outputs and the certificate read it. Nothing here imports a transport, a check or the
compiler at run time: the types named in annotations (the DBC codecs, the profile model,
each transport's step data) are the business of the layers above, so every layer can import
the plan without climbing (see the layer order in :mod:`harness`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.can.dbc import CanDatabase, MessageCodec, SignalCodec
    from harness.can.e2e import E2EProtection
    from harness.can.fuzz import CanFuzzPlan
    from harness.checks.base import Check
    from harness.mqtt.plan import MqttStepPlan
    from harness.operator import PromptPlan
    from harness.profile.model import Profile
    from harness.uds.config import DiagConfig, IdentityDid
    from harness.uds.fuzz import DiagFuzzPlan
    from harness.uds.plan import DiagPlan

__all__ = ["Plan", "PlannedCase", "PlannedStep", "RestbusPlan", "SignalSet"]


@dataclass(frozen=True)
class SignalSet:
    message: MessageCodec
    signal: SignalCodec
    raw: int


@dataclass(frozen=True)
class PlannedStep:
    """One step, resolved. ``action`` is the step's key in the profile."""

    action: str
    path: str
    name: str | None = None
    duration: float = 0.0
    sets: tuple[SignalSet, ...] = ()
    message: MessageCodec | None = None
    frame_id: int = 0
    frame_data: bytes = b""
    extended: bool = False
    fault: str | None = None
    count: int = 0
    dlc: int | None = None
    fuzz: CanFuzzPlan | None = None  # a noise or fuzz_can step (harness.can.fuzz)
    wait: bool = True
    checks: tuple[Check, ...] = ()
    diag: DiagPlan | DiagFuzzPlan | None = None  # a diagnostic step (profile.compile_diag)
    mqtt: MqttStepPlan | None = None  # an MQTT step (harness.mqtt.plan)
    prompt: PromptPlan | None = None  # an operator prompt (harness.checks.prompt)

    @property
    def seeded_by_run(self) -> bool:
        """A fuzz step without a seed of its own: the run seed decides what it sends.

        Fuzz plans of every kind carry ``seed`` (None when the profile sets none).
        """
        return any(
            part is not None and hasattr(part, "seed") and part.seed is None
            for part in (self.fuzz, self.mqtt, self.diag)
        )


@dataclass(frozen=True)
class PlannedCase:
    case_id: str
    title: str
    requirements: tuple[str, ...]
    mandatory: bool
    steps: tuple[PlannedStep, ...]
    checks: tuple[Check, ...]
    path: str

    @property
    def duration(self) -> float:
        """Bus time the case's steps take at least (waits and windows)."""
        return sum(s.duration for s in self.steps if s.action in ("wait", "observe"))


@dataclass(frozen=True)
class RestbusPlan:
    message: MessageCodec
    raw_values: dict[str, int]
    cycle: float
    enabled: bool
    e2e: E2EProtection | None


@dataclass(frozen=True)
class Plan:
    """A compiled profile: what the runner executes."""

    profile: Profile
    source: str
    path: Path
    digest: str
    dbc: CanDatabase
    dbc_path: Path
    dbc_digest: str
    bitrate: int
    e2e: dict[str, E2EProtection]
    restbus: tuple[RestbusPlan, ...]
    dut_messages: tuple[MessageCodec, ...]
    ready_message: MessageCodec
    ready_timeout: float
    before_each: tuple[PlannedStep, ...]
    cases: tuple[PlannedCase, ...]
    requirement_ids: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)
    ready_lost_after: float = 5.0  # dut.ready.lost_after (CaseRunner.check_dut_alive)
    diag_config: DiagConfig | None = None  # the diagnostics section, resolved (harness.uds)
    identity_dids: tuple[IdentityDid, ...] = ()  # the identity items read over UDS, in order

    @property
    def profile_id(self) -> str:
        return self.profile.profile.id

    @property
    def version(self) -> str:
        return self.profile.profile.version

    def seeded_fuzz_steps(self, cases: Sequence[PlannedCase] | None = None) -> int:
        """How many steps of ``cases`` (default all) take their seed from the run seed."""
        chosen = self.cases if cases is None else cases
        steps = [*self.before_each, *(s for c in chosen for s in c.steps)]
        return sum(1 for s in steps if s.seeded_by_run)

    def case(self, case_id: str) -> PlannedCase:
        for case in self.cases:
            if case.case_id == case_id:
                return case
        raise KeyError(case_id)
