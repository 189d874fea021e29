"""Diagnostic fuzzing: the oracle, the judge, seeds that replay, and the variant only it finds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.bench import Bench
from harness.errors import ProfileError
from harness.observe import FrameLog
from harness.plan import Plan
from harness.profile.compile import load_profile, load_profile_text
from harness.record import Verdict
from harness.session import DutChoice, Session
from harness.uds.exchange import DiagIds
from harness.uds.fuzz import DEFAULT_EXCLUDE, DiagFuzzPlan, generate
from harness.uds.judge import judge_span
from harness.uds.oracle import CC_TCU_1, OracleState
from tests.conftest import PROFILE, case_in_run, profile_copy, run_harness
from tests.uds.test_diag_steps import HEAD

VARIANT = "dtc-read-ignores-extra-bytes"
DEFAULT, EXTENDED = OracleState(session=0x01, unlocked=False), OracleState(session=0x03)


def allowed(request: str, functional: bool = False, state: OracleState | None = None) -> Any:
    st = OracleState(**vars(state)) if state is not None else OracleState(session=0x01)
    return CC_TCU_1.expect(bytes.fromhex(request), functional, st)


# -- the oracle ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("request_", "state", "nrcs", "requirement"),
    [
        ("BA", DEFAULT, {0x11}, "UDS-008"),  # unsupported service
        ("31 01 FF 00", DEFAULT, {0x11}, "UDS-008"),
        ("22 F1", DEFAULT, {0x13}, "UDS-008"),  # too short
        ("22 F1 90 00", DEFAULT, {0x13}, "UDS-008"),  # half a DID
        ("19 02 FF 00", DEFAULT, {0x13}, "UDS-008"),  # too long: what the variant gets wrong
        ("10", DEFAULT, {0x13}, "UDS-008"),
        ("10 03 00", DEFAULT, {0x13}, "UDS-008"),
        ("10 05 00", DEFAULT, {0x12}, "UDS-008"),  # 0x12 before 0x13
        ("27 05", DEFAULT, {0x12}, "UDS-008"),  # 0x12 before 0x7F
        ("27 01 00", DEFAULT, {0x7F}, "UDS-004"),  # 0x7F before 0x13
        ("27", DEFAULT, {0x7F}, "UDS-004"),
        ("27", EXTENDED, {0x13}, "UDS-008"),
        ("3E 80 00", DEFAULT, {0x13}, "UDS-008"),  # a negative answer is never suppressed
        ("22 F1 99", DEFAULT, {0x31}, "UDS-003"),
        ("19 01 FF", DEFAULT, {0x12}, "UDS-008"),
    ],
)
def test_the_oracle_fixes_the_nrc_where_the_page_does(
    request_: str, state: OracleState, nrcs: set[int], requirement: str
) -> None:
    e = allowed(request_, state=state)
    assert e.nrcs == nrcs and e.positive is None and not e.silent
    assert e.requirement == requirement


def test_the_oracle_on_positive_answers_and_the_suppress_bit() -> None:
    session = allowed("10 03")
    assert session.positive is not None and not session.nrcs and not session.silent
    assert session.positive.problem(bytes.fromhex("50 03 00 32 01 F4")) is None
    assert session.positive.problem(bytes.fromhex("50 03 00 19 01 F4")) is not None
    tester = allowed("3E 80")  # fixed by UDS-002: no answer at all
    assert tester.must_be_silent and tester.requirement == "UDS-002"
    # the page does not say whether 0x10 honours bit 7: no answer, or 0x12 for 0x81
    open_bit = allowed("10 81")
    assert open_bit.silent and open_bit.nrcs == {0x12} and open_bit.positive is None
    vin = allowed("22 F1 90 F1 A0")
    assert vin.positive is not None and vin.nrcs == {0x13}  # 0x13: one DID per request
    good = bytes.fromhex("62 F1 90") + b"K" * 17 + bytes.fromhex("F1 A0 0C 0F FE E1")
    assert vin.positive.problem(good) is None
    assert vin.positive.problem(good[:-1]) is not None
    dtcs = allowed("19 02 FF")
    assert dtcs.positive is not None and dtcs.positive.problem(bytes.fromhex("59 02 09")) is None
    assert dtcs.positive.problem(bytes.fromhex("59 02 08")) is not None
    seed = allowed("27 01", state=EXTENDED)
    assert seed.nrcs == {0x37} and seed.positive is not None
    assert seed.positive.problem(bytes.fromhex("67 01 11 22 33 44")) is None
    assert seed.positive.problem(bytes.fromhex("67 01 11 00 33 44")) is not None


def test_functional_requests_get_no_answer_instead_of_the_banned_nrcs() -> None:
    for request in ("BA 01", "22 F1 99", "10 05", "27 01"):
        assert allowed(request, functional=True).must_be_silent, request
    assert allowed("3E 00 00", functional=True).nrcs == {0x13}  # 0x13 is still sent
    assert allowed("22 F1 90", functional=True).positive is not None


def test_the_state_follows_sessions_s3_and_an_unknown_start() -> None:
    st = OracleState()
    assert allowed("27 01", state=st).nrcs == {0x37, 0x7F}  # session unknown: either
    CC_TCU_1.update(st, bytes.fromhex("10 03"), 1.0, bytes.fromhex("50 03 00 32 01 F4"))
    assert st.session == 0x03 and st.unlocked is False
    assert CC_TCU_1.expect(bytes.fromhex("27 01"), False, st, 5.5).nrcs == {0x37}
    assert CC_TCU_1.expect(bytes.fromhex("27 01"), False, st, 11.0).nrcs == {0x7F}  # S3
    CC_TCU_1.update(st, bytes.fromhex("10 83"), 12.0, None)  # suppressed, so accepted
    assert st.session == 0x03
    CC_TCU_1.update(st, bytes.fromhex("10 01"), 12.1, bytes.fromhex("7F 10 22"))  # refused
    assert st.session == 0x03


# -- the judge -----------------------------------------------------------------------------------
def _log(frames: list[tuple[float, str, int, str]]) -> FrameLog:
    log = FrameLog()
    for t, way, can_id, data in frames:
        (log.add_tx if way == "tx" else log.add_rx)(t, can_id, bytes.fromhex(data))
    return log


def test_the_judge_pairs_answers_with_stimuli_and_names_what_is_wrong() -> None:
    log = _log(
        [
            (0.00, "tx", 0x7E0, "02 10 01 CC CC CC CC CC"),
            (0.002, "rx", 0x7E8, "06 50 01 00 32 01 F4 55"),
            (0.06, "tx", 0x7E0, "04 19 02 FF 00 CC CC CC"),  # wrong length, answered positively
            (0.062, "rx", 0x7E8, "03 59 02 09 55 55 55 55"),
            (0.12, "tx", 0x7E0, "00 03 3E 00 00 CC CC CC"),  # SF_DL 0: no request, no answer
            (0.18, "tx", 0x7E0, "10 14 22 F1 90 F1 89 F1"),  # a lone first frame ...
            (0.18, "rx", 0x7E8, "30 00 00 55 55 55 55 55"),  # ... may get flow control
            (0.24, "tx", 0x7DF, "02 3E 00 CC CC CC CC CC"),
            (0.31, "rx", 0x7E8, "02 7E 00 55 55 55 55 55"),  # after 70 ms: late
            (0.36, "tx", 0x7E0, "03 22 F1 99 CC CC CC CC"),
            (0.362, "rx", 0x7E8, "03 7F 19 31 55 55 55 55"),  # answers another service
        ]
    )
    judged = judge_span(log, 0.0, 0.5, DiagIds(), CC_TCU_1)
    assert [j.stimulus.request is not None for j in judged] == [
        True,
        True,
        False,
        False,
        True,
        True,
    ]
    assert [j.ok for j in judged] == [True, False, True, True, False, False]
    wrong = judged[1]
    assert wrong.requirement == "UDS-008" and wrong.expect.nrcs == {0x13}
    assert "19 02 FF 00" in wrong.summary() and "got positive 59 02 09" in wrong.summary()
    assert judged[2].stimulus.note == "single frame with length 0"
    assert judged[3].flow_controls == [(0.18, bytes.fromhex("30 00 00 55 55 55 55 55"))]
    assert "first response after 70.000 ms, P2 is 50.000 ms" in judged[4].problems
    assert judged[5].problems[0].startswith("answered with 7F 19 31, no answer to service 0x22")


def test_a_flow_control_to_an_invalid_first_frame_is_shown_in_the_finding() -> None:
    """ISO 15765-2: a first frame whose length would fit a single frame is invalid and
    ignored. A part that answers it with flow control breaks UDS-008, and the finding shows
    the frame it sent (not 'got no response')."""
    log = _log(
        [
            (0.00, "tx", 0x7E0, "10 05 22 F1 90 F1 89 CC"),  # FF_DL 5: fits a single frame
            (0.001, "rx", 0x7E8, "30 00 00 55 55 55 55 55"),
        ]
    )
    (j,) = judge_span(log, 0.0, 0.06, DiagIds(), CC_TCU_1)
    assert j.stimulus.request is None and not j.stimulus.flow_control_due
    assert not j.ok
    assert j.problems == [
        "flow control 30 00 00 55 55 55 55 55 where no valid first frame asked for it"
    ]
    assert "got no response" not in j.summary()
    assert j.got() == "flow control frame [8] 30 00 00 55 55 55 55 55 at +1.000 ms"
    assert j.summary().endswith("got flow control frame [8] 30 00 00 55 55 55 55 55 at +1.000 ms)")


def test_consecutive_frames_join_their_first_frame_and_the_receiver_decides() -> None:
    log = _log(
        [
            (0.0, "tx", 0x7E0, "10 09 22 F1 90 F1 8C F1"),
            (0.0, "rx", 0x7E8, "30 00 00 55 55 55 55 55"),
            (0.001, "tx", 0x7E0, "21 A0 F1 89 CC CC CC CC"),  # completes the 9 bytes
            (0.003, "rx", 0x7E8, "03 7F 22 13 55 55 55 55"),
            (0.06, "tx", 0x7E0, "10 20 22 F1 90 F1 8C F1"),
            (0.06, "rx", 0x7E8, "30 00 00 55 55 55 55 55"),
            (0.061, "tx", 0x7E0, "23 00 00 00 00 00 00 00"),  # out of sequence: dropped
        ]
    )
    first, second = judge_span(log, 0.0, 0.2, DiagIds(), CC_TCU_1)
    assert first.stimulus.request == bytes.fromhex("22 F1 90 F1 8C F1 A0 F1 89") and first.ok
    assert second.stimulus.request is None and second.ok and len(second.stimulus.frames) == 2
    assert "consecutive frame 3 where 1 was due" in second.stimulus.note


# -- the generator -------------------------------------------------------------------------------
def _plan(**kw: Any) -> DiagFuzzPlan:
    base: dict[str, Any] = {
        "count": 400,
        "interval": 0.06,
        "addressing": "both",
        "raw_isotp": True,
        "services": None,
        "exclude": DEFAULT_EXCLUDE,
        "exclude_prefixes": (b"\x10\x02", b"\x10\x82"),
        "kinds": ("unsupported", "length", "subfunction", "did", "random", "isotp"),
        "session": "default",
        "oracle": "cc-tcu-1",
        "ids": DiagIds(),
        "padding": 0xCC,
        "p2": 0.05,
        "p2_star": 5.0,
        "seed": None,
    }
    return DiagFuzzPlan(**{**base, **kw})


def test_the_same_seed_draws_the_same_stimuli_and_another_seed_others() -> None:
    plan = _plan()
    first = generate(plan, 7)
    assert first == generate(plan, 7)
    assert [i.frames for i in first] != [i.frames for i in generate(plan, 8)]
    kinds = {i.kind for i in first}
    assert {"unsupported", "length", "subfunction", "did", "random"} <= kinds
    assert {"isotp:pci", "isotp:ff_alone", "isotp:ff_bad_sn", "isotp:sf_dl_zero"} <= kinds
    assert {i.functional for i in first} == {False, True}


def test_state_changing_requests_are_never_drawn() -> None:
    for seed in range(10):
        for item in generate(_plan(), seed):
            p = item.payload
            if p is None:
                continue
            assert p[0] not in DEFAULT_EXCLUDE, item
            assert not p.startswith((b"\x10\x02", b"\x10\x82")), item
            is_send_key = p[0] == 0x27 and len(p) == 6 and p[1] & 0x7F and not p[1] & 1
            assert not is_send_key, item  # three wrong keys would lock the part out
    only = generate(_plan(services=(0x22,), raw_isotp=False, count=50), 1)
    assert {i.payload[0] for i in only if i.payload} == {0x22}


# -- the step and the check in runs ---------------------------------------------------------------
def _mini(tmp_path: Path, spec: str, checks: str) -> Plan:
    text = (
        HEAD
        + "cases:\n  - id: TC-FUZZ\n    title: fuzz\n"
        + "    requirements: [UDS-008, UDS-001, UDS-002, UDS-003, UDS-004, UDS-006]\n"
        + f"    steps:\n      - fuzz_diag: {{{spec}}}\n        name: fuzz\n{checks}"
    )
    return load_profile_text(text, "fuzz.yaml", tmp_path)


def test_a_case_level_check_from_the_step_judges_it_and_what_follows(tmp_path: Path) -> None:
    checks = (
        '      - diag: {request: "3E 00", expect: {data: "7E 00"}}\n'
        "    checks:\n      - {kind: diag_fuzz, from: fuzz}\n"
    )
    plan = _mini(tmp_path, "count: 30, rate: 10, addressing: both, seed: 3", checks)
    assert plan.seeded_fuzz_steps() == 0
    with Session(plan, Bench(), DutChoice.parse("sim")) as s:
        record = s.run_all()
    (case,) = record.cases
    assert case.verdict is Verdict.PASS, [c.summary for c in case.checks]
    check = case.checks[-1]
    # 10 01 first, 30 stimuli, 10 01 to end, then the TesterPresent of the next step
    assert check.measurements["stimuli"] == 33
    (fuzz,) = case.fuzz
    assert fuzz.seed == 3 and fuzz.sent == 30 and fuzz.findings == []


def test_the_interval_must_exceed_p2(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"fuzz_diag\.interval: .* must exceed P2"):
        _mini(tmp_path, "count: 5, interval: 50 ms", "")


def test_the_profile_fuzz_case_passes_the_reference_with_a_fixed_seed() -> None:
    plan = load_profile(PROFILE)
    case = plan.case("TC-UDS-FUZZ")
    assert not any(s.seeded_by_run for s in case.steps)  # the same stimulus on every run
    with Session(plan, Bench(), DutChoice.parse("sim")) as session:
        record = session.run_all([case])
    (result,) = record.cases
    assert result.verdict is Verdict.PASS, [c.summary for c in result.checks]
    (fuzz,) = result.fuzz
    assert fuzz.kind == "diag" and fuzz.seed == 2024 and fuzz.sent == 80
    assert fuzz.findings == [] and fuzz.details["violations"] == 0
    assert fuzz.details["kinds"]["isotp"] > 0 and fuzz.details["functional"] > 0


def test_the_variant_fails_only_the_fuzz_case_and_the_finding_names_the_request() -> None:
    plan = load_profile(PROFILE)
    with Session(plan, Bench(), DutChoice.parse(f"sim:{VARIANT}")) as session:
        record = session.run_all()
    failed = {c.case_id: c for c in record.cases if c.verdict is not Verdict.PASS}
    assert list(failed) == ["TC-UDS-FUZZ"]  # TC-UDS-008 never sends such a request
    case = failed["TC-UDS-FUZZ"]
    bad = [c for c in case.checks if c.verdict is not Verdict.PASS]
    assert [(c.kind, c.requirements) for c in bad] == [("diag_fuzz", ("UDS-008",))]
    assert record.requirement_verdicts()["UDS-008"] is Verdict.FAIL
    assert record.requirement_verdicts()["UDS-003"] is Verdict.PASS
    finding = case.fuzz[0].findings[0]
    assert finding["request"].startswith("19 02") and len(finding["request"].split()) > 3
    assert finding["expected"] == "NRC 0x13 IncorrectMessageLengthOrInvalidFormat"
    assert finding["got"].startswith("positive 59 02 09")
    assert finding["requirement"] == "UDS-008"
    assert finding["summary"].startswith(f"#{finding['index']} {finding['request']}")
    assert bad[0].offender is not None and bad[0].offender.can_id == 0x7E8


def test_a_run_seed_replays_the_finding_and_evaluate_agrees(tmp_path: Path) -> None:
    profile = profile_copy(tmp_path, "          seed: 2024\n", "")
    common = ["--dut", f"sim:{VARIANT}", "--case", "TC-UDS-FUZZ", "--quiet"]
    first = run_harness(
        ["certify", str(profile), *common, "--seed", "3", "--out", str(tmp_path / "a")]
    )
    assert first.returncode == 1, first.stdout + first.stderr
    assert "fuzz run seed 3" in " ".join(first.stderr.split())
    record, case = case_in_run(tmp_path / "a", "TC-UDS-FUZZ")
    assert record["seed"] == 3 and case["verdict"] == "FAIL"
    (fuzz,) = case["fuzz"]
    assert fuzz["findings"] and all(f["request"].startswith("19 02") for f in fuzz["findings"])
    entries = [json.loads(x) for x in (tmp_path / "a" / "diag.jsonl").read_text().splitlines()]
    logged = [e for e in entries if e.get("fuzz") == fuzz["findings"][0]["index"]]
    assert logged and logged[0]["verdict"] != "ok" and logged[0]["request"].startswith("19 02")

    again = run_harness(
        ["certify", str(profile), *common, "--seed", "3", "--out", str(tmp_path / "b")]
    )
    assert again.returncode == 1
    _, case_b = case_in_run(tmp_path / "b", "TC-UDS-FUZZ")
    assert case_b["fuzz"] == case["fuzz"]  # same seed: same stimuli, offsets and findings
    assert case_b["checks"] == case["checks"]

    evaluated = run_harness(["evaluate", str(tmp_path / "a")])
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    assert "AGREES" in evaluated.stdout

    # the step's recorded seed, written into the profile as its own seed:, replays it too
    text = profile.read_text()
    assert text.count("          raw_isotp: true\n") == 1
    fixed = text.replace(
        "          raw_isotp: true\n",
        f"          raw_isotp: true\n          seed: {fuzz['seed']}\n",
    )
    plan = load_profile_text(fixed, "fixed.yaml", profile.parent)
    with Session(plan, Bench(), DutChoice.parse(f"sim:{VARIANT}"), seed=4) as session:
        replayed = session.run_all([plan.case("TC-UDS-FUZZ")]).cases[0].fuzz[0].to_json()
    assert replayed["findings"] == fuzz["findings"] and replayed["seed"] == fuzz["seed"]
