"""The ``count_delta`` check (harness.checks.can_counts): a DUT count's growth since a
named step, modulo the signal's range, within a band; a bad band is a located error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.checks.base import Check
from harness.errors import ProfileError
from harness.observe import FrameLog, Window
from harness.plan import Plan
from harness.profile.compile import load_profile_text
from harness.record import Verdict
from harness.sim.gw_provider import bus_dbcs
from tests.conftest import ROOT

PROFILE = f"""
format: cc-harness-profile/1
profile:
  id: count-checks
  version: 1.0.0
  title: checks
  requirements: {{id: T, version: "1", ids: [R-001]}}
dbc: {bus_dbcs()["body"]}
dut: {{node: GW, ready: {{message: GW_Status}}}}
cases:
  - id: C
    title: c
    requirements: [R-001]
    steps:
      - {{wait: 1 s, name: mark}}
    checks:
CHECKS
"""


def compile_checks(*checks: str) -> tuple[Plan, list[Check]]:
    text = PROFILE.replace("CHECKS", "\n".join(f"      - {c}" for c in checks))
    plan = load_profile_text(text, "t.yaml", ROOT / "profiles")
    return plan, list(plan.cases[0].checks)


def _log(plan: Plan, counts: list[tuple[float, int]]) -> FrameLog:
    status = plan.dbc.message("GW_Status")
    frames = FrameLog()
    for t, count in counts:
        values = {**dict.fromkeys(status.signals, 0), "DroppedCount": count}
        frames.add_rx(t, status.frame_id, status.encode(values))
    return frames


def _verdict(check: Check, frames: FrameLog) -> Verdict:
    return check.evaluate(Window(1.0, 2.0, frames, {"mark": 1.0}, 500000)).verdict


CHECK = "{kind: count_delta, message: GW_Status, signal: DroppedCount, from: mark, min: 3, max: 5}"


def test_a_count_that_grew_within_the_band_passes_across_the_wrap() -> None:
    plan, (check,) = compile_checks(CHECK)
    assert _verdict(check, _log(plan, [(0.9, 254), (1.5, 255), (1.9, 2)])) is Verdict.PASS
    result = check.evaluate(Window(1.0, 2.0, _log(plan, [(0.9, 1), (1.9, 2)]), {"mark": 1.0}, 1))
    assert result.verdict is Verdict.FAIL and result.measurements["delta"] == 1
    assert result.offender is not None and "1 -> 2 (+1)" in result.offender.describe()
    assert _verdict(check, _log(plan, [(0.9, 1), (1.9, 7)])) is Verdict.FAIL  # +6: above
    assert _verdict(check, _log(plan, [(1.5, 1), (1.9, 4)])) is Verdict.FAIL  # none before


@given(before=st.integers(0, 255), delta=st.integers(0, 255))
def test_the_change_is_counted_modulo_the_signal_range(before: int, delta: int) -> None:
    plan, (check,) = compile_checks(CHECK)
    frames = _log(plan, [(0.9, before), (1.9, (before + delta) % 256)])
    expected = Verdict.PASS if 3 <= delta <= 5 else Verdict.FAIL
    assert _verdict(check, frames) is expected


def test_a_band_upside_down_or_an_unknown_step_is_a_located_error() -> None:
    with pytest.raises(ProfileError, match="max"):
        compile_checks(CHECK.replace("max: 5", "max: 2"))
    with pytest.raises(ProfileError) as exc:
        compile_checks(CHECK.replace("from: mark", "from: marc"))
    assert "cases[0].checks[0].from" in str(exc.value)
