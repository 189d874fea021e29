"""The live dashboard in a real browser (Debian's headless chromium), on SQLite and PostgreSQL.

A real-time run streams to the server; the page shows its progress while the run is still
going (the run waits on the dashboard for its operator, so "before the end" is certain, not
a race), the operator answers its prompts on the page, and the answers land in run.json with
who and when. A failing run's page shows the FAIL and the report's plots. Screenshots of both
are kept in test-artifacts/.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import PROFILE, ROOT, case_in_run
from tests.operator.prompts import CASE, operator_profile
from tests.server.browser import artifact, chromium
from tests.server.conftest import Centre


def _certify(centre: Centre, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, HARNESS_TOKEN=centre.tokens["lab"], COLUMNS="120")
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "certify", *args, "--server", centre.url],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _dashboard(centre: Centre, page: Page) -> None:
    page.context.add_cookies(
        [{"name": "harness_token", "value": centre.tokens["lab"], "url": centre.url}]
    )
    page.goto(centre.url + "/dashboard")
    expect(page.locator("body[data-live='connected']")).to_have_count(1, timeout=30_000)


@pytest.mark.realtime
def test_live_run_with_prompts_on_the_dashboard(
    centre: Centre, tmp_path: Path, request: object
) -> None:
    profile = operator_profile(tmp_path, timeout="120 s", image=True)
    out = tmp_path / "run"
    run = _certify(
        centre, str(profile), "--realtime", "--out", str(out),
        "--case", "TC-CAN-006-COUNTER", "--case", CASE, "--case", "TC-UDS-001-SESSION",
    )  # fmt: skip
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            _dashboard(centre, page)
            bench = page.locator("section.bench")
            prompt = page.locator(".prompt", has_text="Plug the part into harness B")
            expect(prompt).to_be_visible(timeout=120_000)
            # the run is still going (it waits for this answer), and the page shows how far
            assert run.poll() is None
            expect(bench.locator(".done")).to_have_text("1")
            expect(bench.locator(".count")).to_contain_text("1 of 3 cases done")
            expect(bench.locator(".run-status")).to_have_text("RUNNING")
            expect(bench.locator(".current")).to_have_text(CASE)
            # the finished case's section of the report, plots included
            expect(bench.locator("section.case#case-TC-CAN-006-COUNTER")).to_have_count(1)
            expect(bench.locator("section.case#case-TC-CAN-006-COUNTER svg").first).to_be_visible()
            page.screenshot(path=str(artifact("dashboard-live.png")), full_page=True)

            prompt.get_by_role("button", name="done").click()
            lamp = page.locator(".prompt", has_text="Is the MIL lamp off?")
            expect(lamp).to_be_visible(timeout=30_000)
            expect(lamp.locator("img")).to_have_count(1)
            lamp.get_by_role("button", name="pass").click()
            supply = page.locator(".prompt", has_text="Measure the supply voltage")
            expect(supply).to_be_visible(timeout=30_000)
            supply.locator("input").fill("12.4")
            supply.get_by_role("button", name="enter").click()
            # the CAN and UDS cases' verdicts are real-time measurements this test does not
            # judge (a loaded machine may fail them); the operator's case must pass
            expect(bench.locator(".run-status")).to_contain_text("COMPLETED", timeout=120_000)
            expect(bench.locator(".answered")).to_have_count(3)
            expect(bench.locator("section.case")).to_have_count(3)
            expect(bench.locator(f"section.case.PASS#case-{CASE}")).to_have_count(1)
            page.screenshot(path=str(artifact("dashboard-finished.png")), full_page=True)
        assert run.wait(timeout=60) in (0, 1), run.stdout.read() if run.stdout else ""
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    _, case = case_in_run(out, CASE)
    checks = [c for c in case["checks"] if c["kind"] == "operator_prompt"]
    assert [c["measurements"]["answer"] for c in checks] == ["yes", "pass", 12.4]
    assert {c["measurements"]["answered_by"] for c in checks} == {"alice"}
    assert {c["measurements"]["source"] for c in checks} == {"dashboard"}
    assert [c["verdict"] for c in checks] == ["PASS", "PASS", "PASS"]


def test_failing_run_page(centre: Centre, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run = _certify(
        centre, str(PROFILE), "--dut", "sim:slow-cycle", "--out", str(out),
        "--case", "TC-CAN-001-ON", "--case", "TC-CAN-006-CRC",
    )  # fmt: skip
    text = run.communicate(timeout=300)[0]
    assert run.returncode == 1, text
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        _dashboard(centre, page)
        bench = page.locator("section.bench")
        expect(bench.locator(".run-status")).to_have_text("COMPLETED (not passed)")
        failed = bench.locator("section.case.FAIL#case-TC-CAN-001-ON")
        expect(failed).to_have_count(1)
        expect(failed.locator("svg").first).to_be_visible()  # the report's cycle-time plot
        expect(bench.locator("section.case.PASS#case-TC-CAN-006-CRC")).to_have_count(1)
        page.screenshot(path=str(artifact("dashboard-failing-run.png")), full_page=True)
        html = page.content()
    for token in centre.tokens.values():
        assert token not in html
