"""Issue on a passing run, none on a failing one; `harness verify` accepts the real thing."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest

from harness.canonical import canonical_json
from harness.certificate.dsse import PAYLOAD_TYPE, pae
from harness.certificate.statement import PREDICATE_TYPE, STATEMENT_TYPE, identity_digest
from harness.certificate.verify import verify_certificate
from harness.cli import main
from harness.errors import VerificationError
from harness.evidence import CERTIFICATE_FILE, MANIFEST_FILE, file_sha256
from harness.profile.compile import load_profile
from harness.sim.tcu import TcuIdentity
from tests.certificate.conftest import CertifiedRun, Keys, certify
from tests.conftest import DBC, PROFILE


def statement_of(cert: bytes) -> dict[str, object]:
    envelope = json.loads(cert)
    result: dict[str, object] = json.loads(base64.b64decode(envelope["payload"]))
    return result


def test_passing_run_yields_a_certificate_verify_accepts_with_the_evidence(
    certified: CertifiedRun, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "verify",
            str(certified.cert_path),
            "--key",
            str(keys.pair.public),
            "--evidence",
            str(certified.evidence),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "VALID" in out and "KMHCC00TCU1000001" in out
    n = len(load_profile(PROFILE).requirement_ids)
    files = len(json.loads((certified.evidence / MANIFEST_FILE).read_text())["files"])
    assert f"{n}/{n} PASS" in out and f"complete, {files} files match the manifest" in out


def test_certificate_content(certified: CertifiedRun, keys: Keys) -> None:
    envelope = json.loads(certified.cert)
    assert sorted(envelope) == ["payload", "payloadType", "signatures"]
    assert envelope["payloadType"] == PAYLOAD_TYPE
    assert envelope["signatures"][0]["keyid"] == keys.pair.keyid
    payload = base64.b64decode(envelope["payload"])
    sig = base64.b64decode(envelope["signatures"][0]["sig"])
    # the signature is over the DSSE v1 PAE, byte for byte as the spec writes it
    expected_pae = b"DSSEv1 28 application/vnd.in-toto+json %d " % len(payload) + payload
    assert pae(PAYLOAD_TYPE, payload) == expected_pae
    keys.public.verify(sig, expected_pae)

    statement = json.loads(payload)
    assert statement["_type"] == STATEMENT_TYPE
    assert statement["predicateType"] == PREDICATE_TYPE
    p = statement["predicate"]
    record = json.loads((certified.evidence / "run.json").read_text())
    assert p["run_id"] == record["run_id"]
    assert p["profile"] == {
        "id": "cc-tcu-1",
        "version": "0.1.0",
        "sha256": file_sha256(PROFILE)[0],
        "requirements": {"id": "CC-TCU-1", "version": "1.0"},
    }
    assert p["dbc"] == {"name": "cc-tcu-1.dbc", "sha256": file_sha256(DBC)[0]}
    assert p["asn1"] == []
    assert p["harness"]["name"] == "cc-harness"
    assert p["requirements"] == {r: "PASS" for r in load_profile(PROFILE).requirement_ids}
    assert p["evidence"] == {
        "manifest": MANIFEST_FILE,
        "manifest_sha256": file_sha256(certified.evidence / MANIFEST_FILE)[0],
    }
    assert p["issuer"] == {"level": "supplier"}
    issued = dt.datetime.strptime(p["issued"], "%Y-%m-%dT%H:%M:%SZ")
    expires = dt.datetime.strptime(p["expires"], "%Y-%m-%dT%H:%M:%SZ")
    assert expires - issued == dt.timedelta(days=365)
    dut = TcuIdentity()  # the simulator's own identity
    identity = {
        "vin": dut.vin,
        "sw_version": dut.sw_version,
        "serial": dut.serial,
        "station_id": "0C0FFEE1",
    }
    # read from the part at the start of the run (the profile's identity DIDs), in the
    # profile's order; the profile names the subject by the VIN
    assert p["dut"] == {
        "identity": identity,
        "identity_sources": dict.fromkeys(identity, "part"),
        "subject": "vin",
        "firmware_sha256": None,
    }
    assert statement["subject"] == [
        {"name": dut.vin, "digest": {"sha256": identity_digest(identity)}}
    ]
    # every case applied: no statement given, nothing left unclaimed
    assert p["conformance"] == {"statement": None, "not_claimed": [], "not_applicable": []}
    # the bench comes from an allow-list: no file paths, no interface options
    assert p["bench"] == {
        "name": "simulated",
        "can": {"interface": "harness_sim", "channel": None, "bitrate": None},
    }
    # canonical form: the file is exactly the compact, sorted re-serialisation
    assert certified.cert == canonical_json(envelope) + b"\n"
    assert payload == canonical_json(statement)


def test_failing_run_yields_no_certificate(
    failing_evidence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not (failing_evidence / CERTIFICATE_FILE).exists()
    assert (failing_evidence / MANIFEST_FILE).exists()  # the evidence is sealed all the same


def test_failing_run_says_why_there_is_no_certificate(
    tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    code = certify(tmp_path / "ev", "--dut", "sim:bad-crc", "--key", str(keys.pair.private))
    assert code == 1
    out = capsys.readouterr().out
    assert "no certificate: mandatory case(s) did not pass: TC-CAN-004" in out
    assert not (tmp_path / "ev" / CERTIFICATE_FILE).exists()


def test_bad_key_fails_before_the_run(
    tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    code = certify(tmp_path / "ev", "--key", str(keys.pair.public))
    assert code == 2
    assert "not a PEM private key" in capsys.readouterr().err
    assert not (tmp_path / "ev").exists()


def test_lab_issuer_firmware_subject_and_validity(
    tmp_path: Path, keys: Keys, verify_now: dt.datetime
) -> None:
    firmware = "ab" * 32
    bench = tmp_path / "bench.yaml"
    bench.write_text(
        "format: cc-harness-bench/1\nname: lab bench 3\n"
        f"dut:\n  vin: WVWZZZ1JZXW000001\n  firmware_sha256: {firmware}\n"
    )
    out = tmp_path / "ev"
    args = ["--bench", str(bench), "--key", str(keys.pair.private)]
    assert certify(out, *args, "--issuer-level", "lab", "--validity", "30") == 0
    cert = (out / CERTIFICATE_FILE).read_bytes()
    result = verify_certificate(cert, keys.public, now=verify_now, evidence=out)
    assert result.predicate["issuer"] == {"level": "lab"}
    assert result.predicate["dut"]["firmware_sha256"] == firmware
    assert result.statement["subject"][0]["name"] == "WVWZZZ1JZXW000001"
    assert result.statement["subject"][1] == {"name": "firmware", "digest": {"sha256": firmware}}
    later = verify_now + dt.timedelta(days=30)
    with pytest.raises(VerificationError, match="expired on"):
        verify_certificate(cert, keys.public, now=later)


def test_verify_exit_codes(
    certified: CertifiedRun,
    keys: Keys,
    other_keys: Keys,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cert, pub = str(certified.cert_path), str(keys.pair.public)
    assert main(["verify", cert, "--key", pub]) == 0
    capsys.readouterr()
    # expired (judged in 2 years), wrong key: 4, each with its own message
    assert main(["verify", cert, "--key", pub, "--now", "2099-01-01T00:00:00Z"]) == 4
    assert "expired on" in capsys.readouterr().err
    assert main(["verify", cert, "--key", str(other_keys.pair.public)]) == 4
    assert "signed by another key" in capsys.readouterr().err
    # bad arguments: 2
    assert main(["verify", str(tmp_path / "none.json"), "--key", pub]) == 2
    assert "expected a readable certificate file, but got a missing file" in capsys.readouterr().err
    assert main(["verify", cert, "--key", str(tmp_path / "none.pub")]) == 2
    assert main(["verify", cert, "--key", pub, "--evidence", str(tmp_path / "nope")]) == 2
    assert main(["verify", cert, "--key", pub, "--now", "yesterday"]) == 2
    assert main(["verify", cert, "--key", pub, "--now", "2030-01-01T00:00:00"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["verify", cert])  # --key is required
    assert exc.value.code == 2


def test_verify_json_prints_the_statement(
    certified: CertifiedRun, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(certified.cert_path), "--key", str(keys.pair.public), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == statement_of(certified.cert)


def test_verify_runs_fast(certified: CertifiedRun, keys: Keys, verify_now: dt.datetime) -> None:
    import time

    start = time.perf_counter()
    for _ in range(200):
        verify_certificate(certified.cert, keys.public, now=verify_now)
    assert time.perf_counter() - start < 2.0


def test_certify_help_names_the_certificate_file(capsys: pytest.CaptureFixture[str]) -> None:
    """``--key``'s help (built without loading the evidence module) names the file written."""
    with pytest.raises(SystemExit):
        main(["certify", "--help"])
    assert CERTIFICATE_FILE in " ".join(capsys.readouterr().out.split())
