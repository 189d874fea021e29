"""Checks of two buses against a real run: the relay routing 0x300..0x30F (``relay_routing.yaml``).

The relay (``relay_part.py``, the DUT provider ``relay-routing``) copies the classic 11-bit
frames of 0x300..0x30F that the harness sends on the CAN FD front bus onto the classic rear
bus, on the session's virtual clock; the harness also sends FD frames of 0x305 and classic
frames of 0x310, which must not cross. Each faulty build is caught by exactly the new check
of its requirement (``routed`` for a copy 6 ms late, ``firewall`` for FD frames that leak),
its failure names the frame (``routed`` with ``min_spacing`` for a rate limit 1 ms short or
long, on 0x320..0x32F), and ``harness evaluate`` of the evidence (the BLF trace, where
the harness's frames keep their FD flag) agrees with the live verdicts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.bench import Bench
from harness.cli import main
from harness.dut import DUTS
from harness.errors import ProfileError
from harness.offline import evaluate_evidence, load_evidence
from harness.profile.compile import load_profile
from harness.record import CheckResult, Verdict
from harness.session import DutChoice, Session
from tests.buses.conftest import copy_profile
from tests.buses.relay_part import ROUTING_VARIANTS, RoutingRelayProvider
from tests.report.conftest import assert_agrees

HERE = Path(__file__).resolve().parent
PROFILE = HERE / "relay_routing.yaml"
CASES = {
    "RL-004": ("TC-RL-004", "routed"),
    "RL-005": ("TC-RL-005", "firewall"),
    "RL-006": ("TC-RL-006", "routed"),
}


@pytest.fixture(scope="module", autouse=True)
def _provider() -> Iterator[None]:
    DUTS.add("relay-routing", RoutingRelayProvider(), origin="test")
    try:
        yield
    finally:
        DUTS.unregister("relay-routing")


@pytest.fixture()
def profile(tmp_path: Path) -> Path:
    return copy_profile(tmp_path, PROFILE)


def _run(profile: Path, dut: str, out: Path) -> dict[str, list[CheckResult]]:
    with Session(load_profile(profile), Bench(), DutChoice.parse(dut), out_dir=out) as s:
        s.run_all()
    for case in s.record.cases:  # shown by pytest when a verdict is not the one expected
        for check in case.checks:
            print(case.case_id, check.kind, check.verdict.value, check.summary)
    assert_agrees(evaluate_evidence(load_evidence(out)))
    return {case.case_id: list(case.checks) for case in s.record.cases}


def test_the_routing_relay_passes_both_checks(profile: Path, tmp_path: Path) -> None:
    checks = _run(profile, "sim:relay-routing", tmp_path / "run")
    routed = checks["TC-RL-004"][0]
    firewall = checks["TC-RL-005"][0]
    assert routed.kind == "routed" and routed.verdict is Verdict.PASS, routed.summary
    assert routed.measurements["count"] > 20  # classic frames of the range were judged
    assert firewall.kind == "firewall" and firewall.verdict is Verdict.PASS, firewall.summary
    limited = checks["TC-RL-006"][0]
    assert limited.kind == "routed" and limited.verdict is Verdict.PASS, limited.summary
    assert limited.measurements["count"] > 20 and limited.measurements["dropped"] > 20
    m = firewall.measurements
    assert m["routed"] > 20 and m["own"] > 0 and m["crossed"] == 0 and m["returned"] == 0


@pytest.mark.parametrize("variant", sorted(ROUTING_VARIANTS))
def test_each_faulty_routing_is_caught_by_exactly_its_check(
    profile: Path, tmp_path: Path, variant: str
) -> None:
    checks = _run(profile, f"sim:relay-routing:{variant}", tmp_path / "run")
    case_id, kind = CASES[ROUTING_VARIANTS[variant].requirement]
    failing = {
        (c, r.kind)
        for c, results in checks.items()
        for r in results
        if r.verdict is not Verdict.PASS
    }
    assert failing == {(case_id, kind)}
    bad = checks[case_id][0]
    assert bad.offender is not None
    said = bad.offender.describe()
    if variant == "route-late":
        assert bad.measurements["late"] == bad.measurements["count"] > 0
        assert "late: 0x30" in said and "on front" in said and "6.000 ms later" in said, said
    elif variant.startswith("limit-"):  # the first frame judged otherwise than the contract
        m = bad.measurements
        first = "wrongly forwarded" if variant == "limit-4ms" else "wrongly dropped"
        assert m["wrongly_forwarded" if variant == "limit-4ms" else "missing"] > 0, m
        assert f"{first}: 0x32" in said and "on front" in said, said
        assert "after the last forwarded frame of its identifier, min_spacing 5.000 ms" in said
    else:
        assert bad.measurements["crossed"] > 0
        assert "crossed: 0x305" in said and "on rear" in said, said


@pytest.mark.parametrize(
    ("old", "new", "place", "phrase"),
    [
        ("to: rear\n", "to: back\n", "checks[0].to", "no bus of this name"),
        (
            "            last: 0x30F\n            format",
            "            format",
            "checks[0].last",
            "both first and last",
        ),
        (
            "max_latency: 5 ms\n            p99: 2 ms",
            "max_latency: 1 ms\n            p99: 2 ms",
            "checks[0].p99",
            "at most max_latency",
        ),
        ("min_spacing: 5 ms", "min_spacing: 0 ms", "checks[0].min_spacing", "above 0"),
    ],
)
def test_a_bad_routing_check_is_exit_2_at_its_place(
    profile: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, place: str, phrase: str
) -> None:
    text = profile.read_text(encoding="utf-8")
    assert old in text
    profile.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ProfileError):
        load_profile(profile)
    assert main(["validate", str(profile)]) == 2
    err = capsys.readouterr().err
    assert "relay_routing.yaml:" in err and place in err and phrase in err, err
    assert "Traceback" not in err
