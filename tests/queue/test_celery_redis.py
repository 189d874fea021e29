"""Many benches on a real task queue: Redis (Debian's redis-server) as the Celery broker, two
``harness queue worker`` processes standing for two benches with different capabilities.

Six runs with different needs each land on a bench that meets them (and a run both could
take lands on either); a worker process killed with SIGKILL in the middle of a real-time run
leaves that attempt's evidence RUNNING (never a pass), its request goes back to the queue,
runs again to the end, and no request is lost.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.queue.app import make_app
from harness.queue.model import Capabilities, Needs
from tests.conftest import PROFILE, ROOT, default_signals, free_udp_port, harness_cmd
from tests.ports import free_tcp_port

pytestmark = [pytest.mark.realtime, pytest.mark.queue]

CASES = ("--case", "TC-CAN-002", "--case", "TC-UDS-002")  # simulated: well under a second


def _redis_binary() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if found is None:
        pytest.fail("redis-server is not installed: .ci/run installs it (apt-get install)")
    return found


def _wait_for(what: str, predicate: Any, timeout: float, proc: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise RuntimeError(f"{what}: the process ended with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """redis-server of our own: a free port, its own config, nothing saved to disk."""
    port = free_tcp_port()
    conf = tmp_path / "redis.conf"
    conf.write_text(
        f'port {port}\nbind 127.0.0.1\nsave ""\nappendonly no\ndir {tmp_path}\n'
        "daemonize no\nprotected-mode yes\n"
    )
    log = (tmp_path / "redis.log").open("w")
    server = subprocess.Popen([_redis_binary(), str(conf)], stdout=log, stderr=log)
    try:
        _wait_for(
            "redis-server listening",
            lambda: "Ready to accept connections" in (tmp_path / "redis.log").read_text(),
            30,
            server,
        )
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


@dataclass
class Bench:
    name: str
    caps: Capabilities
    evidence: Path
    proc: subprocess.Popen[bytes]
    log: Path


def _start_worker(tmp_path: Path, broker: str, name: str, bench_yaml: str, *opts: str) -> Bench:
    bench = tmp_path / f"{name}.yaml"
    bench.write_text(bench_yaml)
    evidence = tmp_path / f"evidence-{name}"
    log = tmp_path / f"{name}.log"
    args = ["queue", "worker", "--broker", broker, "--bench", str(bench), "--name", name]
    proc = subprocess.Popen(
        harness_cmd(*args, "--evidence", str(evidence), *opts),
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its pool processes go with it at the end
        preexec_fn=default_signals,
    )
    interface = "udp_multicast" if "udp_multicast" in bench_yaml else "virtual"
    caps = Capabilities(interface, "--fd" in opts, int(opts[opts.index("--buses") + 1]))
    return Bench(name, caps, evidence, proc, log)


@pytest.fixture
def benches(tmp_path: Path, redis_url: str) -> Iterator[dict[str, Bench]]:
    a = _start_worker(
        tmp_path,
        redis_url,
        "bench-a",
        "format: cc-harness-bench/1\nname: bench A\ncan: {interface: virtual}\n",
        "--buses",
        "1",
    )
    b = _start_worker(
        tmp_path,
        redis_url,
        "bench-b",
        "format: cc-harness-bench/1\nname: bench B\ncan: {interface: udp_multicast, "
        f"channel: 239.74.163.2, options: {{port: {free_udp_port()}}}}}\n",
        "--fd",
        "--buses",
        "2",
    )
    try:
        for bench in (a, b):
            log = bench.log
            _wait_for(bench.name, lambda f=log: b"ready." in f.read_bytes(), 60, bench.proc)
        yield {"bench-a": a, "bench-b": b}
    finally:
        for bench in (a, b):
            if bench.proc.poll() is None:
                os.killpg(bench.proc.pid, signal.SIGKILL)
            bench.proc.wait(timeout=10)


def _submit(broker: str, needs: str, *extra: str) -> str:
    result = subprocess.run(
        harness_cmd("queue", "submit", str(PROFILE), "--broker", broker, "--needs", needs, *extra),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    request_id, *said = result.stdout.split()
    assert said[:2] == ["queued", "on"], result.stdout
    return request_id


def _outcome(app: Any, request_id: str, timeout: float) -> dict[str, Any]:
    result = app.AsyncResult(request_id)
    deadline = time.monotonic() + timeout
    while not result.ready():
        assert time.monotonic() < deadline, f"{request_id} still {result.state}"
        time.sleep(0.2)
    assert result.state == "SUCCESS", result.result
    outcome: dict[str, Any] = result.result
    return outcome


def _status(folder: Path) -> str:
    status: str = json.loads((folder / "run.json").read_text())["status"]
    return status


def test_six_runs_land_on_matching_benches(redis_url: str, benches: dict[str, Bench]) -> None:
    wanted = {
        "": {"bench-a", "bench-b"},
        "interface=virtual": {"bench-a"},
        "interface=udp_multicast": {"bench-b"},
        "fd": {"bench-b"},
        "buses=2": {"bench-b"},
        "interface=virtual,buses=1": {"bench-a"},
    }
    ids = {needs: _submit(redis_url, needs, *CASES) for needs in wanted}
    app = make_app(redis_url)
    for needs, request_id in ids.items():
        outcome = _outcome(app, request_id, 180)
        name = outcome["bench"]["name"]
        assert name in wanted[needs], (needs, outcome)
        assert benches[name].caps.meets(Needs.parse(needs))
        assert outcome["status"] == "COMPLETED" and outcome["passed"] is True, outcome
        assert outcome["verdicts"] == {"TC-CAN-002": "PASS", "TC-UDS-002": "PASS"}
        folder = Path(outcome["evidence"])
        assert folder.parent.parent == benches[name].evidence
        assert _status(folder) == "COMPLETED"
    # `harness queue status` reports the same, one JSON line per request
    shown = subprocess.run(
        harness_cmd("queue", "status", "--broker", redis_url, "--json", *ids.values()),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    lines = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [line["id"] for line in lines] == list(ids.values())
    assert all(line["state"] == "SUCCESS" for line in lines)


def test_a_worker_killed_mid_run_is_requeued_never_passed_never_lost(
    redis_url: str, benches: dict[str, Bench]
) -> None:
    """Real time on bench B (the only FD bench): SIGKILL its pool process during the run."""
    request_id = _submit(
        redis_url, "fd", "--realtime", "--case", "TC-CAN-007", "--case", "TC-CAN-008"
    )
    app = make_app(redis_url)
    result = app.AsyncResult(request_id)
    attempts = benches["bench-b"].evidence / request_id
    deadline = time.monotonic() + 120
    while not (result.state == "STARTED" and list(attempts.glob("*/trace.blf"))):
        assert time.monotonic() < deadline, f"the run did not start: {result.state}"
        time.sleep(0.1)
    pid = result.info["pid"]
    (first,) = attempts.iterdir()
    time.sleep(1.0)  # a second into the first case: frames in the trace, the run not done
    os.kill(pid, signal.SIGKILL)
    outcome = _outcome(app, request_id, 180)
    assert outcome["bench"]["name"] == "bench-b" and outcome["pid"] != pid
    assert outcome["status"] == "COMPLETED" and outcome["passed"] is True, outcome
    folders = sorted(attempts.iterdir())
    assert len(folders) == 2 and first in folders
    assert _status(first) == "RUNNING"  # the killed attempt: the process died, never a pass
    (second,) = [f for f in folders if f != first]
    assert Path(outcome["evidence"]) == second and _status(second) == "COMPLETED"
    log = benches["bench-b"].log.read_text(errors="replace")
    assert "WorkerLostError" in log, log[-2000:]
