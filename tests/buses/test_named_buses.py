"""Named buses: a profile with two buses (``buses:``), certified against a part that receives
on one and sends on the other (``relay_part.py``, registered here as the DUT provider
``relay`` and also run as its own process on two ``udp_multicast`` buses).

The relay's heartbeat on the front bus and its echo on the rear bus share identifier 0x110,
so the checks pass only if every frame is kept on its own bus. Each faulty build fails the
case of its bus's requirement and no other; the trace keeps each frame's bus (BLF channel
per bus) and ``harness evaluate`` of the evidence agrees with the live verdicts; bad bus
references in a profile or a bench are exit 2 naming their place (test_bus_errors.py).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import can
import pytest

from harness.bench import Bench
from harness.cli import main
from harness.dut import DUTS
from harness.errors import ProfileError
from harness.observe import BusView
from harness.offline import (
    evaluate_evidence,
    load_evidence,
    matched_checks,
    read_trace_channels,
)
from harness.plan import Plan
from harness.profile.compile import load_profile
from harness.record import Verdict
from harness.report.plots import check_plots
from harness.session import DutChoice, Session
from tests.buses.conftest import copy_profile, write_bench
from tests.buses.relay_part import ALIVE_ID, CMD_ID, VARIANTS, RelayProvider
from tests.conftest import default_signals, run_harness
from tests.ports import free_udp_port
from tests.report.conftest import assert_agrees

HERE = Path(__file__).resolve().parent
PROFILE = HERE / "relay.yaml"
PART = HERE / "relay_part.py"
CASES = {"RL-001": "TC-RL-001", "RL-002": "TC-RL-002", "RL-003": "TC-RL-003"}


@pytest.fixture(scope="module", autouse=True)
def _provider() -> Iterator[None]:
    DUTS.add("relay", RelayProvider(), origin="test")
    try:
        yield
    finally:
        DUTS.unregister("relay")


@pytest.fixture()
def profile(tmp_path: Path) -> Path:
    return copy_profile(tmp_path, PROFILE)


def _run(plan: Plan, dut: str, out: Path) -> dict[str, Verdict]:
    with Session(plan, Bench(), DutChoice.parse(dut), out_dir=out) as s:
        s.run_all()
    for case in s.record.cases:  # shown by pytest when a verdict is not the one expected
        for check in case.checks:
            print(case.case_id, check.kind, check.verdict.value, check.summary)
    return {case.case_id: case.verdict for case in s.record.cases}


def test_a_profile_declares_named_buses_each_with_its_dbc_and_rates(profile: Path) -> None:
    plan = load_profile(profile)
    assert [(b.name, b.fd, b.bitrate, b.data_bitrate, b.brs) for b in plan.buses] == [
        ("front", True, 500000, 2000000, True),
        ("rear", False, 250000, 0, False),
    ]
    assert plan.ready_bus == "front"
    (command,) = plan.restbus
    assert (command.bus, command.fd, command.brs) == ("front", True, True)
    checks = {(c.case_id, k.kind): k.bus for c in plan.cases for s in c.steps for k in s.checks}
    assert checks[("TC-RL-001", "cycle_time")] == BusView("front", 500000, 2000000)  # by message
    assert checks[("TC-RL-002", "cycle_time")] == BusView("rear", 250000)
    assert checks[("TC-RL-002", "bus_load")] == BusView("rear", 250000)  # by bus:
    assert plan.diag_bus == "front"  # diagnostics: the first bus unless diagnostics.bus
    text = profile.read_text(encoding="utf-8")
    profile.write_text(text.replace("cases:\n", "diagnostics: {bus: rear}\ncases:\n", 1))
    assert load_profile(profile).diag_bus == "rear"
    # the single-bus form is one bus named can, and its checks read the can stream as before
    tcu = load_profile(HERE.parents[1] / "profiles" / "cc-tcu-1.yaml")
    assert [b.name for b in tcu.bus_list()] == ["can"] and not tcu.buses[1:]
    assert all(k.bus is None for c in tcu.cases for k in c.checks)


def test_the_relay_passes_and_each_frame_keeps_its_bus(profile: Path, tmp_path: Path) -> None:
    plan = load_profile(profile)
    out = tmp_path / "run"
    verdicts = _run(plan, "sim:relay", out)
    assert verdicts == dict.fromkeys(CASES.values(), Verdict.PASS)
    logs, _ = read_trace_channels(out / "trace.blf", None)
    front, rear = logs[0], logs[1]
    assert front.rx_of(ALIVE_ID).ts and rear.rx_of(ALIVE_ID).ts  # 0x110 on both buses
    assert len(rear.rx_of(ALIVE_ID).ts) > 2 * len(front.rx_of(ALIVE_ID).ts)  # 20 vs 50 ms
    assert front.tx_of(CMD_ID).ts and not rear.tx_of(CMD_ID).ts
    assert rear.tx_of(0x7F0).data == [b"\x01\x02"]  # the raw frame went where it was told
    with can.BLFReader(str(out / "trace.blf")) as reader:
        channels = {(m.channel, m.arbitration_id, m.is_fd) for m in reader}
    assert (0, CMD_ID, True) in channels and (1, ALIVE_ID, False) in channels
    assert sorted(p.relative_to(out).as_posix() for p in (out / "dbc").rglob("*")) == [
        "dbc/buses.sha256",
        "dbc/front",
        "dbc/front/front.dbc",
        "dbc/rear",
        "dbc/rear/rear.dbc",
    ]
    ev = load_evidence(out)  # the folder's own profile and DBCs
    evaluation = evaluate_evidence(ev)
    assert_agrees(evaluation)
    assert [c.recorded for c in evaluation.cases] == [Verdict.PASS] * 3
    # the report draws a check from its own bus's frames, never from another bus's
    case = ev.record.cases[1]
    echo_cycle = matched_checks(ev.plan, case)[0]
    assert echo_cycle is not None and echo_cycle.kind == "cycle_time"
    drawn = check_plots(echo_cycle, case.checks[0], case, ev.log, 500000, ev.logs)
    assert drawn and "REAR_Echo" in drawn[0]
    assert check_plots(echo_cycle, case.checks[0], case, ev.log, 500000) == []


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_faulty_relay_fails_on_its_bus_only(
    profile: Path, tmp_path: Path, variant: str
) -> None:
    plan = load_profile(profile)
    out = tmp_path / "run"
    verdicts = _run(plan, f"sim:relay:{variant}", out)
    failing = {c for c, v in verdicts.items() if v is not Verdict.PASS}
    assert failing == {CASES[VARIANTS[variant].requirement]}, verdicts
    assert_agrees(evaluate_evidence(load_evidence(out)))


def test_a_two_bus_run_is_certified_and_the_certificate_verifies(
    profile: Path, tmp_path: Path
) -> None:
    """The certificate names the run's DBCs by dbc/buses.sha256, whose sha256 is the run's
    DBC digest and which lists each bus's DBC by its own; verify checks them all."""
    keys = tmp_path / "lab"
    assert main(["keys", "generate", "--out", str(keys)]) == 0
    out = tmp_path / "cert"
    argv = ["certify", str(profile), "--dut", "sim:relay", "--identity", "serial=RELAY001"]
    assert main([*argv, "--key", f"{keys}.key", "--out", str(out), "--quiet"]) == 0
    cert = out / "certificate.dsse.json"
    assert main(["verify", str(cert), "--key", f"{keys}.pub", "--evidence", str(out)]) == 0
    listed = (out / "dbc" / "buses.sha256").read_text().splitlines()
    assert [line.split("  ")[1] for line in listed] == ["front/front.dbc", "rear/rear.dbc"]
    (out / "dbc" / "rear" / "rear.dbc").write_text("BO_ tampered\n")
    assert main(["verify", str(cert), "--key", f"{keys}.pub", "--evidence", str(out)]) != 0


def test_the_cli_certifies_and_evaluates_a_two_bus_run(profile: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    assert (
        main(
            [
                "certify",
                str(profile),
                "--dut",
                "sim:relay:leak-to-rear",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 1
    )
    record = json.loads((out / "run.json").read_text())
    failed = [k for c in record["cases"] for k in c["checks"] if k["verdict"] != "PASS"]
    assert [k["kind"] for k in failed] == ["allowed_ids"]  # the rear bus's, in TC-RL-002
    assert failed[0]["summary"].startswith("unexpected identifiers: 0x100 x")
    assert main(["evaluate", str(out)]) == 0


@pytest.mark.parametrize(
    ("variant", "case", "bus", "leaked"),
    [("front-extra-id", "TC-RL-001", "front", 0x111), ("leak-to-rear", "TC-RL-002", "rear", 0x100)],
)
def test_allowed_ids_judges_each_named_bus_live_and_offline(
    profile: Path, tmp_path: Path, variant: str, case: str, bus: str, leaked: int
) -> None:
    """``allowed_ids`` with ``bus:`` reads that bus's frames, on each of the two buses: the
    identifier a faulty build adds on one bus fails that bus's check alone (certify, exit 1),
    and ``harness evaluate`` recomputes the same verdicts from the trace (exit 0); qualify's
    variants (test_qualify_buses.py) are caught in the same cases."""
    out = tmp_path / "cli"
    argv = ["certify", str(profile), "--dut", f"sim:relay:{variant}", "--out", str(out)]
    assert main([*argv, "--quiet"]) == 1
    record = json.loads((out / "run.json").read_text())
    failed = [(c["id"], k) for c in record["cases"] for k in c["checks"] if k["verdict"] != "PASS"]
    assert [(c, k["kind"]) for c, k in failed] == [(case, "allowed_ids")], failed
    check = failed[0][1]
    assert check["summary"].startswith(f"unexpected identifiers: 0x{leaked:03X} x"), check
    assert check["offender"]["can_id"] == f"0x{leaked:03X}", check["offender"]
    evidence = load_evidence(out)  # the folder's own profile and DBCs
    assert evidence.plan is not None
    allowed = [
        k
        for c in evidence.record.cases
        for k in matched_checks(evidence.plan, c)
        if k is not None and k.kind == "allowed_ids"
    ]
    assert [k.bus.name if k.bus else None for k in allowed] == ["front", "rear"]
    evaluation = evaluate_evidence(evidence)
    assert_agrees(evaluation)
    recomputed = {
        (c.case_id, k.kind): k.recomputed.verdict
        for c in evaluation.cases
        for k in c.checks
        if k.recomputed is not None
    }
    assert recomputed[(case, "allowed_ids")] is Verdict.FAIL
    other = "TC-RL-002" if case == "TC-RL-001" else "TC-RL-001"
    assert recomputed[(other, "allowed_ids")] is Verdict.PASS
    assert main(["evaluate", str(out)]) == 0


_SIM_RUN = """import sys
from harness.cli import main
from harness.dut import DUTS
from tests.buses.relay_part import RelayProvider
DUTS.add("relay", RelayProvider(), origin="test")  # as a lab's package would register it
sys.exit(main(sys.argv[1:]))
"""


def _relay_process(
    how: str, front: int, rear: int, fault: str | None, bench: Path
) -> subprocess.Popen[str]:
    """The relay in a process of its own: the plain program, or ``harness sim run relay``
    (its provider registered first, as a lab's package would) from the two-bus bench."""
    if how == "program":
        argv = [sys.executable, str(PART), "--front-port", str(front), "--rear-port", str(rear)]
        argv += ["--fault", fault] if fault is not None else []
    else:
        name = "relay" + (f":{fault}" if fault else "")
        argv = [sys.executable, "-c", _SIM_RUN, "sim", "run", name, "--bench", str(bench)]
        argv += ["--dbc", str(HERE / "data" / "front.dbc")]
    return subprocess.Popen(
        argv,
        preexec_fn=default_signals,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=HERE.parents[1],
    )


@pytest.mark.realtime
@pytest.mark.parametrize(
    ("how", "fault"), [("program", None), ("program", "slow-alive"), ("sim-run", "no-follow")]
)
def test_the_relay_in_its_own_process_on_two_udp_multicast_buses(
    profile: Path, tmp_path: Path, how: str, fault: str | None
) -> None:
    """Real time, the part a process of its own on two python-can buses (a port each): a
    supplier's program, or a DUT provider under ``harness sim run`` with a bench mapping both
    buses; the harness reads both on one clock. A faulty build fails on its bus only."""
    front, rear = free_udp_port(), free_udp_port()
    group = "{interface: udp_multicast, channel: 239.74.163.2, options: {port: %d%s}}"
    bench = write_bench(
        tmp_path, f"  front: {group % (front, ', fd: true')}\n  rear: {group % (rear, '')}\n"
    )
    part = _relay_process(how, front, rear, fault, bench)
    out = tmp_path / "rt"
    try:
        assert part.stdout is not None
        first = part.stdout.readline()
        expected = "relay running" if how == "program" else "front: udp_multicast 239.74.163.2"
        assert expected in first, first
        result = run_harness(
            [
                *("certify", str(profile), "--dut", "external", "--bench", str(bench)),
                *("--out", str(out), "--quiet"),
            ],
            timeout=120,
        )
    finally:
        part.send_signal(signal.SIGTERM)
        rest, err = part.communicate(timeout=10)
    assert part.returncode == 0, err
    if how == "program":
        assert json.loads(rest.strip().splitlines()[-1])["commands"] > 0  # it heard the front
    record = json.loads((out / "run.json").read_text())
    verdicts = {c["id"]: c["verdict"] for c in record["cases"]}
    failed = set() if fault is None else {CASES[VARIANTS[fault].requirement]}
    failing = {c for c, v in verdicts.items() if v != "PASS"}
    said = [
        (c["id"], k["kind"], k["summary"])
        for c in record["cases"]
        for k in c["checks"]
        if k["verdict"] != "PASS"
    ]
    assert failing == failed, (said, result.stderr)
    assert record["bench"]["can_buses"]["rear"]["options"] == {"port": rear}
    assert_agrees(evaluate_evidence(load_evidence(out)))


@pytest.mark.realtime
@pytest.mark.parametrize("variant", [None, "leak-to-rear"])
def test_the_relay_in_real_time_beside_the_harness_on_two_virtual_buses(
    profile: Path, tmp_path: Path, variant: str | None
) -> None:
    """--realtime with a simulated part on several buses: the part's thread opens its end of
    each bus from the same configs (no bench: python-can virtual, a channel per bus)."""
    plan = load_profile(profile)
    out = tmp_path / "rt"
    dut = "sim:relay" + (f":{variant}" if variant else "")
    with Session(plan, Bench(), DutChoice.parse(dut), out_dir=out, realtime=True) as s:
        s.run_all()
    said = [(c.case_id, k.kind, k.summary) for c in s.record.cases for k in c.checks]
    failing = {c.case_id for c in s.record.cases if c.verdict is not Verdict.PASS}
    expected = set() if variant is None else {CASES[VARIANTS[variant].requirement]}
    assert failing == expected, said
    buses = s.record.bench["can_buses"]  # each bus as opened: a virtual channel of its own
    assert list(buses) == ["front", "rear"]
    assert buses["rear"]["channel"] == f"{buses['front']['channel']}.rear"
    assert buses["front"]["options"] == {"fd": True} and buses["rear"]["options"] == {}
    assert_agrees(evaluate_evidence(load_evidence(out)))


def test_the_single_bus_form_is_one_bus_named_can(tmp_path: Path) -> None:
    """Its steps and checks may name it; another name is an error naming it; a buses
    section of one bus is the same part under its own name."""
    root = HERE.parents[1]
    text = (root / "profiles" / "cc-tcu-1.yaml").read_text(encoding="utf-8")
    text = text.replace("../dbc/", f"{root / 'dbc'}/")  # its DBC and ASN.1 module
    named = tmp_path / "named.yaml"
    named.write_text(
        text.replace(
            "  VEH_Dynamics:\n    signals:", "  VEH_Dynamics:\n    bus: can\n    signals:", 1
        )
    )
    assert load_profile(named).restbus[0].bus == "can"
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        text.replace(
            "  VEH_Dynamics:\n    signals:", "  VEH_Dynamics:\n    bus: body\n    signals:", 1
        )
    )
    with pytest.raises(
        ProfileError, match=r"restbus.VEH_Dynamics.bus: no bus of this name.*'body' \(valid: can\)"
    ):
        load_profile(wrong)
    one = tmp_path / "one.yaml"
    one.write_text(
        text.replace(
            f"dbc: {root / 'dbc' / 'cc-tcu-1.dbc'}\nbitrate: 500000",
            f"buses:\n  vehicle: {{dbc: {root / 'dbc' / 'cc-tcu-1.dbc'}}}",
        )
    )
    plan = load_profile(one)
    assert [b.name for b in plan.buses] == ["vehicle"]
    assert plan.dbc_digest == load_profile(named).dbc_digest  # one bus: the DBC's own digest
