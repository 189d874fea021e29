"""Dashboard update latency: from a run posting an event to the page showing it.

Starts ``harness serve`` (SQLite, temporary), opens its live dashboard in Debian's headless
chromium (Playwright), and runs ``harness certify --server`` against it (the reference
profile, simulated: a burst of events; ``--realtime`` runs a few cases in real time instead).
Every event carries the wall time the run posted it at; the page notes when it applied each
one (``window.harnessLatencies``). The baseline, in this process at the same time, is a
plain Server-Sent-Events client (httpx) on the same stream: what the server and network
add, without the browser. Prints median, 95th percentile and maximum of both and the ratio.

    python bench/dashboard_latency.py [--realtime]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from harness.server.auth import make_organisation, make_token, make_user
from harness.server.db import make_engine, sessions
from harness.server.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "cc-tcu-1.yaml"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _stats(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return f"median {statistics.median(ms):7.1f} ms  p95 {p95:7.1f} ms  max {ms[-1]:7.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--realtime", action="store_true")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db_url = f"sqlite:///{tmp / 'registry.db'}"
        engine = make_engine(db_url)
        upgrade(engine)
        with sessions(engine)() as db:
            make_organisation(db, "Lab", "lab")
            make_user(db, "alice", "Lab")
            token = make_token(db, "alice", dt.timedelta(hours=1))
            db.commit()
        engine.dispose()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "serve", "--db", db_url, "--data",
             str(tmp / "data"), "--port", str(port)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        baseline: list[float] = []
        stop = threading.Event()

        def listen() -> None:
            headers = {"Authorization": f"Bearer {token}"}
            try:
                with httpx.stream(
                    "GET", url + "/api/live/stream", headers=headers, timeout=None
                ) as r:
                    for line in r.iter_lines():
                        if line.startswith("data: "):
                            sent = json.loads(line[6:])["data"].get("sent")
                            if sent:
                                baseline.append(time.time() - sent)
                        if stop.is_set():
                            return
            except httpx.HTTPError:  # the server stopped at the end
                return

        try:
            for _ in range(600):
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            threading.Thread(target=listen, daemon=True).start()
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=ARGS)
                page = browser.new_page()
                page.context.add_cookies([{"name": "harness_token", "value": token, "url": url}])
                page.goto(url + "/dashboard")
                page.wait_for_selector("body[data-live='connected']")
                cmd = [sys.executable, "-m", "harness.cli", "certify", str(PROFILE), "--quiet",
                       "--out", str(tmp / "run"), "--server", url]  # fmt: skip
                if args.realtime:
                    cmd += ["--realtime", "--case", "TC-CAN-006-CRC", "--case", "TC-UDS-005"]
                env = dict(os.environ, HARNESS_TOKEN=token)
                subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=False)
                page.wait_for_function(
                    "document.querySelector('.run-status') && "
                    "document.querySelector('.run-status').textContent.startsWith('COMPLETED')",
                    timeout=120_000,
                )
                time.sleep(0.5)
                stop.set()
                shown: list[float] = page.evaluate("window.harnessLatencies")
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=20)
    mode = "real time, 2 cases" if args.realtime else "simulated, whole profile (a burst)"
    print(f"events of one run ({mode}): {len(shown)} on the page, {len(baseline)} over SSE")
    print(f"SSE client (baseline): {_stats(baseline)}")
    print(f"dashboard page:        {_stats(shown)}")
    print(f"ratio page/SSE median: {statistics.median(shown) / statistics.median(baseline):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
