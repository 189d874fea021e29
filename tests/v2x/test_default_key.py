"""The remote-command key a bench without psk/psk_env uses is the one the README documents.

A supplier's part configured with the key exactly as the README prints it (64 hex digits),
run as its own process, passes the command cases against a harness whose bench names no key;
a part with any other key gets ``bad-mac`` and fails them.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
from pathlib import Path

import pytest

from harness.mqtt.broker import EmbeddedBroker
from harness.mqtt.config import DEFAULT_PSK
from tests.conftest import PROFILE, ROOT, free_udp_port, harness_cmd, run_harness

CMD_CASES = ["TC-CMD-001", "TC-CMD-002", "TC-CMD-003", "TC-CMD-004"]


def documented_key() -> str:
    """The default key as the README gives it (the line that names the factory key)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("**The command key.**") :]
    found = re.search(r"`([0-9a-f]{64})`", section)
    assert found is not None, "the README gives no 64-hex-digit default command key"
    return found.group(1)


def test_the_readme_gives_the_default_key() -> None:
    assert bytes.fromhex(documented_key()) == DEFAULT_PSK


def _run(tmp_path: Path, part_key: str) -> tuple[int, dict[str, str], str]:
    """The part (the simulator, its own process) with ``part_key``; the harness without."""
    port = free_udp_port()
    can = f"can: {{interface: udp_multicast, channel: 239.74.163.2, options: {{port: {port}}}}}\n"
    with EmbeddedBroker() as broker:
        mqtt = f"mqtt:\n  broker: {{host: {broker.host}, port: {broker.port}}}\n"
        harness_bench = tmp_path / "harness.yaml"
        harness_bench.write_text("format: cc-harness-bench/1\n" + can + mqtt)  # no psk
        part_bench = tmp_path / "part.yaml"
        part_bench.write_text("format: cc-harness-bench/1\n" + can + mqtt + f"  psk: {part_key}\n")
        sim = subprocess.Popen(
            harness_cmd("sim", "tcu", "--bench", str(part_bench)),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert sim.stdout is not None
            assert "reference TCU running" in sim.stdout.readline()
            out = tmp_path / "evidence"
            chosen = [arg for c in CMD_CASES for arg in ("--case", c)]
            result = run_harness(
                ["certify", str(PROFILE), "--bench", str(harness_bench), "--dut", "external",
                 *chosen, "--out", str(out)],
                timeout=300,
            )  # fmt: skip
        finally:
            sim.send_signal(signal.SIGTERM)
            sim.wait(timeout=10)
    record = json.loads((out / "run.json").read_text())
    verdicts = {c["id"]: c["verdict"] for c in record["cases"]}
    return result.returncode, verdicts, result.stdout + result.stderr


@pytest.mark.realtime
def test_a_part_with_the_documented_default_key_passes_the_command_cases(tmp_path: Path) -> None:
    code, verdicts, output = _run(tmp_path, documented_key())
    assert verdicts == dict.fromkeys(CMD_CASES, "PASS"), output[-3000:]
    assert code == 0


@pytest.mark.realtime
@pytest.mark.parametrize("part_key", [secrets.token_hex(32)], ids=["a-random-key"])
def test_a_part_with_another_key_fails_them(tmp_path: Path, part_key: str) -> None:
    code, verdicts, _ = _run(tmp_path, part_key)
    assert code == 1
    assert verdicts["TC-CMD-001"] == "FAIL"  # every valid command answered bad-mac
