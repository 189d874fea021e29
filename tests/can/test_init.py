"""``harness init``: the starting profile it writes validates as written, for the project's
DBC and OEM-style ones; for CC-TCU-1's DBC and node TCU it certifies the simulator and its
checks catch faulty variants; range checks mean exactly the DBC's range; a DBC with CAN FD
messages gives an FD bus (bit rates from its attributes) and cases for its FD messages;
suggestions are there as comments; existing files are kept unless --force."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import pytest

from harness.can.dbc import MessageCodec, SignalCodec
from harness.checks.can_signal import SignalCheck
from harness.cli import main
from harness.profile.compile import load_profile
from tests.conftest import ROOT, run_harness

DATA = Path(__file__).resolve().parent / "data"
TCU_DBC = ROOT / "harness" / "data" / "cc-tcu-1.dbc"

# (DBC, node, extra init options)
OEM = {
    "tcu": (TCU_DBC, "TCU", []),
    "eps": (DATA / "eps-hyundai-style.dbc", "MDPS", ["--bus", "c-can"]),
    "dcu": (DATA / "body-dcu-cp1252.dbc", "DCU", ["--encoding", "cp1252"]),
    "dcu-auto": (DATA / "body-dcu-cp1252.dbc", "DCU", []),
    "gw": (DATA / "gateway-legacy-lenient.dbc", "GW", ["--lenient"]),
    "radar": (DATA / "chassis-radar-canfd.dbc", "FR_RADAR", []),
}


def init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], which: str, *extra: str
) -> tuple[Path, str]:
    dbc, node, options = OEM[which]
    out = tmp_path / "profiles" / f"{which}.yaml"
    out.parent.mkdir(exist_ok=True)
    code = main(["init", "--dbc", str(dbc), "--node", node, "-o", str(out), *options, *extra])
    err = capsys.readouterr().err
    assert code == 0, err
    return out, err


@pytest.mark.parametrize("which", sorted(OEM))
def test_generated_profile_validates_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    out, _ = init(tmp_path, capsys, which)
    assert main(["validate", str(out)]) == 0, capsys.readouterr().err
    plan = load_profile(out)
    assert plan.cases[-1].case_id == "TC-BUS"
    assert {c.kind for c in plan.cases[-1].steps[0].checks} == {"allowed_ids", "bus_load"}
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Starting profile for node")
    assert "# e2e:" in text or "# E2E: no signal" in text


def test_tcu_profile_content(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = init(tmp_path, capsys, "tcu")
    plan = load_profile(out)
    assert plan.dbc_path == TCU_DBC.resolve()
    (cycle_case, bus) = plan.cases
    (cycle,) = cycle_case.steps[0].checks
    assert (cycle.kind, cycle.p.min, cycle.p.max) == ("cycle_time", pytest.approx(0.09), 0.11)
    ids = next(c for c in bus.steps[0].checks if c.kind == "allowed_ids")
    assert ids.allowed == {0x3A0, 0x3B0}
    text = out.read_text()
    # suggestions and what is left out are comments, each with its reason
    assert "#   TCU_Status: {counter: AliveCounter, crc: CRC}" in text
    assert '#   VEH_Status:\n#     signals: {IgnitionState: "OFF"}' in text
    assert "# TCU_Command (0x3B0): no cycle time in the DBC (send type Event)" in text
    assert "#   CmdCount: [0|255] covers every value it can carry" in text


def test_tcu_profile_certifies_the_simulator_and_catches_variants(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = init(tmp_path, capsys, "tcu")
    verdicts = {}
    for dut in ("sim", "sim:slow-cycle", "sim:babbling-id"):
        folder = tmp_path / dut.replace(":", "-")
        proc = run_harness(["certify", str(out), "--dut", dut, "--out", str(folder)], 300)
        record = json.loads((folder / "run.json").read_text())
        verdicts[dut] = (proc.returncode, {c["id"]: c["verdict"] for c in record["cases"]})
    assert verdicts["sim"] == (0, {"TC-TCU_Status": "PASS", "TC-BUS": "PASS"})
    assert verdicts["sim:slow-cycle"] == (1, {"TC-TCU_Status": "FAIL", "TC-BUS": "PASS"})
    assert verdicts["sim:babbling-id"] == (1, {"TC-TCU_Status": "PASS", "TC-BUS": "FAIL"})


def _payload(msg: MessageCodec, sig: SignalCodec, raw: int) -> bytes:
    if sig.little_endian:  # by hand: cantools cannot encode a message with signals beyond it
        return ((raw & sig.mask) << sig.start).to_bytes(msg.length, "little")
    values = {name: 0 for name in msg.signals}
    values[sig.name] = raw
    data: bytes = msg._cantools.encode(values, scaling=False, strict=False)
    return data


@pytest.mark.parametrize("which", ["eps", "dcu", "gw", "radar"])
def test_range_checks_pass_exactly_the_dbc_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    """Brute force over every raw value: a generated range check passes a frame exactly
    when the signal's physical value (exact arithmetic) is within the DBC's [min|max]."""
    out, _ = init(tmp_path, capsys, which)
    plan = load_profile(out)
    checks = [
        c for case in plan.cases for s in case.steps for c in s.checks if isinstance(c, SignalCheck)
    ]
    assert checks, "the OEM-style DBCs have signals with narrow ranges"
    for check in checks:
        sig = check.cond.sig
        msg = check.msg
        lo, hi = Fraction(str(sig.minimum)), Fraction(str(sig.maximum))
        scale, offset = Fraction(str(sig.scale)), Fraction(str(sig.offset))
        first = -(1 << (sig.length - 1)) if sig.signed else 0
        for raw in range(first, first + (1 << sig.length)):
            inside = lo <= raw * scale + offset <= hi
            assert check.cond.matches(_payload(msg, sig, raw)) == inside, (sig.name, raw)


def test_fd_message_gets_its_case_on_an_fd_bus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The DCU's DBC says BusType CAN at 500 kbit/s but has one 64-byte FD message: the
    profile declares an FD bus (data bit rate: the default, with a note to check it) and the
    FD message gets its cycle case like the classic ones."""
    out, _ = init(tmp_path, capsys, "dcu")
    text = out.read_text(encoding="utf-8")
    plan = load_profile(out)
    assert (plan.fd, plan.bitrate, plan.data_bitrate) == (True, 500000, 2000000)
    assert "  fd: true  # the DBC has 1 CAN FD message(s): DCU_FD_Diag\n" in text
    assert "  bitrate: 500000  # the DBC's Baudrate attribute\n" in text
    assert "data_bitrate: 2000000  # the DBC names none (BaudrateCANFD): set the bus's" in text
    case = next(c for c in plan.cases if c.case_id == "TC-DCU_FD_Diag")
    cycle, *ranges = case.steps[0].checks
    assert (cycle.kind, cycle.p.min, cycle.p.max) == ("cycle_time", pytest.approx(0.18), 0.22)
    assert ranges and {c.kind for c in ranges} == {"signal"}
    assert {"DCU_FD_Diag-CYCLE", "DCU_FD_Diag-RANGE"} <= set(plan.requirement_ids)
    ids = next(c for c in plan.cases[-1].steps[0].checks if c.kind == "allowed_ids")
    assert 0x640 in ids.allowed
    assert "not supported" not in text and "cannot send it yet" not in text
    assert "  encoding: cp1252\n" in text
    assert "# DCU_Event (0x2A3): no cycle time in the DBC (send type spontaneous)" in text
    assert "#   Diag_Temperature: multiplexed" in text
    assert 'title: "DCU_J1939_Door (0x18FF2A10) cycle 450 ms..550 ms and signal ranges"' in text


def test_fd_bus_rates_from_the_dbc_and_fd_rest_bus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CANdb++-style CAN FD DBC (BusType "CAN FD", Baudrate, BaudrateCANFD): its bit rates
    go into the bus, the ready message may be an FD message, and the rest-bus suggestion of
    an FD message the part receives is sent in FD frames once uncommented."""
    out, _ = init(tmp_path, capsys, "radar")
    text = out.read_text(encoding="utf-8")
    assert "  data_bitrate: 2000000  # the DBC's BaudrateCANFD attribute\n" in text
    plan = load_profile(out)
    assert (plan.fd, plan.bitrate, plan.data_bitrate) == (True, 500000, 2000000)
    assert plan.ready_message.name == "FR_RDR_Status" and plan.ready_message.is_fd
    assert [c.case_id for c in plan.cases] == ["TC-FR_RDR_Status", "TC-FR_RDR_Object01", "TC-BUS"]
    assert "# FR_RDR_Diag (0x1A8): no cycle time in the DBC (send type Event)" in text
    lines = text.splitlines()
    start = lines.index("# restbus:")
    restbus = [line[2:] for line in lines[start + 1 : start + 5]]
    out.write_text(text + "restbus:\n" + "\n".join(restbus) + "\n", encoding="utf-8")
    assert main(["validate", str(out)]) == 0, capsys.readouterr().err
    frames = {r.message.name: r.fd for r in load_profile(out).restbus}
    assert frames == {"VCU_VehDyn": True, "ADAS_RadarCmd": False}


def test_lenient_init_writes_the_relaxations_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, err = init(tmp_path, capsys, "gw")
    assert err.count("warning: ") == 4
    text = out.read_text()
    assert "  lenient: true" in text
    assert "signals VehSpeed and VehSpeed_Legacy overlap" in text
    assert "#   WheelSpeeds_Checksum: beyond the frame" in text
    code = main(["init", "--dbc", str(OEM["gw"][0]), "--node", "GW", "-o", str(tmp_path / "x")])
    assert code == 2
    assert "lenient" in capsys.readouterr().err


def test_existing_file_is_kept_unless_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine.yaml"
    out.write_text("keep me")
    args = ["init", "--dbc", str(TCU_DBC), "--node", "TCU", "-o", str(out)]
    assert main(args) == 2
    assert "the file exists" in capsys.readouterr().err and out.read_text() == "keep me"
    assert main([*args, "--force"]) == 0
    assert out.read_text().startswith("# Starting profile")


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["--node", "NOPE"], "no node NOPE"),
        (["--node", "TCU", "--encoding", "utf-16"], "--encoding utf-16: expected auto"),
        (["--node", "VEHICLE", "--dbc", "/dev/zero"], "under /dev"),
    ],
)
def test_bad_input_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], phrase: str
) -> None:
    dbc = [] if "--dbc" in args else ["--dbc", str(TCU_DBC)]
    assert main(["init", *dbc, *args, "-o", str(tmp_path / "p.yaml")]) == 2
    assert phrase in capsys.readouterr().err
    assert not (tmp_path / "p.yaml").exists()


_FD_ONLY = (
    'VERSION ""\nBU_: A B C\nBO_ 100 Big: 64 A\n SG_ X : 0|8@1+ (1,0) [0|100] "" B\n'
    'BA_DEF_ BO_ "VFrameFormat" ENUM "StandardCAN","ExtendedCAN","StandardCAN_FD";\n'
    'BA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;\nBA_ "GenMsgCycleTime" BO_ 100 20;\n'
)


@pytest.mark.parametrize(
    ("attributes", "rates", "phrases"),
    [
        (
            "",
            (500000, 2000000),
            ["bitrate: 500000  # the DBC names none (Baudrate)", "(BaudrateCANFD): set"],
        ),
        (
            'BA_DEF_ "Baudrate" INT 1 1000000;\nBA_DEF_ "BaudrateCANFD" INT 1 16000000;\n'
            'BA_ "Baudrate" 250000;\nBA_ "BaudrateCANFD" 4000000;\n',
            (250000, 4000000),
            ["bitrate: 250000  # the DBC's Baudrate", "4000000  # the DBC's BaudrateCANFD"],
        ),
        (  # no value set: the definitions' defaults, as CANdb++ shows them
            'BA_DEF_ "Baudrate" INT 1 1000000;\nBA_DEF_ "BaudrateCANFD" INT 1 16000000;\n'
            'BA_DEF_DEF_ "Baudrate" 125000;\nBA_DEF_DEF_ "BaudrateCANFD" 1000000;\n',
            (125000, 1000000),
            ["bitrate: 125000  # the DBC's Baudrate attribute's default"],
        ),
        (  # a data bit rate below the nominal one is not one the profile takes
            'BA_DEF_ "Baudrate" INT 1 1000000;\nBA_DEF_ "BaudrateCANFD" INT 1 16000000;\n'
            'BA_ "Baudrate" 500000;\nBA_ "BaudrateCANFD" 250000;\n',
            (500000, 2000000),
            ["data_bitrate: 2000000  # the DBC's BaudrateCANFD 250000 is not one the profile"],
        ),
    ],
)
def test_node_that_sends_only_fd_gets_an_fd_profile(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    attributes: str,
    rates: tuple[int, int],
    phrases: list[str],
) -> None:
    dbc = tmp_path / "fd.dbc"
    dbc.write_text(_FD_ONLY + attributes)
    out = tmp_path / "a.yaml"
    assert main(["init", "--dbc", str(dbc), "--node", "A", "-o", str(out)]) == 0
    assert main(["validate", str(out)]) == 0, capsys.readouterr().err
    plan = load_profile(out)
    assert (plan.fd, plan.bitrate, plan.data_bitrate) == (True, *rates)
    assert plan.ready_message.name == "Big"
    assert [c.case_id for c in plan.cases] == ["TC-Big", "TC-BUS"]
    text = out.read_text()
    for phrase in phrases:
        assert phrase in text


def test_bus_type_can_fd_gives_an_fd_bus_and_a_silent_node_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dbc = tmp_path / "classic-on-fd.dbc"
    dbc.write_text(
        'VERSION ""\nBU_: A B C\nBO_ 100 Small: 8 A\n SG_ X : 0|8@1+ (1,0) [0|100] "" B\n'
        'BA_DEF_ "BusType" STRING ;\nBA_ "BusType" "CAN FD";\n'
    )
    out = tmp_path / "a.yaml"
    assert main(["init", "--dbc", str(dbc), "--node", "A", "-o", str(out)]) == 0
    assert "  fd: true  # the DBC's BusType is CAN FD\n" in out.read_text()
    assert load_profile(out).fd
    assert main(["init", "--dbc", str(dbc), "--node", "C"]) == 2
    assert "node C sends no message" in capsys.readouterr().err


def test_fifty_megabyte_dbc_is_exit_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "huge.dbc"
    with big.open("wb") as fh:  # 50 MB of valid messages, written for real (not sparse)
        block = b"".join(
            f'BO_ {0x80000000 | i} F{i}: 8 A\n SG_ S{i} : 0|8@1+ (1,0) [0|255] "" A\n'.encode()
            for i in range(20000)
        )
        fh.write(b'VERSION ""\nBU_: A\n')
        while fh.tell() < 50 << 20:
            fh.write(block)
    assert main(["init", "--dbc", str(big), "--node", "A", "-o", str(tmp_path / "p.yaml")]) == 2
    assert f"{big}: expected at most 4194304 bytes" in capsys.readouterr().err


@pytest.mark.parametrize("which", ["tcu", "eps", "dcu", "radar"])
def test_suggestions_validate_once_uncommented(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    """The e2e and rest-bus suggestions are in the profile's own form: uncommented as
    written, the profile still validates."""
    out, _ = init(tmp_path, capsys, which)
    lines = out.read_text(encoding="utf-8").splitlines()
    e2e = [line[2:] for line in lines if re.match(r"^#   \w+: \{counter: \w+, crc: \w+\}$", line)]
    start = lines.index("# restbus:")
    restbus = []
    for line in lines[start + 1 :]:
        if not line.startswith("#   "):
            break
        if re.match(r"^#   \w+:$|^#     (signals|cycle): ", line):
            restbus.append(line[2:])
    assert e2e and restbus
    text = "\n".join(lines) + "\ne2e:\n" + "\n".join(e2e) + "\nrestbus:\n" + "\n".join(restbus)
    out.write_text(text + "\n", encoding="utf-8")
    assert main(["validate", str(out)]) == 0, capsys.readouterr().err
    plan = load_profile(out)
    assert set(plan.e2e) == {line.split(":")[0].strip() for line in e2e}
    assert len(plan.restbus) == sum(1 for line in restbus if line.endswith(":"))
