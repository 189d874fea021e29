"""``harness qualify profiles/cc-gw-1.yaml``: a bare ``--dut sim`` qualifies the part that
implements the profile's requirement set (cc-gw-1 for CC-GW-1), and its variants are caught
each by a case of its own requirement (simulated runs only here; the real-time runs of the
default qualification are shown in the report of the branch)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.cli import main
from harness.dut import DEFAULT_DUT, provider_for

PROFILE = Path(__file__).resolve().parents[2] / "profiles" / "cc-gw-1.yaml"


def test_the_profile_picks_its_simulator() -> None:
    assert provider_for("CC-GW-1") == "cc-gw-1"
    assert provider_for("CC-TCU-1") == DEFAULT_DUT
    assert provider_for("ACME-BCM") == DEFAULT_DUT  # no part of its own: the reference TCU


def test_the_gateway_profile_qualifies(tmp_path: Path) -> None:
    out = tmp_path / "q"
    argv = ["qualify", str(PROFILE), "--runs", "2", "--realtime-runs", "0", "--jobs", "1"]
    variants = ["leaked-id", "p05-crc-short", "no-rate-limit", "short-reset-silence"]
    argv += [arg for v in variants for arg in ("--variant", v)]
    assert main([*argv, "--out", str(out)]) == 0
    report = json.loads((out / "qualification.json").read_text())
    assert report["qualified"] is True and report["options"]["dut"] == "cc-gw-1"
    caught = {v["name"]: (v["verdict"], v["detecting_cases"]) for v in report["variants"]}
    assert caught == {
        "leaked-id": ("caught", ["TC-GW-002"]),
        "p05-crc-short": ("caught", ["TC-GW-005"]),
        "no-rate-limit": ("caught", ["TC-GW-006-BURST", "TC-GW-006-SPACING"]),
        "short-reset-silence": ("caught", ["TC-GW-009", "TC-GW-009-FAULTS"]),
    }
