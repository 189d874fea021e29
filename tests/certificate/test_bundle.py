"""The evidence bundle: inputs kept byte-exact, a manifest over every file, sealed on every
way out (passing, failing, Ctrl-C), and an unsealed folder named incomplete afterwards."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import time
from pathlib import Path

import can
import pytest

from harness.bench import Bench
from harness.certificate.verify import verify_certificate
from harness.errors import EvidenceIncomplete, InputError, VerificationError
from harness.evidence import (
    CERTIFICATE_FILE,
    MANIFEST_FILE,
    bundle_files,
    bundle_inputs,
    check_bundle,
    file_sha256,
    verify_manifest,
)
from harness.mqtt.broker import EmbeddedBroker
from harness.profile.compile import load_profile
from harness.session import DutChoice, Session
from tests.certificate.conftest import CertifiedRun, Keys
from tests.conftest import DBC, PROFILE, ROOT, default_signals, harness_cmd, run_harness


def manifest(folder: Path) -> dict[str, dict[str, object]]:
    data = json.loads((folder / MANIFEST_FILE).read_text())
    return {f["path"]: f for f in data["files"]}


def test_bundle_layout_and_manifest(certified: CertifiedRun) -> None:
    ev = certified.evidence
    files = manifest(ev)
    core = ["dbc/cc-tcu-1.dbc", "profile.yaml", "run.json", "trace.blf"]
    # plus the logs a run writes beside the trace (diag.jsonl, mqtt.jsonl, mqtt/ccv2x.asn)
    assert set(core) <= set(files)
    assert {f for f in files if f not in core} <= {"diag.jsonl", "mqtt.jsonl", "mqtt/ccv2x.asn"}
    for rel, entry in files.items():
        assert entry == {
            "path": rel,
            "size": (ev / rel).stat().st_size,
            "sha256": file_sha256(ev / rel)[0],
        }
    assert (ev / "profile.yaml").read_bytes() == PROFILE.read_bytes()
    assert (ev / "dbc" / "cc-tcu-1.dbc").read_bytes() == DBC.read_bytes()
    data = json.loads((ev / MANIFEST_FILE).read_text())
    record = json.loads((ev / "run.json").read_text())
    assert data["format"] == "cc-harness-manifest/1"
    assert (data["run_id"], data["status"]) == (record["run_id"], "COMPLETED")
    assert check_bundle(ev)["run_id"] == record["run_id"]
    assert len(verify_manifest(ev)) == len(files)


def test_the_kept_inputs_reload_to_the_same_plan(certified: CertifiedRun) -> None:
    profile, dbc = bundle_inputs(certified.evidence)
    plan = load_profile(profile, dbc_override=dbc)
    original = load_profile(PROFILE)
    assert (plan.digest, plan.dbc_digest) == (original.digest, original.dbc_digest)


def test_every_file_of_the_folder_is_covered_logs_included(tmp_path: Path) -> None:
    out = tmp_path / "ev"
    plan = load_profile(PROFILE)
    with Session(plan, Bench(), DutChoice.parse("sim"), out_dir=out) as session:
        session.run_case(plan.cases[0])
        (out / "mqtt.log").write_text("t=0.0 v2x/bsm ...\n")  # what later issues will write
        (out / "diag").mkdir()
        (out / "diag" / "uds.log").write_text("10 03 -> 50 03\n")
        session.finish(None)
    files = manifest(out)
    assert {"mqtt.log", "diag/uds.log", "trace.blf", "run.json"} <= set(files)
    assert MANIFEST_FILE not in files
    verify_manifest(out)
    # derived outputs (the two reports) and the certificate are not evidence; anything else is
    (out / "report").mkdir()
    (out / "report" / "report.html").write_text("<html/>")
    (out / "report" / "junit.xml").write_text("<testsuites/>")
    (out / CERTIFICATE_FILE).write_text("{}")
    verify_manifest(out)
    assert bundle_files(out)[0] == sorted(files)
    (out / "report" / "index.html").write_text("<html/>")  # not a report harness writes
    with pytest.raises(VerificationError, match=r"report/index\.html, which the manifest"):
        verify_manifest(out)
    (out / "report" / "index.html").unlink()
    (out / "notes.txt").write_text("added later")
    with pytest.raises(VerificationError, match=r"notes\.txt, which the manifest does not list"):
        verify_manifest(out)


def test_a_profile_edited_after_loading_is_refused(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_bytes(PROFILE.read_bytes().replace(b"../dbc/", str(DBC.parent).encode() + b"/"))
    plan = load_profile(profile)
    profile.write_bytes(profile.read_bytes() + b"# edited\n")
    with pytest.raises(InputError, match="changed on disk after it was loaded"):  # noqa: SIM117
        with Session(plan, Bench(), DutChoice.parse("sim"), out_dir=tmp_path / "ev"):
            pass


def test_silent_dut_folder_is_sealed_but_incomplete(tmp_path: Path) -> None:
    bench = tmp_path / "bench.yaml"
    with EmbeddedBroker() as broker:  # the lab's broker (an external DUT needs one named)
        bench.write_text(
            "format: cc-harness-bench/1\ncan: {interface: virtual, channel: nobody-x}\n"
            f"mqtt: {{broker: {{host: {broker.host}, port: {broker.port}}}}}\n"
        )
        out = tmp_path / "ev"
        result = run_harness(
            ["certify", str(PROFILE), "--bench", str(bench), "--dut", "external", "--out", str(out)]
        )
    assert result.returncode == 3, result.stderr
    assert (out / MANIFEST_FILE).exists()
    verify_manifest(out)
    with pytest.raises(EvidenceIncomplete, match="ended with status INCOMPLETE: the DUT sent no"):
        check_bundle(out)


def _start_realtime(out: Path, *extra: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        harness_cmd("certify", str(PROFILE), "--realtime", "--out", str(out), *extra),
        cwd=ROOT,
        preexec_fn=default_signals,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (out / "trace.blf").exists():
        time.sleep(0.05)
    assert (out / "trace.blf").exists(), "the run did not start"
    return proc


def _frames_on_disk(path: Path) -> int:
    """Frames python-can reads from a trace still being written (0 while it cannot)."""
    try:
        return sum(1 for _ in can.BLFReader(str(path)))
    except Exception:  # a container half written: try again later
        return 0


@pytest.mark.realtime
@pytest.mark.signals
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_is_aborted_sealed_and_uncertified(
    tmp_path: Path, keys: Keys, sig: signal.Signals
) -> None:
    out = tmp_path / "ev"
    proc = _start_realtime(out, "--key", str(keys.pair.private))
    time.sleep(2.0)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 3, stdout + stderr
    assert "Traceback" not in stderr
    assert "no certificate: the run was aborted" in stdout
    assert not (out / CERTIFICATE_FILE).exists()
    record = check_bundle(out)  # ABORTED is a complete folder...
    assert record["status"] == "ABORTED"
    assert json.loads((out / MANIFEST_FILE).read_text())["status"] == "ABORTED"
    verify_manifest(out)  # ...and every file in it is whole and listed
    assert {"trace.blf", "run.json", "profile.yaml", "dbc/cc-tcu-1.dbc"} <= set(manifest(out))
    frames = list(can.BLFReader(str(out / "trace.blf")))
    assert any(f.arbitration_id == 0x3A0 for f in frames)


@pytest.mark.realtime
def test_kill_9_leaves_an_incomplete_folder_every_command_names(
    tmp_path: Path, certified: CertifiedRun, keys: Keys, verify_now: dt.datetime
) -> None:
    out = tmp_path / "ev"
    proc = _start_realtime(out)
    # killed once the trace on disk holds more than 100 frames (start-up time varies with
    # the machine's load; a fixed sleep once left 89)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _frames_on_disk(out / "trace.blf") <= 150:
        time.sleep(0.25)
    proc.kill()
    proc.wait(timeout=10)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    proc.stderr.close()
    # the trace opens in python-can's reader, missing at most the last flush interval
    frames = list(can.BLFReader(str(out / "trace.blf")))
    assert len(frames) > 100
    assert not (out / MANIFEST_FILE).exists()
    with pytest.raises(EvidenceIncomplete, match="is still marked RUNNING") as exc:
        check_bundle(out)
    assert "harness process died" in str(exc.value)
    # verify --evidence says so (exit 4), and so does a certify that would reuse the folder
    pub = str(keys.pair.public)
    result = run_harness(["verify", str(certified.cert_path), "--key", pub, "--evidence", str(out)])
    assert result.returncode == 4
    assert "is incomplete" in result.stderr and "still marked RUNNING" in result.stderr
    with pytest.raises(VerificationError, match="is incomplete"):
        verify_certificate(certified.cert, keys.public, now=verify_now, evidence=out)
    result = run_harness(["certify", str(PROFILE), "--out", str(out)])
    assert result.returncode == 2
    assert "already holds a run; that run is incomplete" in result.stderr
