"""The report as a person sees it: headless Chromium renders a failing run's report.

Chromium is Debian's package, which ``.ci/run`` installs; without it this test fails (it
is never skipped), saying so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROFILE, run_harness


def _chromium() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    )
    if found is None:
        pytest.fail(
            "chromium is not installed: .ci/run installs it (apt-get install chromium); "
            "locally: apt-get update && apt-get install -y --no-install-recommends chromium"
        )
    return found


def _run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def test_failing_report_in_headless_chromium(tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    result = run_harness(["certify", str(PROFILE), "--dut", "sim:slow-cycle", "--out", str(out)])
    assert result.returncode == 1, result.stdout + result.stderr
    report = out / "report" / "report.html"
    url = report.resolve().as_uri()

    png = tmp_path / "report.png"
    shot = _run_chromium(tmp_path, f"--screenshot={png}", "--window-size=1280,2000", url)
    assert png.is_file(), shot.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 2000)
    assert len(data) > 50_000, "the screenshot is (nearly) blank"

    dom = _run_chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr
    page = dom.stdout
    row = re.search(r'<tr[^>]*id="req-CAN-001"[^>]*>(.*?)</tr>', page, re.S)
    assert row is not None and "FAIL" in row.group(1)
    alert = re.search(r'id="failed-requirements".*?</div>', page, re.S)
    assert alert is not None and "CAN-001" in alert.group(0)
    assert "<svg" in alert.group(0), "the failed requirement's plot is not at the top"
    case = re.search(r'<section[^>]*id="case-TC-CAN-001-ON"[^>]*>(.*?)</section>', page, re.S)
    assert case is not None and "<svg" in case.group(1)
    assert 'class="case FAIL"' in page
