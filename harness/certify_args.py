"""What ``harness certify``'s arguments mean, resolved before the run starts.

Each is checked before the evidence folder exists (validation before side effects), and a
bad one is an :class:`~harness.errors.InputError` naming the argument. Heavy modules are
imported by the function that needs them, so that ``harness --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.errors import InputError

if TYPE_CHECKING:
    from harness.bench import Bench
    from harness.identity import GivenIdentity
    from harness.plan import Plan, PlannedCase
    from harness.qualify.simproc import SimProcessLane
    from harness.sim.choice import DutChoice

__all__ = ["chosen_cases", "given_identity_for", "sim_process_lane"]


def sim_process_lane(
    wanted: bool, plan: Plan, bench: Bench, dut: DutChoice
) -> SimProcessLane | None:
    """``--sim-process``: the simulated DUT's own process and the bench it meets it on."""
    if not wanted:
        return None
    from harness.qualify.simproc import SimProcessLane

    return SimProcessLane.for_choice(plan, bench, dut, "--sim-process")


def given_identity_for(
    plan: Plan, bench: Bench, assignments: Sequence[str], certify: bool
) -> GivenIdentity:
    """The identity items given for a part without DIDs (bench, then --identity); with a
    certificate to issue, an identity that could not be complete is an error now."""
    from harness.identity import given_identity, identity_gap, parse_assignments
    from harness.profile.compile_diag import identity_fields

    fields = identity_fields(plan.profile)
    where = f"bench {bench.source} dut.identity" if bench.source else "the bench's dut.identity"
    given = given_identity(fields, bench.dut.identity, parse_assignments(assignments), where)
    gap = identity_gap(fields, given.values, plan.profile_id)
    if certify and gap is not None:
        raise InputError(f"--key: no certificate could name the part: {gap}")
    return given


def chosen_cases(plan: Plan, wanted: Sequence[str] | None) -> list[PlannedCase]:
    """The cases --case names, in profile order; every case when none is named."""
    if not wanted:
        return list(plan.cases)
    known = {c.case_id for c in plan.cases}
    for case_id in wanted:
        if case_id not in known:
            shown = case_id if len(case_id) <= 80 else case_id[:77] + "..."
            raise InputError(
                f"--case {shown}: no such case in {plan.profile_id}",
                expected="a case id of the profile",
                got=case_id,
                choices=[c.case_id for c in plan.cases],
            )
    return [c for c in plan.cases if c.case_id in set(wanted)]
