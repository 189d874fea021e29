"""Ten ``harness certify`` processes released at the same instant into one ``--out`` folder.

Each process imports the harness first and says it is ready; only when all ten are ready is
the gate opened, so they reach the evidence folder together. Exactly one may run: the others
must exit 2 ("already holds a run") without writing a byte into it. The folder must then be
one run's evidence, whole: the manifest matches every file, the trace reads back to its last
frame, ``harness evaluate`` agrees, and the certificate is that run's and verifies.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import can

from harness.certificate.keys import generate_key_pair
from harness.cli import main
from harness.evidence import CERTIFICATE_FILE, check_bundle, verify_manifest
from tests.conftest import PROFILE, ROOT
from tests.hostile.conftest import CANARY, CANARY_VAR

RACERS = 10

_RACER = """
import os, sys, time
from harness.cli import main  # imported before the gate: the race is over the folder only
ready, gate, args = sys.argv[1], sys.argv[2], sys.argv[3:]
open(ready, "w").close()
while not os.path.exists(gate):
    time.sleep(0.001)
sys.exit(main(args))
"""


def test_ten_certify_processes_into_one_folder_one_runs(tmp_path: Path) -> None:
    keys = generate_key_pair(tmp_path / "lab")
    out = tmp_path / "evidence"
    gate = tmp_path / "go"
    env = dict(os.environ, COLUMNS="200", **{CANARY_VAR: CANARY})
    args = ["certify", str(PROFILE), "--out", str(out), "--quiet", "--key", str(keys.private)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(tmp_path / f"ready-{i}"), str(gate), *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(RACERS)
    ]
    try:
        while not all((tmp_path / f"ready-{i}").exists() for i in range(RACERS)):
            assert all(p.poll() is None for p in procs), "a racer died before the gate"
            time.sleep(0.01)
        assert not out.exists()
        gate.touch()
        results = [p.communicate(timeout=600) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    codes = [p.returncode for p in procs]
    outputs = [o + e for o, e in results]
    for text in outputs:
        assert "Traceback" not in text, text
        assert CANARY not in text
    winners = [i for i, code in enumerate(codes) if code == 0]
    assert len(winners) == 1, f"exit codes {codes}:\n" + "\n".join(outputs)
    for i, code in enumerate(codes):
        if i != winners[0]:
            assert code == 2, outputs[i]
            assert "already holds a run" in " ".join(outputs[i].split()), outputs[i]
            assert "certificate" not in outputs[i]  # neither issued nor refused: never ran

    # the folder is the winner's evidence, whole
    record = check_bundle(out, accept=("COMPLETED",))
    assert record["passed"] is True
    listed = {e.path for e in verify_manifest(out)}
    assert {"run.json", "trace.blf", "profile.yaml", "mqtt.jsonl", "diag.jsonl"} <= listed
    with can.BLFReader(str(out / "trace.blf")) as reader:
        frames = sum(1 for _ in reader)
    assert frames > 50_000  # the whole run, not a trace cut short by a second writer
    times = [json.loads(line)["ts"] for line in (out / "mqtt.jsonl").read_text().splitlines()]
    # one run's MQTT log: its time never goes back (two runs appended would start over)
    assert times == sorted(times), "mqtt.jsonl holds more than one run"
    diag = [json.loads(line) for line in (out / "diag.jsonl").read_text().splitlines()]
    steps = [d.get("step", "") for d in diag]
    # the DUT's identity is read once per run: exactly one run's exchanges are here
    assert sum(1 for step in steps if step == "identity vin") == 1
    assert main(["evaluate", str(out), "--quiet"]) == 0

    # one certificate, for that run, that verifies against the folder
    cert = out / CERTIFICATE_FILE
    assert f"certificate: {cert}" in " ".join(outputs[winners[0]].split())
    statement = json.loads(base64.b64decode(json.loads(cert.read_text())["payload"]))
    assert statement["predicate"]["run_id"] == record["run_id"]
    assert main(["verify", str(cert), "--key", str(keys.public), "--evidence", str(out)]) == 0
    leftovers = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert leftovers == [], leftovers
