"""A lab's own pytest setup: one harness session for the whole test run, on a bench.

The profile is written here in Python (a CAN-only slice of CC-TCU-1, with one YAML-style
case); the tests add cases of their own in Python. Options come from the harness's pytest
plugin, so the same flags as ``pytest profiles/cc-tcu-1.yaml`` work:

    pytest examples/lab_test                          # reference simulator, virtual CAN
    pytest examples/lab_test --dut sim:slow-cycle     # a faulty part: the lab's cases fail
    pytest examples/lab_test --sim-process            # the simulator in a process of its own
    pytest examples/lab_test --bench ci/bench-udp.yaml --out runs/lab --key lab.key
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import harness

HERE = Path(__file__).resolve().parent

PROFILE = {
    "format": "cc-harness-profile/1",
    "profile": {
        "id": "cc-tcu-1-lab",
        "version": "0.1.0",
        "title": "CC-TCU-1 status frame, checked by a lab in Python",
        "requirements": {
            "id": "CC-TCU-1",
            "version": "1.0",
            "ids": ["CAN-001", "CAN-003", "CAN-004"],
        },
    },
    "dbc": "../../dbc/cc-tcu-1.dbc",  # relative to this folder (base_dir below)
    "bitrate": 500000,
    "dut": {"node": "TCU", "ready": {"message": "TCU_Status", "timeout": "2 s"}},
    # The part's identity, read over UDS at the start of the run; the certificate names it.
    "diagnostics": {"request_id": 0x7E0, "functional_id": 0x7DF, "response_id": 0x7E8},
    "identity": {
        "vin": {"did": 0xF190, "length": 17, "subject": True},
        "serial": {"did": 0xF18C, "length": 12},
    },
    "e2e": {
        "VEH_Dynamics": {"counter": "AliveCounter", "crc": "CRC"},
        "TCU_Status": {"counter": "AliveCounter", "crc": "CRC"},
    },
    "restbus": {
        "VEH_Dynamics": {
            "signals": {"VehicleSpeed": 50.0, "LongAccel": 0.0, "BrakePedal": "RELEASED"}
        },
        "VEH_Status": {"signals": {"IgnitionState": "ON"}},
    },
    "cases": [
        {
            "id": "TC-LAB-E2E",
            "title": "TCU_Status CRC and alive counter",
            "requirements": ["CAN-003", "CAN-004"],
            "steps": [
                {
                    "observe": "2 s",
                    "checks": [
                        {"kind": "alive_counter", "message": "TCU_Status"},
                        {"kind": "e2e_crc", "message": "TCU_Status"},
                    ],
                }
            ],
        }
    ],
}

VIRTUAL_BENCH = HERE / "bench-virtual.yaml"


@pytest.fixture(scope="session")
def lab(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[harness.LabSession]:
    """The open session: real time, on the bench's bus, with the DUT ``--dut`` names."""
    opt = pytestconfig.getoption
    out = opt("harness_out") or tmp_path_factory.mktemp("lab") / "evidence"
    with harness.open_session(
        PROFILE,
        base_dir=HERE,
        bench=opt("harness_bench") or VIRTUAL_BENCH,
        dut=opt("harness_dut"),
        realtime=True,
        sim_process=opt("harness_sim_process"),
        out=out,
        key=opt("harness_key"),
    ) as session:
        yield session
    for note in session.notes:  # where the report went; the certificate, or why none
        print(note)
