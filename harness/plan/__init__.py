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
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from harness.can.dbc import CanDatabase, MessageCodec
    from harness.can.e2e import Protection
    from harness.checks.base import Check
    from harness.observe import BusView
    from harness.profile.model import Profile
    from harness.uds.config import DiagConfig, IdentityDid

D = TypeVar("D")

__all__ = [
    "BUSES_DIGEST_FILE",
    "DEFAULT_BUS",
    "Plan",
    "PlannedBus",
    "PlannedCase",
    "PlannedStep",
    "RestbusPlan",
    "buses_manifest",
]

BUSES_DIGEST_FILE = "buses.sha256"
"""In an evidence folder's ``dbc/`` of a several-bus run: each bus's DBC digest, in
``sha256sum`` form; its own sha256 is the run's ``dbc_digest``."""


def buses_manifest(buses: Sequence[PlannedBus]) -> bytes:
    """The ``buses.sha256`` of a several-bus run: ``HEX  BUS/FILE`` per bus, in order (the
    DBCs as an evidence folder keeps them: ``dbc/BUS/FILE``)."""
    import hashlib

    return "".join(
        f"{hashlib.sha256(b.dbc.text).hexdigest()}  {b.name}/{b.file_name}\n" for b in buses
    ).encode()


DEFAULT_BUS = "can"
"""The name of the one bus of a single-bus profile (top-level ``dbc``, ``bitrate``, ``bus``)."""


@dataclass(frozen=True)
class PlannedBus:
    """One named bus of the profile: its DBC and its bit rates. Buses keep the profile's
    order; the first is the run's primary bus (the ``can`` stream, diagnostics, the trace's
    channel 1), bus ``i`` is the trace's BLF channel ``i + 1``."""

    name: str
    dbc: CanDatabase
    dbc_path: Path
    bitrate: int
    fd: bool = False
    data_bitrate: int = 0  # CAN FD data-phase bit rate (0: the nominal bitrate)
    brs: bool = False
    # the DBC's file name as the profile declares it (a file given in its place, evaluate
    # --dbc BUS=PATH, may be named otherwise); "" for dbc_path's own name
    dbc_name: str = ""

    @property
    def file_name(self) -> str:
        """The DBC's file name in an evidence folder (``dbc/BUS/FILE``) and its manifest."""
        return self.dbc_name or Path(self.dbc_path).name

    @property
    def view(self) -> BusView:
        """The bus as a check sees it (:class:`harness.observe.BusView`)."""
        from harness.observe import BusView

        return BusView(self.name, self.bitrate, self.data_bitrate)


@dataclass(frozen=True)
class PlannedStep:
    """One step, resolved. ``action`` is its step kind (:data:`harness.adapter.STEP_KINDS`);
    ``data`` is that kind's own typed data, defined by the transport that executes it
    (:mod:`harness.can.steps`, :mod:`harness.mqtt.plan`, :mod:`harness.uds.plan`,
    :class:`harness.operator.PromptPlan`, ...). ``duration`` is the bus time it takes at least.
    """

    action: str
    path: str
    name: str | None = None
    duration: float = 0.0
    data: object = None
    checks: tuple[Check, ...] = ()

    def data_as(self, kind: type[D]) -> D:
        """``data`` as ``kind``; TypeError naming the step when it is something else."""
        if not isinstance(self.data, kind):
            raise TypeError(
                f"{self.path}: a {self.action} step carries {type(self.data).__name__}, "
                f"expected {kind.__name__}"
            )
        return self.data

    @property
    def seeded_by_run(self) -> bool:
        """A fuzz step without a seed of its own: the run seed decides what it sends.

        Fuzz data of every kind carries ``seed`` (None when the profile sets none).
        """
        return hasattr(self.data, "seed") and getattr(self.data, "seed", 0) is None


@dataclass(frozen=True)
class PlannedCase:
    case_id: str
    title: str
    requirements: tuple[str, ...]
    mandatory: bool
    steps: tuple[PlannedStep, ...]
    checks: tuple[Check, ...]
    path: str
    needs: tuple[str, ...] = ()  # optional features the part must have for it to apply

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
    e2e: Protection | None
    fd: bool = False  # sent as a CAN FD frame (an FD message of the DBC on an FD bus)
    brs: bool = False  # with the bit rate switch
    bus: str = DEFAULT_BUS  # the named bus it is sent on


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
    e2e: dict[str, Protection]
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
    fd: bool = False  # the bus is CAN FD (profile bus.fd): FD messages of the DBC are sent as such
    data_bitrate: int = 0  # CAN FD data-phase bit rate (0: the nominal bitrate)
    brs: bool = False  # the harness's FD frames switch to the data bit rate
    identity_dids: tuple[IdentityDid, ...] = ()  # the identity items read over UDS, in order
    # every named bus in the profile's order (empty: a plan built by hand, one bus from the
    # fields above; see bus_list); the fields above are the first bus's
    buses: tuple[PlannedBus, ...] = ()
    ready_bus: str = DEFAULT_BUS  # the bus the ready message comes on
    diag_bus: str = DEFAULT_BUS  # the bus diagnostics run on (diagnostics.bus; the first's)

    @property
    def dbc_name(self) -> str:
        """The file in an evidence folder's ``dbc/`` whose sha256 is ``dbc_digest``: the DBC
        of a one-bus run, the :data:`BUSES_DIGEST_FILE` of a several-bus one."""
        return BUSES_DIGEST_FILE if len(self.buses) > 1 else Path(self.dbc_path).name

    def bus_list(self) -> tuple[PlannedBus, ...]:
        """The plan's buses; a hand-built plan without any has one, named ``can``."""
        if self.buses:
            return self.buses
        return (
            PlannedBus(
                DEFAULT_BUS,
                self.dbc,
                self.dbc_path,
                self.bitrate,
                self.fd,
                self.data_bitrate,
                self.brs,
            ),
        )

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
