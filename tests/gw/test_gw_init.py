"""``harness init --dbc cc-gw-1-body.dbc --node GW``: the starting profile it writes for the
gateway's body bus validates as written and certifies the simulated gateway (which, on a
profile of one of its buses, is given that bus and keeps a bus of its own for the other);
a faulty gateway whose counters leave the DBC's range fails it. On the CAN FD backbone,
where the gateway sends only CAN FD (GW_StatusFD), the profile declares an FD bus, its
cycle case certifies the gateway and fails one that sends GW_StatusFD every 120 ms."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.bench import Bench
from harness.cli import main
from harness.profile.compile import load_profile
from harness.record import Verdict
from harness.session import DutChoice, Session
from harness.sim.gw_provider import bus_dbcs


@pytest.fixture()
def generated(tmp_path: Path) -> Path:
    out = tmp_path / "gw-body.yaml"
    assert main(["init", "--dbc", str(bus_dbcs()["body"]), "--node", "GW", "-o", str(out)]) == 0
    assert main(["validate", str(out)]) == 0
    return out


@pytest.fixture()
def backbone(tmp_path: Path) -> Path:
    out = tmp_path / "gw-backbone.yaml"
    dbc = str(bus_dbcs()["backbone"])
    assert main(["init", "--dbc", dbc, "--node", "GW", "-o", str(out)]) == 0
    assert main(["validate", str(out)]) == 0
    return out


def _verdicts(profile: Path, dut: str, out: Path) -> dict[str, Verdict]:
    with Session(load_profile(profile), Bench(), DutChoice.parse(dut), out_dir=out) as s:
        s.run_all()
    return {c.case_id: c.verdict for c in s.record.cases}


def test_the_generated_body_profile_certifies_the_gateway(generated: Path, tmp_path: Path) -> None:
    verdicts = _verdicts(generated, "sim:cc-gw-1", tmp_path / "run")
    assert verdicts and set(verdicts.values()) == {Verdict.PASS}, verdicts
    assert {"TC-GW_Status", "TC-BODY_VehInfo", "TC-BUS"} <= set(verdicts)


def test_the_generated_body_profile_fails_a_counter_out_of_range(
    generated: Path, tmp_path: Path
) -> None:
    """A part whose Profile 1 counters reach 15 breaks the DBC's counter range [0|14]."""
    verdicts = _verdicts(generated, "sim:cc-gw-1:p01-counter-15", tmp_path / "run")
    failing = {c for c, v in verdicts.items() if v is not Verdict.PASS}
    assert failing == {"TC-GW_Status", "TC-BODY_VehInfo"}, verdicts


def test_a_profile_of_neither_bus_is_exit_2_naming_what_the_gateway_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tcu = Path(__file__).resolve().parents[2] / "profiles" / "cc-tcu-1.yaml"
    out = tmp_path / "run"
    argv = ["certify", str(tcu), "--dut", "sim:cc-gw-1", "--case", "TC-CAN-005", "--quiet"]
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "cc-gw-1 is on a backbone and a body bus" in err and "Traceback" not in err


def test_the_fd_only_backbone_node_gets_an_fd_profile(backbone: Path) -> None:
    plan = load_profile(backbone)
    assert (plan.fd, plan.bitrate, plan.data_bitrate) == (True, 500000, 2000000)
    assert plan.ready_message.name == "GW_StatusFD" and plan.ready_message.is_fd
    assert [c.case_id for c in plan.cases] == ["TC-GW_StatusFD", "TC-BUS"]
    ids = next(c for c in plan.cases[-1].steps[0].checks if c.kind == "allowed_ids")
    assert ids.allowed == {0x18FF10F0}


def test_the_generated_backbone_profile_certifies_the_gateway(
    backbone: Path, tmp_path: Path
) -> None:
    verdicts = _verdicts(backbone, "sim:cc-gw-1", tmp_path / "run")
    assert verdicts == {"TC-GW_StatusFD": Verdict.PASS, "TC-BUS": Verdict.PASS}


def test_the_generated_backbone_profile_fails_a_slow_status(backbone: Path, tmp_path: Path) -> None:
    """A gateway sending GW_StatusFD every 120 ms breaks the DBC's 100 ms +-10 %."""
    verdicts = _verdicts(backbone, "sim:cc-gw-1:status-fd-120ms", tmp_path / "run")
    assert verdicts == {"TC-GW_StatusFD": Verdict.FAIL, "TC-BUS": Verdict.PASS}
