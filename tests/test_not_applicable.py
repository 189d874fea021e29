"""Laws of the NOT_APPLICABLE verdict: a case that does not apply is neutral, never a pass."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.record import CaseRecord, RunRecord, RunStatus, Verdict, combine

REQS = ("R-1", "R-2", "R-3")
VERDICTS = [v for v in Verdict if v is not Verdict.NOT_APPLICABLE]


def case(i: int, verdict: Verdict, reqs: tuple[str, ...], mandatory: bool) -> CaseRecord:
    return CaseRecord(f"C-{i}", "t", reqs, mandatory, verdict, 0.0, 1.0)


def run(cases: list[CaseRecord]) -> RunRecord:
    return RunRecord(
        "0" * 32, "p", "1", "x", "y", "0", "simulated", "sim", {}, "now",
        status=RunStatus.COMPLETED, cases=cases,
    )  # fmt: skip


cases_st = st.lists(
    st.tuples(
        st.sampled_from(VERDICTS),
        st.lists(st.sampled_from(REQS), min_size=1, max_size=3, unique=True).map(tuple),
        st.booleans(),
    ),
    max_size=6,
)


@given(cases_st, cases_st)
def test_cases_that_do_not_apply_change_no_other_verdict(
    applying: list[tuple[Verdict, tuple[str, ...], bool]],
    excused: list[tuple[Verdict, tuple[str, ...], bool]],
) -> None:
    real = [case(i, v, r, m) for i, (v, r, m) in enumerate(applying)]
    na = [case(100 + i, Verdict.NOT_APPLICABLE, r, m) for i, (_v, r, m) in enumerate(excused)]
    alone, mixed = run(real), run(real + na)
    before, after = alone.requirement_verdicts(), mixed.requirement_verdicts()
    for req, verdict in after.items():
        if req in before:
            assert verdict is before[req]  # neutral where another case applies
        else:
            assert verdict is Verdict.NOT_APPLICABLE  # only excused cases trace it
    assert mixed.passed == alone.passed  # never makes a run pass or fail
    assert sorted(mixed.not_claimed()) == sorted(set(after) - set(before))


@given(st.lists(st.sampled_from(list(Verdict)), max_size=6))
def test_combine_never_turns_not_applicable_into_a_pass(verdicts: list[Verdict]) -> None:
    result = combine(verdicts)
    rest = [v for v in verdicts if v is not Verdict.NOT_APPLICABLE]
    if verdicts and not rest:
        assert result is Verdict.NOT_APPLICABLE
    elif rest:
        assert result is combine(rest)
