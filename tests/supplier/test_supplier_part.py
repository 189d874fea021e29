"""A supplier certifies its own part: not the harness's simulator but a program of its own.

``eps_part.py`` is an electric power steering unit written as a supplier would (python-can
only, frames packed by hand from an OEM-style DBC with Hyundai/Kia byte-sum and nibble
checksums and 4-bit counters). It runs as its own process on a ``udp_multicast`` bus of its
own and is certified with ``--dut external``, its 16-character serial given on the command
line. The part takes the harness's LKAS11 rest-bus frames only when their checksum and counter
are right, so its own count of what it took shows the rest-bus sends frames a production part
accepts; each faulty build fails the case of the requirement it breaks and gets no
certificate.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import default_signals, free_udp_port, run_harness

HERE = Path(__file__).resolve().parent
PART = HERE / "eps_part.py"
PROFILE = HERE / "eps-mdps.yaml"
ICS = HERE / "ics.yaml"
SERIAL = "EPS7B00000012345"  # 16 characters: the profile's serial, no DID

pytestmark = pytest.mark.realtime


def _bench(tmp_path: Path) -> tuple[Path, int]:
    port = free_udp_port()
    bench = tmp_path / "bench.yaml"
    bench.write_text(
        "format: cc-harness-bench/1\nname: supplier bench\n"
        f"can: {{interface: udp_multicast, channel: 239.74.163.2, options: {{port: {port}}}}}\n"
    )
    return bench, port


def _certify(
    tmp_path: Path, fault: str | None
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], Path, Path]:
    """Start the part (its own process, its own port), certify it, stop it: the harness's
    result, the part's report of what it received, the evidence folder and the public key."""
    bench, port = _bench(tmp_path)
    keys = tmp_path / "lab"
    made = run_harness(["keys", "generate", "--out", str(keys)])
    assert made.returncode == 0, made.stderr
    argv = [sys.executable, str(PART), "--port", str(port)]
    if fault is not None:
        argv += ["--fault", fault]
    part = subprocess.Popen(
        argv,
        preexec_fn=default_signals,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out = tmp_path / "evidence"
    try:
        assert part.stdout is not None
        assert "MDPS running" in part.stdout.readline()
        result = run_harness(
            [
                "certify",
                str(PROFILE),
                "--dut",
                "external",
                "--bench",
                str(bench),
                "--identity",
                f"serial={SERIAL}",
                "--ics",
                str(ICS),
                "--key",
                f"{keys}.key",
                "--out",
                str(out),
                "--quiet",
            ],
            timeout=300,
        )
    finally:
        part.send_signal(signal.SIGTERM)
        rest, err = part.communicate(timeout=10)
    assert part.returncode == 0, err
    received: dict[str, Any] = json.loads(rest.strip().splitlines()[-1])
    return result, received, out, keys.with_suffix(".pub")


def _said(out: Path) -> str:
    """What the run's checks that did not pass said (for an assertion's message)."""
    path = out / "run.json"
    if not path.exists():
        return "\n(no run.json)"
    record = json.loads(path.read_text())
    said = [
        f"{c['id']} {k['label']}: {k['verdict']} {k['summary']} {k['offender']}"
        for c in record["cases"]
        for k in c["checks"]
        if k["verdict"] != "PASS"
    ]
    return "\n".join([f"\nstatus {record['status']} {record['error'] or ''}", *said])


def _verdicts(out: Path) -> dict[str, str]:
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "COMPLETED", _said(out)
    return {c["id"]: c["verdict"] for c in record["cases"]}


def test_the_suppliers_part_is_certified_and_takes_the_rest_bus_frames(tmp_path: Path) -> None:
    result, received, out, pub = _certify(tmp_path, fault=None)
    assert result.returncode == 0, result.stdout + result.stderr + _said(out)
    verdicts = _verdicts(out)
    assert len(verdicts) == 6 and set(verdicts.values()) == {"PASS"}, _said(out)
    # the part took the rest-bus's frames: the case injects 20 wrong checksums and 20
    # repeated counters into LKAS11 and the part ignored exactly those, took the others
    # (LKAS11 runs at 20 ms through the whole run) and shows the last request sent
    assert received["bad_checksum"] == 20, received
    assert received["repeated_counter"] == 20, received
    assert received["accepted"] > 200, received
    assert received["last_request"] == -300, received
    # the certificate verifies against its evidence and names the declared serial
    cert = out / "certificate.dsse.json"
    verified = run_harness(["verify", str(cert), "--key", str(pub), "--evidence", str(out)])
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert SERIAL in verified.stdout
    statement = json.loads(base64.b64decode(json.loads(cert.read_text())["payload"]))
    assert [s["name"] for s in statement["subject"]] == [SERIAL]
    assert statement["predicate"]["dut"]["identity"] == {"serial": SERIAL}
    assert statement["predicate"]["dut"]["identity_sources"] == {"serial": "command-line"}


@pytest.mark.parametrize(
    ("fault", "case"),
    [
        ("repeat-counter", "MDPS-COUNTER"),  # MDPS12's counter repeats every value once
        ("bad-nibble-checksum", "MDPS-CHECKSUM"),  # MDPS11's checksum lacks the negation
        ("accept-any", "MDPS-LKAS-REJECT"),  # takes LKAS11 whatever its checksum and counter
    ],
)
def test_a_faulty_build_fails_its_requirement_and_gets_no_certificate(
    tmp_path: Path, fault: str, case: str
) -> None:
    result, _, out, _ = _certify(tmp_path, fault=fault)
    assert result.returncode == 1, result.stdout + result.stderr + _said(out)
    verdicts = _verdicts(out)
    assert {c for c, v in verdicts.items() if v != "PASS"} == {case}, _said(out)
    assert verdicts[case] == "FAIL", _said(out)
    assert not (out / "certificate.dsse.json").exists()
    assert "no certificate" in result.stdout + result.stderr
