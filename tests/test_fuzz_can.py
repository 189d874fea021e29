"""CAN fuzzing: sweeps and draws on the bus, seeds that replay, findings that name the frames."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from harness.bench import Bench
from harness.checks.can_timing import frame_bits
from harness.fuzz import derive_seed
from harness.plan import Plan
from harness.profile.compile import load_profile
from harness.record import Verdict
from harness.session import DutChoice, Session
from harness.sim.tcu_config import FUZZ_TRIGGER_DLC, FUZZ_TRIGGER_ID
from tests.conftest import PROFILE, ROOT, case_in_run, profile_copy, run_harness

MINIMAL = (ROOT / "tests" / "corpus" / "valid-minimal.yaml").read_text()
HEAD = MINIMAL[: MINIMAL.index("cases:")].replace("../../dbc/", str(ROOT / "dbc") + "/")


def fuzz_profile(tmp_path: Path, spec: str, checks: str = "") -> Plan:
    """A one-case profile whose only step is ``fuzz_can: {spec}``."""
    text = (
        HEAD
        + "cases:\n  - id: TC-FUZZ\n    title: fuzz\n    requirements: [CAN-008]\n"
        + "    steps:\n      - fuzz_can:\n"
        + "".join(f"          {line}\n" for line in spec.strip().splitlines())
        + checks
    )
    path = tmp_path / f"fuzz-{abs(hash(spec + checks))}.yaml"
    path.write_text(text)
    return load_profile(path)


def run(plan: Plan, dut: str = "sim", seed: int | None = None) -> tuple[Session, Any]:
    with Session(plan, Bench(), DutChoice.parse(dut), seed=seed) as session:
        record = session.run_all()
    return session, record


def fuzz_frames(session: Session, ids: range) -> list[tuple[float, int, bytes]]:
    frames = [
        (t, can_id, data)
        for can_id in ids
        for t, data in zip(
            session.log.tx_of(can_id).ts, session.log.tx_of(can_id).data, strict=True
        )
    ]
    return sorted(frames)


def test_sweep_sends_every_pair_once_identifiers_ascending_at_the_rate(tmp_path: Path) -> None:
    plan = fuzz_profile(
        tmp_path, "ids: [0x200, 0x201, 0x202, 0x203]\ndlc: [0, 3, 8]\norder: sweep\nrate: 1000"
    )
    session, record = run(plan)
    frames = fuzz_frames(session, range(0x200, 0x204))
    pairs = [(can_id, len(data)) for _, can_id, data in frames]
    assert pairs == list(itertools.product([0x200, 0x201, 0x202, 0x203], [0, 3, 8]))
    gaps = {round(b[0] - a[0], 6) for a, b in itertools.pairwise(frames)}
    assert gaps == {0.001}
    (fuzz,) = record.cases[0].fuzz
    assert fuzz.sent == 12 and fuzz.details["passes"] == 1 and fuzz.findings == []


def test_shuffled_order_is_the_seeds_and_covers_every_pair(tmp_path: Path) -> None:
    def order(seed: int) -> list[tuple[int, bytes]]:
        plan = fuzz_profile(
            tmp_path, f"id_ranges: [[0x400, 0x40F]]\ndlc: [1, 2, 7]\nrate: 2000\nseed: {seed}"
        )
        session, _ = run(plan)
        return [(c, d) for _, c, d in fuzz_frames(session, range(0x400, 0x410))]

    first, again, other = order(11), order(11), order(12)
    assert first == again  # same seed: same frames, payloads included, same order
    assert first != other
    assert sorted((c, len(d)) for c, d in first) == sorted((c, len(d)) for c, d in other)
    assert len(first) == 16 * 3


def test_random_draws_hold_the_bus_load_for_the_duration(tmp_path: Path) -> None:
    plan = fuzz_profile(
        tmp_path, "id_ranges: [[0x500, 0x5FF]]\norder: random\nload_percent: 20\nfor: 2 s\nseed: 3"
    )
    session, record = run(plan)
    frames = fuzz_frames(session, range(0x500, 0x600))
    span = frames[-1][0] - frames[0][0]
    bits = sum(frame_bits(c, len(d)) for _, c, d in frames[:-1])
    assert 1.95 < span <= 2.0
    assert bits / span / plan.bitrate == pytest.approx(0.20, rel=0.01)
    assert record.cases[0].fuzz[0].sent == len(frames)


def test_a_step_without_a_seed_takes_it_from_the_run_seed(tmp_path: Path) -> None:
    plan = fuzz_profile(tmp_path, "ids: [0x600]\ndlc: [8]\nrate: 100\nfor: 300 ms")
    assert plan.seeded_fuzz_steps() == 1
    session, record = run(plan, seed=5)
    assert record.seed == 5
    (fuzz,) = record.cases[0].fuzz
    assert fuzz.seed == derive_seed(5, "TC-FUZZ", "cases[0].steps[0]")
    payloads = session.log.tx_of(0x600).data
    assert run(plan, seed=5)[0].log.tx_of(0x600).data == payloads
    assert run(plan, seed=6)[0].log.tx_of(0x600).data != payloads
    # the case's place in the profile does not enter the seed, its id and step do
    assert derive_seed(5, "TC-FUZZ", "cases[7].steps[0]") == fuzz.seed
    assert derive_seed(5, "TC-OTHER", "cases[0].steps[0]") != fuzz.seed


def test_fuzz_checks_cover_the_fuzzing_window(tmp_path: Path) -> None:
    checks = (
        "        checks:\n"
        "          - {kind: cycle_time, message: TCU_Status, min: 90 ms, max: 110 ms}\n"
    )
    plan = fuzz_profile(
        tmp_path,
        "id_ranges: [[0x2C0, 0x2CF]]\nrate: 500\nwatch: {message: TCU_Status, silence: 300 ms}",
        checks,
    )
    _, good = run(plan)
    assert good.cases[0].verdict is Verdict.PASS
    check = good.cases[0].checks[0]
    assert check.window is not None
    # the fuzz (144 frames at 500/s) and the watch's last 300 ms after its final frame
    assert check.window[1] - check.window[0] == pytest.approx(16 * 9 / 500 + 0.3, abs=0.002)
    _, bad = run(plan, "sim:silent-after-id-dlc")
    assert bad.cases[0].verdict is Verdict.FAIL
    (finding,) = bad.cases[0].fuzz[0].findings
    trigger = f"0x{FUZZ_TRIGGER_ID:03X} [{FUZZ_TRIGGER_DLC}]"
    assert any(trigger in line for line in finding["suspects"])
    assert "TCU_Status silent for more than 300 ms" in finding["summary"]


def test_fuzz_sweep_finds_the_one_bad_pair_and_the_recorded_seed_replays_it(
    tmp_path: Path,
) -> None:
    """The acceptance test of the issue: a part that misbehaves on one (identifier, DLC) pair
    is found by the fuzz case, and the run seed in run.json reproduces the finding."""
    profile = profile_copy(tmp_path, "          seed: 2008\n", "")
    common = ["--dut", "sim:silent-after-id-dlc", "--case", "TC-CAN-008-FUZZ", "--quiet"]
    first = run_harness(["certify", str(profile), *common, "--out", str(tmp_path / "a")])
    assert first.returncode == 1, first.stdout + first.stderr
    record, case = case_in_run(tmp_path / "a", "TC-CAN-008-FUZZ")
    assert f"fuzz run seed {record['seed']}" in " ".join(first.stderr.split())
    assert f"replay: --seed {record['seed']}" in " ".join(first.stdout.split())
    assert "fuzz finding" in first.stderr or "fuzz finding" in first.stdout
    assert record["selected_cases"] == ["TC-CAN-008-FUZZ"]
    assert case["verdict"] == "FAIL"
    (fuzz,) = case["fuzz"]
    (finding,) = fuzz["findings"]
    trigger = f"0x{FUZZ_TRIGGER_ID:03X} [{FUZZ_TRIGGER_DLC}]"
    assert any(trigger in line for line in finding["suspects"]), finding["summary"]

    seed = str(record["seed"])
    again = run_harness(
        ["certify", str(profile), *common, "--seed", seed, "--out", str(tmp_path / "b")]
    )
    assert again.returncode == 1
    _, case_b = case_in_run(tmp_path / "b", "TC-CAN-008-FUZZ")
    assert case_b["fuzz"] == case["fuzz"]  # same seed, frames, offsets and finding
    assert case_b["checks"] == case["checks"]

    other = run_harness(
        [
            "certify",
            str(profile),
            *common,
            "--seed",
            str(int(seed) ^ 1),
            "--out",
            str(tmp_path / "c"),
        ]
    )
    assert other.returncode == 1  # a sweep finds it whatever the order ...
    _, case_c = case_in_run(tmp_path / "c", "TC-CAN-008-FUZZ")
    assert case_c["fuzz"][0]["findings"][0]["offset"] != finding["offset"]  # ... elsewhere

    evaluated = run_harness(["evaluate", str(tmp_path / "a")])
    assert evaluated.returncode == 0, evaluated.stdout


def test_the_profile_fuzz_case_passes_the_reference_and_needs_no_run_seed() -> None:
    plan = load_profile(PROFILE)
    assert plan.seeded_fuzz_steps() == 0  # certification runs send the same frames each time
    case = plan.case("TC-CAN-008-FUZZ")
    with Session(plan, Bench(), DutChoice.parse("sim")) as session:
        record = session.run_all([case])
    (result,) = record.cases
    assert result.verdict is Verdict.PASS
    (fuzz,) = result.fuzz
    assert fuzz.seed == 2008 and fuzz.findings == []
    assert fuzz.sent == fuzz.details["pairs"] == 2039 * 9
    assert record.selection == ("TC-CAN-008-FUZZ",)


def test_unknown_case_is_bad_input_naming_the_choices(tmp_path: Path) -> None:
    result = run_harness(["certify", str(PROFILE), "--case", "TC-NOPE", "--out", str(tmp_path)])
    assert result.returncode == 2
    text = " ".join(result.stderr.split())
    assert "--case TC-NOPE: no such case in cc-tcu-1" in text and "TC-CAN-001-ON" in text
    assert not (tmp_path / "run.json").exists()


def test_a_long_watch_after_a_short_fuzz_is_waited_for_not_an_error(tmp_path: Path) -> None:
    plan = fuzz_profile(
        tmp_path,
        "ids: [0x600]\norder: random\nrate: 100\nfor: 200 ms\nseed: 1\n"
        "watch: {message: TCU_Status, silence: 3 s}",
        "        checks:\n"
        "          - {kind: cycle_time, message: TCU_Status, min: 90 ms, max: 110 ms}\n",
    )
    _, record = run(plan)
    (case,) = record.cases
    assert case.error is None and case.verdict is Verdict.PASS
    window = case.checks[0].window
    assert window is not None and window[1] - window[0] == pytest.approx(3.2, abs=0.01)
