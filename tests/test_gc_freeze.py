"""Sessions freeze the garbage collector's view of their set-up, and give it back.

A full collection pass stops every thread while it scans every object; after the set-up of
the reference profile that was a pause near 100 ms in a real-time run, enough to push a BSM
out of its window (``bench/gc_pause.py`` measures it). A real-time session therefore moves
what is alive at its start to the collector's permanent generation, and must undo that when
it ends: a lab's pytest process runs many sessions and must get its cyclic garbage back.
"""

from __future__ import annotations

import gc
import weakref

import pytest

from harness.bench import Bench
from harness.profile.compile import load_profile
from harness.record import Verdict
from harness.session import DutChoice, Session
from tests.conftest import PROFILE


class Node:
    """A cycle: only the cyclic collector can free it."""

    def __init__(self) -> None:
        self.me = self


@pytest.mark.realtime
def test_a_realtime_session_freezes_its_setup_and_thaws_at_the_end() -> None:
    plan = load_profile(PROFILE)
    case = next(c for c in plan.cases if c.case_id == "TC-CAN-003")
    cycle = Node()
    gone = weakref.ref(cycle)
    with Session(plan, Bench(), DutChoice("sim"), realtime=True) as session:
        assert gc.get_freeze_count() > 0
        assert session.run_case(case).verdict is Verdict.PASS
        del cycle  # garbage now, but frozen with the set-up: no pass scans it
        gc.collect()
        assert gone() is not None
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gone() is None


def test_a_simulated_session_freezes_too_and_thaws_at_the_end() -> None:
    """On the virtual clock the freeze saves the fast-allocating run the same walks."""
    plan = load_profile(PROFILE)
    with Session(plan, Bench(), DutChoice("sim")):
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
