"""ISO-TP addressing modes (issue 11): the profile's setting, can-isotp's addresses, the
simulator's server in each mode, and a tester/part mismatch that fails naming the addressing."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import can
import isotp
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from harness.clock import EventLoop, VirtualClock
from harness.errors import ProfileError
from harness.observe import Column
from harness.profile.compile import load_profile_text
from harness.profile.diag_model import DiagnosticsSection
from harness.sim.isotp_server import ServerIsoTp
from harness.uds.exchange import DiagIds, addressed, normal_fixed_ids, transfers
from harness.uds.link import isotp_addresses
from tests.conftest import DBC, ROOT, default_signals, free_udp_port, harness_cmd, run_harness

DATA = Path(__file__).parent / "data"
FIXED = DATA / "cc-tcu-1-uds-fixed29.yaml"
EXTENDED = DATA / "cc-tcu-1-uds-extended.yaml"
byte = st.integers(0, 0xFF)
Phys, Func = isotp.TargetAddressType.Physical, isotp.TargetAddressType.Functional


# -- address <-> arbitration id ----------------------------------------------------------------
@given(byte, byte, byte)
def test_normal_fixed_ids_round_trip_through_can_isotp(ta: int, sa: int, fta: int) -> None:
    assume(ta != sa)
    section = DiagnosticsSection(
        addressing="normal_fixed_29", target_address=ta, source_address=sa, functional_address=fta
    )
    ids = section.ids
    assert (ids.request_id, ids.functional_id, ids.response_id) == normal_fixed_ids(ta, sa, fta)
    assert ids.request_id == 0x18DA0000 | ta << 8 | sa
    assert ids.functional_id == 0x18DB0000 | fta << 8 | sa
    assert ids.response_id == 0x18DA0000 | sa << 8 | ta
    physical, functional = isotp_addresses(ids)
    assert physical.get_tx_arbitration_id(Phys) == ids.request_id
    assert physical.get_rx_arbitration_id(Phys) == ids.response_id
    assert functional.get_tx_arbitration_id(Func) == ids.functional_id
    assert physical.is_tx_29bits() and functional.is_tx_29bits()
    # can-isotp takes the part's answer as its own: 29-bit, on the response identifier
    answer = isotp.CanMessage(arbitration_id=ids.response_id, data=b"\x01\x7e", extended_id=True)
    assert physical.is_for_me(answer)
    as_11bit = isotp.CanMessage(arbitration_id=ids.response_id, data=b"\x01\x7e")
    assert not physical.is_for_me(as_11bit)  # the flag decides, never the value


@given(byte, byte, byte, st.integers(0, 0x7FF), st.integers(0, 0x7FF), st.integers(0, 0x7FF))
def test_extended_addresses_put_the_address_byte_where_can_isotp_does(
    ta: int, fta: int, sa: int, req: int, func: int, resp: int
) -> None:
    assume(len({req, func, resp}) == 3)  # the profile refuses shared ids (test below)
    ids = DiagIds(req, func, resp, "extended", ta, fta, sa)
    physical, functional = isotp_addresses(ids)
    assert physical.get_tx_payload_prefix() == bytes([ta]) == bytes([ids.prefix_of(req) or 0])
    assert functional.get_tx_payload_prefix() == bytes([fta])
    assert physical.get_rx_extension_byte() == sa == ids.prefix_of(resp)
    assert physical.get_tx_arbitration_id() == req and physical.get_rx_arbitration_id() == resp
    assert not physical.is_tx_29bits() and not ids.extended_id


@given(st.integers(0x800, 0x1FFFFFFF), st.integers(0, 0x1FFFFFFF), st.integers(0, 0x1FFFFFFF))
def test_normal_29_ids_are_29_bit_by_declaration(req: int, func: int, resp: int) -> None:
    assume(len({req, func, resp}) == 3)
    section = DiagnosticsSection(
        addressing="normal_29", request_id=req, functional_id=func, response_id=resp
    )
    physical, _ = isotp_addresses(section.ids)
    assert physical.is_tx_29bits() and section.ids.extended_id
    assert physical.get_tx_arbitration_id() == req and physical.get_rx_arbitration_id() == resp


# -- the simulator's server in each mode, read back by the log's reassembly ---------------------
def _serve(ids: DiagIds, payload: bytes) -> list[can.Message]:
    """What the simulator's server sends for one response, the tester's flow control given."""
    sent: list[can.Message] = []
    server = ServerIsoTp(
        EventLoop(VirtualClock()),
        sent.append,
        lambda data, functional: None,
        physical_id=ids.request_id,
        functional_id=ids.functional_id,
        response_id=ids.response_id,
        extended_id=ids.extended_id,
        target_address=ids.target_address,
        functional_address=ids.functional_address,
        source_address=ids.source_address,
    )
    server.send(payload)
    prefix = bytes([ids.target_address]) if ids.prefixed and ids.target_address is not None else b""
    fc = prefix + bytes([0x30, 0, 0])
    server.on_frame(
        can.Message(arbitration_id=ids.request_id, data=fc, is_extended_id=ids.extended_id)
    )
    return sent


MODES = {
    "normal_11": DiagIds(),
    "normal_fixed_29": DiagIds(*normal_fixed_ids(0x10, 0xF1), "normal_fixed_29"),
    "extended": DiagIds(0x7E0, 0x7DF, 0x7E8, "extended", 0x10, 0x33, 0xF1),
}


@pytest.mark.parametrize("mode", sorted(MODES))
@given(payload=st.binary(min_size=1, max_size=300))
def test_server_segments_what_the_log_reassembles(mode: str, payload: bytes) -> None:
    ids = MODES[mode]
    frames = _serve(ids, payload)
    assert all(len(f.data) == 8 for f in frames)
    assert all(bool(f.is_extended_id) == ids.extended_id for f in frames)
    assert all(f.arbitration_id == ids.response_id for f in frames)
    if ids.prefixed:
        assert all(f.data[0] == ids.source_address for f in frames)
    col = Column([float(i) for i in range(len(frames))], [bytes(f.data) for f in frames])
    got = transfers(addressed(col, ids.prefix_of(ids.response_id)), 0, len(frames), 0)
    assert [t.payload for t in got] == [payload]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_server_ignores_the_other_addressing(mode: str) -> None:
    """A request in another mode's form never reaches the UDS server (an honest silence)."""
    ids = MODES[mode]
    requests: list[bytes] = []
    server = ServerIsoTp(
        EventLoop(VirtualClock()),
        lambda msg: None,
        lambda data, functional: requests.append(data),
        physical_id=ids.request_id,
        functional_id=ids.functional_id,
        response_id=ids.response_id,
        extended_id=ids.extended_id,
        target_address=ids.target_address,
        functional_address=ids.functional_address,
        source_address=ids.source_address,
    )
    good = (bytes([0x10]) if ids.prefixed else b"") + bytes([0x02, 0x3E, 0x00])
    server.on_frame(
        can.Message(arbitration_id=ids.request_id, data=good, is_extended_id=ids.extended_id)
    )
    assert requests == [b"\x3e\x00"]
    wrong_flag = can.Message(
        arbitration_id=ids.request_id, data=good, is_extended_id=not ids.extended_id
    )
    server.on_frame(wrong_flag)
    if ids.prefixed:  # another target address, and no address byte at all
        server.on_frame(can.Message(arbitration_id=ids.request_id, data=b"\x11\x02\x3e\x00"))
        server.on_frame(can.Message(arbitration_id=ids.request_id, data=b"\x02\x3e\x00"))
    assert requests == [b"\x3e\x00"]


# -- the profile setting ---------------------------------------------------------------------------
HEAD = f"""\
format: cc-harness-profile/1
profile:
  id: addr
  version: 1.0.0
  title: addressing
  requirements: {{id: CC-TCU-1, version: "1.0", ids: [UDS-002]}}
dbc: {DBC}
dut: {{node: TCU, ready: {{message: TCU_Status, timeout: 2 s}}}}
cases:
  - id: C
    title: tester present
    requirements: [UDS-002]
    steps:
      - diag: {{request: "3E 00"}}
diagnostics:
"""


@pytest.mark.parametrize(
    ("diag", "message"),
    [
        (
            "  addressing: normal_fixed_29\n  target_address: 0x10\n  source_address: 0xF1\n"
            "  request_id: 0x7E0\n",
            "normal_fixed_29 addressing derives the identifiers from target_address and "
            "source_address: request_id cannot be given",
        ),
        (
            "  addressing: extended\n  target_address: 0x10\n",
            "extended addressing: expected source_address",
        ),
        (
            "  addressing: normal_29\n  request_id: 0x18DA10F1\n",
            "normal_29 addressing: expected 29-bit identifiers for functional_id, response_id",
        ),
        (
            "  addressing: extended\n  target_address: 0x10\n  source_address: 0xF1\n"
            "  response_id: 0x18DAF110\n",
            "expected an 11-bit identifier for response_id (extended addressing), got 0x18DAF110",
        ),
        ("  target_address: 0x10\n", "target_address: only for normal_fixed_29 or extended"),
        (
            "  addressing: normal_fixed_29\n  target_address: 0x10\n  source_address: 0x10\n",
            "target_address and source_address must differ",
        ),
        ("  response_id: 0x7E0\n", "response_id 0x7E0 must differ from the request identifiers"),
        ("  addressing: mixed_11\n", "normal_fixed_29"),
    ],
)
def test_bad_addressing_is_refused_naming_it(tmp_path: Path, diag: str, message: str) -> None:
    with pytest.raises(ProfileError) as info:
        load_profile_text(HEAD + diag, "addr.yaml", tmp_path)
    rendered = " ".join(str(info.value).split())
    assert message in rendered
    assert rendered.startswith("addr.yaml:")


def test_the_default_stays_11_bit_normal(tmp_path: Path) -> None:
    plan = load_profile_text(HEAD + "  p2: 50 ms\n", "addr.yaml", tmp_path)
    assert plan.diag_config is not None
    assert plan.diag_config.ids == DiagIds(0x7E0, 0x7DF, 0x7E8, "normal_11")


# -- end to end against the simulator --------------------------------------------------------------
def _ids_seen(folder: Path) -> dict[tuple[int, bool], bytes]:
    seen: dict[tuple[int, bool], bytes] = {}
    for msg in can.BLFReader(str(folder / "trace.blf")):
        seen.setdefault((msg.arbitration_id, bool(msg.is_extended_id)), bytes(msg.data))
    return seen


@pytest.mark.parametrize("profile", [FIXED, EXTENDED], ids=["normal_fixed_29", "extended"])
def test_uds_cases_pass_in_each_mode(tmp_path: Path, profile: Path) -> None:
    out = tmp_path / "evidence"
    result = run_harness(["certify", str(profile), "--out", str(out), "--quiet"])
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads((out / "run.json").read_text())
    assert len(record["cases"]) == (12 if profile == FIXED else 11)  # fixed: and TC-UDS-FUZZ
    assert {c["verdict"] for c in record["cases"]} == {"PASS"}
    seen = _ids_seen(out)
    if profile == FIXED:
        assert seen[(0x18DA10F1, True)][:4] == bytes.fromhex("03 22 F1 90")  # identity read
        assert (0x18DAF110, True) in seen and (0x18DB33F1, True) in seen
        assert not {k for k in seen if k[0] in (0x7E0, 0x7DF, 0x7E8)}
    else:
        assert seen[(0x7E0, False)][:1] == b"\x10" and seen[(0x7DF, False)][:1] == b"\x33"
        assert seen[(0x7E8, False)][:1] == b"\xf1"


@pytest.mark.parametrize(
    ("profile", "variant", "case"),
    [
        (EXTENDED, "wrong-nrc-unknown-did", "TC-UDS-003"),
        (EXTENDED, "write-without-security", "TC-UDS-005"),
        (FIXED, "security-never-locks", "TC-UDS-004-LOCKOUT"),
        (FIXED, "dtc-read-ignores-extra-bytes", "TC-UDS-FUZZ"),  # the oracle reads 29-bit frames
    ],
)
def test_a_faulty_part_fails_its_case_in_each_mode(
    tmp_path: Path, profile: Path, variant: str, case: str
) -> None:
    out = tmp_path / "evidence"
    result = run_harness(
        ["certify", str(profile), "--dut", f"sim:{variant}", "--out", str(out), "--quiet"]
    )
    assert result.returncode == 1, result.stdout + result.stderr
    record = json.loads((out / "run.json").read_text())
    failed = {c["id"] for c in record["cases"] if c["verdict"] == "FAIL"}
    assert case in failed


@pytest.mark.realtime
def test_tester_extended_part_normal_is_an_error_naming_the_addressing(tmp_path: Path) -> None:
    """The simulator in its own process serves its default 11-bit normal addressing; a tester
    speaking extended addressing gets no answer and says which addressing it used."""
    bench = tmp_path / "bench.yaml"
    bench.write_text(
        "format: cc-harness-bench/1\ncan:\n  interface: udp_multicast\n  channel: 239.74.163.7\n"
        f"  options: {{port: {free_udp_port()}}}\n"
    )
    sim = subprocess.Popen(
        harness_cmd("sim", "tcu", "--bench", str(bench)),
        cwd=ROOT,
        preexec_fn=default_signals,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        assert "reference TCU running" in sim.stdout.readline()
        out = tmp_path / "evidence"
        result = run_harness(
            [
                "certify",
                str(EXTENDED),
                "--bench",
                str(bench),
                "--dut",
                "external",
                "--out",
                str(out),
            ],
            timeout=120,
        )
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=10)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    text = " ".join(result.stderr.split())
    assert "could not read the DUT's identity vin (DID 0xF190): no response to 22 F1 90" in text
    assert (
        "with extended addressing (11-bit request 0x7E0, functional 0x7DF, response 0x7E8; "
        "address bytes TA 0x10, functional 0x33, SA 0xF1)" in text
    )
    assert "check diagnostics.addressing" in text
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "INCOMPLETE" and record["passed"] is False
