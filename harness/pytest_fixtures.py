"""The pytest plugin's fixtures for a lab's own tests: ``bench``, ``harness_session``,
``clock``, ``can_bus`` and ``dut`` (documented in :mod:`harness.pytest_plugin`, which
re-exports them so pytest finds them in the plugin)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from harness.bench import Bench
from harness.can.lab import LabBus
from harness.clock import RealClock, VirtualClock
from harness.errors import HarnessError
from harness.pytest_state import HarnessState
from harness.session import DutChoice, Session
from harness.sim.tcu import ReferenceTcu

__all__ = ["STATE", "LabDut", "bench", "can_bus", "clock", "dut", "harness_session", "state"]

STATE = pytest.StashKey[HarnessState]()


def state(config: pytest.Config) -> HarnessState:
    return config.stash[STATE]


@dataclass(frozen=True)
class LabDut:
    """The DUT of the session: what ``--dut`` chose, and the in-process simulator if any."""

    choice: DutChoice
    tcu: ReferenceTcu | None = None

    @property
    def simulated(self) -> bool:
        return self.tcu is not None


@pytest.fixture(scope="session")
def bench(pytestconfig: pytest.Config) -> Bench:
    """The bench from ``--bench`` (or the defaults)."""
    try:
        return state(pytestconfig).bench()
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def harness_session(pytestconfig: pytest.Config) -> Session:
    """The open session of the ``--profile`` profile, shared with its YAML items."""
    st = state(pytestconfig)
    if st.profile is None:
        pytest.fail(
            "the harness_session fixture needs --profile PROFILE (the profile whose DUT "
            "session the test runs on)",
            pytrace=False,
        )
    try:
        return st.session(st.profile)
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def clock(harness_session: Session) -> VirtualClock | RealClock:
    """The session's clock: ``.now()`` in virtual or wall-clock seconds."""
    return harness_session.loop.clock


@pytest.fixture
def can_bus(harness_session: Session) -> LabBus:
    """Send, run the loop and look at the DUT's frames on the session's bus."""
    return LabBus(harness_session.loop, harness_session.port, harness_session.plan.dbc)


@pytest.fixture
def dut(harness_session: Session) -> LabDut:
    """The ``--dut`` choice and, in simulated mode, the in-process reference TCU."""
    return LabDut(harness_session.dut, harness_session.tcu)
