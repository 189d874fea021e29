"""The oracle's facts come from the profile: CC-TCU-1's, declared in profiles/cc-tcu-1.yaml,
judge exactly as the hand-written oracle did (tests/uds/legacy_oracle.py), request by request
over seeded fuzz streams and over whole runs against the simulator and its faulty variants;
bad facts are errors at their place."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.bench import Bench
from harness.errors import ProfileError
from harness.profile.compile import load_profile, load_profile_text
from harness.record import Verdict
from harness.session import DutChoice, Session
from harness.uds.exchange import DiagIds
from harness.uds.fuzz import DiagFuzzPlan, generate
from harness.uds.judge import Judged, judge_span
from harness.uds.oracle import CC_TCU_1, OracleState, UdsOracle
from tests.conftest import PROFILE
from tests.uds.legacy_oracle import LEGACY_CC_TCU_1
from tests.uds.legacy_oracle import OracleState as LegacyState
from tests.uds.test_diag_steps import HEAD


def _profile_oracle() -> UdsOracle:
    plan = load_profile(PROFILE)
    (fuzz,) = [s.data for c in plan.cases for s in c.steps if isinstance(s.data, DiagFuzzPlan)]
    assert fuzz.facts is not None and fuzz.oracle == "cc-tcu-1"
    return fuzz.facts


PROFILE_ORACLE = _profile_oracle()


def _plan(**kw: Any) -> DiagFuzzPlan:
    base: dict[str, Any] = {
        "count": 150,
        "interval": 0.06,
        "addressing": "both",
        "raw_isotp": False,
        "services": None,
        "exclude": (),  # everything, the state-changing services too
        "exclude_prefixes": (),
        "kinds": ("unsupported", "length", "subfunction", "did", "random"),
        "session": "keep",
        "oracle": "cc-tcu-1",
        "ids": DiagIds(),
        "padding": 0xCC,
        "p2": 0.05,
        "p2_star": 5.0,
        "seed": None,
    }
    return DiagFuzzPlan(**{**base, **kw})


def _same_expect(a: Any, b: Any, rng: random.Random, where: str) -> None:
    assert (a.requirement, a.reason, a.nrcs, a.silent) == (
        b.requirement,
        b.reason,
        b.nrcs,
        b.silent,
    ), where
    assert a.describe() == b.describe(), where
    assert (a.positive is None) == (b.positive is None), where
    if a.positive is not None:
        head = a.positive.prefix
        for n in (0, 1, 2, 4, 6, 12, 17, 19, 40):
            cand = head + rng.randbytes(n)
            assert a.positive.problem(cand) == b.positive.problem(cand), (where, cand.hex())
        for cand in (head + b"\x00" * 4, head + b"\x11\x22\x33\x44", bytes([head[0]])):
            assert a.positive.problem(cand) == b.positive.problem(cand), (where, cand.hex())


def _answer(e: Any, rng: random.Random) -> bytes | None:
    """An answer a part might give (allowed or not): the state follows it either way."""
    r = rng.random()
    if r < 0.45 and e.positive is not None:
        return e.positive.prefix + rng.randbytes(rng.choice((0, 0, 4, 17)))
    if r < 0.75 and e.nrcs:
        return bytes([0x7F, 0x00, rng.choice(sorted(e.nrcs))])
    if r < 0.9:
        return None
    return rng.randbytes(rng.randint(1, 6))


def _compare_stream(seed: int, session: int | None, oracle: UdsOracle | None = None) -> int:
    new_oracle = oracle if oracle is not None else PROFILE_ORACLE
    rng = random.Random(seed)
    items = generate(_plan(), seed)
    old, new = LegacyState(session=session), OracleState(session=session)
    t = 0.0
    compared = 0
    for item in items:
        t += rng.choice((0.06, 0.06, 0.3, 4.9, 5.0, 5.3))  # S3 near and past 5 s too
        if item.payload is None:
            continue
        a = LEGACY_CC_TCU_1.expect(item.payload, item.functional, old, t)
        b = new_oracle.expect(item.payload, item.functional, new, t)
        _same_expect(a, b, rng, f"seed {seed} #{item.index} {item.payload.hex(' ')}")
        answer = _answer(a, rng)
        LEGACY_CC_TCU_1.update(old, item.payload, t, answer)
        new_oracle.update(new, item.payload, t, answer)
        assert vars(old) == vars(new), (seed, item.index)
        compared += 1
    return compared


def test_the_profile_declares_the_same_facts_as_the_named_oracle() -> None:
    assert PROFILE_ORACLE.facts() == CC_TCU_1.facts()
    assert PROFILE_ORACLE.name == CC_TCU_1.name == LEGACY_CC_TCU_1.name


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from([None, 0x01, 0x03]))
def test_the_profile_oracle_expects_what_the_hand_written_one_did(
    seed: int, session: int | None
) -> None:
    assert _compare_stream(seed, session) > 100


@pytest.mark.parametrize(
    "change",
    [
        {"nrc_order": (0x11, 0x7F, 0x12, 0x13)},
        {"key_length": 5},
        {"dtc_availability": 0xFF},
    ],
)
def test_the_law_fails_for_facts_one_step_off(change: dict[str, Any]) -> None:
    off = UdsOracle(
        "cc-tcu-1",
        PROFILE_ORACLE.services,
        PROFILE_ORACLE.did_info,
        **{
            "key_length": 4,
            "s3": 5.0,
            "reset_quiet": 0.65,
            "nrc_order": PROFILE_ORACLE.nrc_order,
            "requirements": PROFILE_ORACLE.requirements,
            **change,
        },
    )
    failures = 0
    for seed in range(30):
        try:
            _compare_stream(seed, None, off)
        except AssertionError:
            failures += 1
    assert failures > 0


# -- whole runs: the same log judged by both ------------------------------------------------------
SPEC = "count: 160, interval: 60 ms, addressing: both, exclude: [], session: extended"


def _judged(judged: list[Judged]) -> list[tuple[Any, ...]]:
    return [
        (
            j.stimulus.first,
            j.stimulus.request,
            j.requirement,
            j.expect.describe(),
            j.expect.reason,
            tuple(j.problems),
            j.got(),
        )
        for j in judged
    ]


@pytest.mark.parametrize(
    ("dut", "caught"),
    [
        ("sim", False),
        ("sim:unsupported-service-nrc-7f", True),
        ("sim:dtc-read-ignores-extra-bytes", True),
        ("sim:wrong-nrc-unknown-did", True),
        # this stream happens not to show these two: the same (no) findings from both
        ("sim:write-without-security", False),
        ("sim:tester-present-not-suppressed", False),
    ],
)
def test_a_run_judged_by_both_gives_the_same_findings(
    tmp_path: Path, dut: str, caught: bool
) -> None:
    text = (
        HEAD
        + "cases:\n  - id: TC-FUZZ\n    title: fuzz\n"
        + "    requirements: [UDS-001, UDS-002, UDS-003, UDS-004, UDS-005, UDS-008]\n"
        + f"    steps:\n      - fuzz_diag: {{{SPEC}, seed: 11}}\n        name: fuzz\n"
        + "        checks: [{kind: diag_fuzz}]\n"
    )
    plan = load_profile_text(text, "fuzz.yaml", tmp_path)
    with Session(plan, Bench(), DutChoice.parse(dut)) as s:
        record = s.run_all()
        (case,) = record.cases
        (fuzz,) = case.fuzz
        t0, t1 = fuzz.started, fuzz.ended
        ids = DiagIds()
        old = judge_span(s.log, t0, t1, ids, LEGACY_CC_TCU_1)  # type: ignore[arg-type]
        new = judge_span(s.log, t0, t1, ids, PROFILE_ORACLE)
    assert len(new) > 150
    assert _judged(old) == _judged(new)
    bad = [j for j in new if not j.ok]
    assert bool(bad) == caught, [j.summary() for j in bad][:3]
    assert record.cases[0].verdict is (Verdict.FAIL if caught else Verdict.PASS)


# -- bad facts ------------------------------------------------------------------------------------
FACTS = """\
diagnostics:
  oracle:
    name: acme
    requirements: {unsupported: UDS-008, subfunction: UDS-008, length: UDS-008, malformed: UDS-008}
    services:
      0x10: {name: DiagnosticSessionControl, requirement: UDS-001, subfunctions: {0x01: 2, 0x03: 2}}
      0x22: {name: ReadDataByIdentifier, requirement: UDS-003, length: [3, 5, 7]}
      0x27: {name: SecurityAccess, requirement: UDS-004, subfunctions: {0x01: 2, 0x02: 6}}
    dids:
      0xF190: {name: vin, length: 17}
"""
CASE = (
    "cases:\n  - id: TC-FUZZ\n    title: fuzz\n    requirements: [UDS-008]\n"
    "    steps:\n      - fuzz_diag: {count: 20, interval: 60 ms}\n        name: fuzz\n"
    "        checks: [{kind: diag_fuzz}]\n"
)


def _load(tmp_path: Path, facts: str) -> Any:
    return load_profile_text(HEAD + facts + CASE, "facts.yaml", tmp_path)


def test_a_step_without_oracle_judges_by_the_profile_facts(tmp_path: Path) -> None:
    plan = _load(tmp_path, FACTS)
    (step,) = plan.case("TC-FUZZ").steps
    assert step.data.oracle == "acme" and step.data.facts is not None
    assert step.data.facts.supported == {0x10, 0x22, 0x27}
    (check,) = step.checks
    assert check.oracle.facts() == step.data.facts.facts()  # type: ignore[attr-defined]
    # ISO 14229-1's order by default: the length (0x13) before the sub-function (0x12)
    facts, default = step.data.facts, OracleState(session=0x01)
    assert facts.expect(b"\x27\x01\x00", False, default).nrcs == {0x13}
    assert facts.expect(b"\x27\x05", False, default).nrcs == {0x12}
    assert facts.expect(b"\x10", False, default).nrcs == {0x13}
    # CC-TCU-1 checks the sub-function first, and its requestSeed rule allows 0x37 too
    assert CC_TCU_1.expect(b"\x27\x01\x00", False, OracleState(session=3)).nrcs == {0x13, 0x37}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (("requirement: UDS-001", "requirement: UDS-999"), r"oracle\.services\[16\]\.requirement"),
        (("length: UDS-008, malformed", "length: X-1, malformed"), r"oracle\.requirements\.length"),
        (("{0x01: 2, 0x02: 6}}", "{0x01: 2, 0x03: 6}}"), r"oracle\.services\[39\]\.subfunctions"),
        (("vin, length: 17}", "vin, write: true}"), r"oracle\.dids\[61840\]\.write"),
        (("    dids:", "    nrc_order: [0x12, 0x11]\n    dids:"), r"oracle\.nrc_order\[0\]"),
        (("    dids:", "    nrc_order: [0x11, 0x31]\n    dids:"), r"oracle\.nrc_order\[1\]"),
        (
            ("{0x01: 2, 0x02: 6}}", "{0x01: 2, 0x02: 6}, sessions: [0x02]}"),
            r"services\[39\]\.sessions\[0\]",
        ),
        (("0x22: {name", "0x62: {name"), r"oracle\.services\[98\]: 0x62 is no request"),
        (
            ("length: [3, 5, 7]}", "subfunctions: {0x01: 3}}"),
            r"services\[34\]\.subfunctions: ReadDataByIdentifier has no",
        ),
    ],
)
def test_bad_facts_are_errors_at_their_place(
    tmp_path: Path, change: tuple[str, str], where: str
) -> None:
    assert change[0] in FACTS
    with pytest.raises(ProfileError, match=where):
        _load(tmp_path, FACTS.replace(*change, 1))


def test_oracle_profile_without_facts_is_an_error_at_the_step(tmp_path: Path) -> None:
    text = HEAD + CASE.replace("interval: 60 ms}", "interval: 60 ms, oracle: profile}")
    with pytest.raises(ProfileError, match=r"fuzz_diag\.oracle: .*declares no diagnostic facts"):
        load_profile_text(text, "nofacts.yaml", tmp_path)


def test_a_named_oracle_still_wins_over_the_profile_facts(tmp_path: Path) -> None:
    plan = _load(tmp_path, FACTS.replace("    name: acme\n", ""))
    (step,) = plan.case("TC-FUZZ").steps
    assert step.data.oracle == "profile" and step.data.facts is not None
    by_name = HEAD + FACTS + CASE.replace("interval: 60 ms}", "interval: 60 ms, oracle: acme}")
    step = load_profile_text(by_name, "acme.yaml", tmp_path).case("TC-FUZZ").steps[0]
    assert step.data.oracle == "acme" and step.data.facts is not None
    text = HEAD + FACTS + CASE.replace("interval: 60 ms}", "interval: 60 ms, oracle: cc-tcu-1}")
    plan = load_profile_text(text, "named.yaml", tmp_path)
    (step,) = plan.case("TC-FUZZ").steps
    assert step.data.oracle == "cc-tcu-1" and step.data.facts is None


def test_sessions_and_security_per_did_and_sub_function(tmp_path: Path) -> None:
    facts = FACTS.replace(
        "      0xF190: {name: vin, length: 17}\n",
        "      0xF190: {name: vin, length: 17}\n"
        "      0xF1B0: {name: calib, length: 2, read_sessions: [0x03], read_security: true}\n",
    ).replace(
        "subfunctions: {0x01: 2, 0x02: 6}}",
        "subfunctions: {0x01: 2, 0x02: 6}, subfunction_sessions: {0x01: [0x03]}}",
    )
    oracle = _load(tmp_path, facts).case("TC-FUZZ").steps[0].data.facts
    default, unknown = OracleState(session=0x01), OracleState()
    locked, unlocked = OracleState(session=0x03, unlocked=False), OracleState(0x03, True)
    calib = b"\x22\xf1\xb0"
    assert oracle.expect(calib, False, default).nrcs == {0x31}
    assert oracle.expect(calib, False, default).positive is None
    assert oracle.expect(calib, False, locked).nrcs == {0x33}
    e = oracle.expect(calib, False, unlocked)
    assert not e.nrcs and e.positive.problem(b"\x62\xf1\xb0\x01\x02") is None
    assert oracle.expect(calib, False, unknown).nrcs == {0x31, 0x33}
    assert oracle.expect(b"\x27\x01", False, default).nrcs == {0x7E}
    assert oracle.expect(b"\x27\x01", False, locked).nrcs == {0x37}
    assert 0x7E in oracle.expect(b"\x27\x01", False, unknown).nrcs
    only_ext = facts.replace("subfunction_sessions: {0x01: [0x03]}", "sessions: [0x03]")
    iso = _load(tmp_path, only_ext).case("TC-FUZZ").steps[0].data.facts
    assert iso.expect(b"\x27\x01\x00", False, default).nrcs == {0x7F}  # 0x7F before 0x13
    assert iso.expect(b"\x27\x01\x00", False, unknown).nrcs == {0x13, 0x7F}
