"""The benchmark scripts in bench/ still run: tiny sizes, exit 0, the ratio lines printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_script(name: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / name), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        (
            "realtime_factor.py",
            ("--runs", "1", "--warmup", "0"),
            ["x faster than real time", "ratio evidence off/on"],
        ),
        (
            "ingest_throughput.py",
            ("--frames", "20000", "--repeat", "1"),
            ["harness frames/s", "ratio harness/baseline", "ratio harness+trace/baseline"],
        ),
        (
            "ingest_throughput.py",
            ("--mix", "fd-two-buses", "--frames", "20000", "--repeat", "1"),
            ["2 buses", "ratio harness/baseline (FD two-bus mix)", "ratio harness+trace/baseline"],
        ),
        (
            "mqtt_throughput.py",
            ("--messages", "2000", "--broker", "amqtt"),
            ["plain paho + asn1tools", "ratio harness/plain"],
        ),
        (
            "live_ingest.py",
            ("--rates", "500", "--seconds", "1"),
            ["plain python-can + cantools", "harness at 500 frames/s"],
        ),
        (
            "soak_memory.py",
            ("--minutes", "0.05,0.1", "--mix", "busy"),
            ["busy: RSS 0.1 min / 0.05 min", "evaluate agrees"],
        ),
        (
            "mqtt_roundtrip.py",
            ("--pings", "20", "--rounds", "1", "--broker", "amqtt"),
            ["plain paho (Nagle on)", "ratio plain/harness round trip"],
        ),
        (
            "registry_intake.py",
            ("--bundles", "1"),
            ["in-process re-verification (baseline)", "ratio server/in-process rate"],
        ),
        (
            "dashboard_latency.py",
            ("--realtime",),
            ["SSE client (baseline)", "dashboard page:", "ratio page/SSE median"],
        ),
        (
            "gc_pause.py",
            ("--passes", "1"),
            ["(baseline)", "ratio baseline/frozen pause"],
        ),
        (
            "keep_awake.py",
            ("--runs", "1", "--seconds", "0.3"),
            ["(baseline)", "kept awake", "ratio baseline/kept awake"],
        ),
        (
            "startup.py",
            ("--runs", "1"),
            ["baseline: import can, cantools", "ratio --help/baseline", "ratio validate/baseline"],
        ),
    ],
)
def test_bench_script_runs(name: str, args: tuple[str, ...], expected: list[str]) -> None:
    out = run_script(name, *args)
    for line in expected:
        assert line in out
