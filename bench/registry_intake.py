"""How many submissions of the reference profile's evidence the registry re-verifies a minute.

Makes ``--bundles`` evidence folders of the reference profile (``harness certify --key``,
each a distinct run), then, interleaved in this process:

* **in-process baseline**: intake's own check of a bundle (manifest, certificate, offline
  re-evaluation of every verdict: ``harness.server.intake.check_bundle_fully``), no server;
* **server**: ``harness serve`` (SQLite in a temporary folder) as a subprocess; each bundle
  is uploaded with ``harness.server.client.Registry.submit`` and waited for until accepted
  (upload, unpack, queue, background check, content-addressed store, database rows).

Prints the rate of each (bundles per minute) and the ratio server/in-process.

    python bench/registry_intake.py [--bundles 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from harness.certificate.keys import generate_key_pair, load_public_key
from harness.server.auth import make_organisation, make_token, make_user
from harness.server.client import Registry
from harness.server.db import make_engine, sessions
from harness.server.intake import Intake, check_bundle_fully
from harness.server.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "cc-tcu-1.yaml"
IDENTITY = {
    "vin": "KMHCC00TCU1000001",
    "sw_version": "CCTCU-1.0.0",
    "serial": "CCTCU0000001",
    "station_id": "0C0FFEE1",
}


def _harness(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundles", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        keys = generate_key_pair(tmp / "lab")
        bundles = []
        for i in range(args.bundles):
            out = tmp / f"run{i}"
            _harness(
                "certify", str(PROFILE), "--out", str(out), "--quiet", "--key", str(keys.private)
            )
            bundles.append(out)
        trusted = Intake.trust([load_public_key(keys.public)])

        db_url = f"sqlite:///{tmp / 'registry.db'}"
        engine = make_engine(db_url)
        upgrade(engine)
        with sessions(engine)() as db:
            make_organisation(db, "Lab", "lab")
            make_organisation(db, "Acme", "supplier")
            make_user(db, "alice", "Lab")
            make_user(db, "sam", "Acme")
            lab = make_token(db, "alice", dt.timedelta(hours=1))
            acme = make_token(db, "sam", dt.timedelta(hours=1))
            db.commit()
        engine.dispose()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "serve", "--db", db_url, "--data",
             str(tmp / "data"), "--port", str(port), "--trust-key", str(keys.public)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            with Registry(url, lab) as reg:
                reg.request(
                    "POST", "/api/parts", json={"identity": IDENTITY, "organisation": "Acme"}
                )
            local, remote = 0.0, 0.0
            checks = 0
            with Registry(url, acme) as reg:
                for bundle in bundles:  # interleaved: baseline, then the server, per bundle
                    t0 = time.perf_counter()
                    checks = check_bundle_fully(bundle, trusted).checks
                    t1 = time.perf_counter()
                    state = reg.submit(bundle, poll=0.02)
                    t2 = time.perf_counter()
                    assert state["status"] == "accepted", state
                    local += t1 - t0
                    remote += t2 - t1
        finally:
            server.terminate()
            server.wait(timeout=20)
    n = len(bundles)
    print(f"reference profile evidence: {n} bundle(s), {checks} checks each")
    print(f"in-process re-verification (baseline): {60 * n / local:8.1f} bundles/min "
          f"({local / n:.2f} s each)")  # fmt: skip
    print(f"server submissions re-verified:        {60 * n / remote:8.1f} bundles/min "
          f"({remote / n:.2f} s each, upload to accepted)")  # fmt: skip
    print(f"ratio server/in-process rate: {local / remote:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
