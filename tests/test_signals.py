"""Signal dispositions the harness inherits.

Whoever starts the harness with SIGINT ignored (a script's background job, ``nohup … &``
from a non-interactive shell, some CI runners) has said that Ctrl-C at the terminal is not
for this process: like Python itself and every POSIX tool, the harness keeps it ignored.
SIGTERM (``kill PID``) always stops a run, which ends ABORTED with its evidence sealed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import PROFILE, ROOT, harness_cmd

pytestmark = [pytest.mark.realtime, pytest.mark.signals]


def _sigint_ignored() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _cases_done(out: Path) -> int:
    try:
        return len(json.loads((out / "run.json").read_text())["cases"])
    except (OSError, ValueError, KeyError):
        return 0


def test_inherited_sigint_ignore_is_kept_and_sigterm_still_aborts(tmp_path: Path) -> None:
    out = tmp_path / "ev"
    # a short case, then a long one (about 15 s): SIGTERM lands in the second
    cases = ["--case", "TC-CAN-006-COUNTER", "--case", "TC-UDS-001-S3"]
    proc = subprocess.Popen(
        harness_cmd("certify", str(PROFILE), "--realtime", *cases, "--out", str(out)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_ignored,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out / "trace.blf").exists():
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it started"
        proc.send_signal(signal.SIGINT)
        before = _cases_done(out)
        # Still running after the ignored Ctrl-C: it finishes another case.
        deadline = time.monotonic() + 120
        while proc.poll() is None and _cases_done(out) <= before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None, "SIGINT stopped a run that was started with it ignored"
        assert _cases_done(out) == before + 1
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, stdout + stderr
    assert "Traceback" not in stderr
    assert json.loads((out / "run.json").read_text())["status"] == "ABORTED"
