"""The registry end to end, on SQLite and on PostgreSQL: submit, check, list, revoke.

A passing bundle is accepted, listed on the public page, and verifies against the registry
until lab staff revoke it; then ``harness verify --registry`` rejects it with the reason.
A bundle with one byte of its trace changed, one whose run.json disagrees with its evidence
(re-sealed and re-signed, so only re-evaluation can tell) and one never sealed are refused
with the reason, and the registry and evidence store stay empty.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from harness.canonical import canonical_json
from harness.certificate.dsse import sign_envelope
from harness.certificate.keys import load_private_key
from harness.evidence import CERTIFICATE_FILE, MANIFEST_FILE, file_sha256, write_manifest
from harness.server.store import pack_bundle
from tests.server.conftest import REFERENCE_IDENTITY, Centre, copy_bundle

EMPTY = {"runs": 0, "certificates": 0, "evidence_files": 0, "profiles": 0}


def _cert_id(bundle: Path) -> str:
    return hashlib.sha256((bundle / CERTIFICATE_FILE).read_bytes()).hexdigest()


def test_accept_list_verify_revoke(centre: Centre, passing_bundle: Path, tmp_path: Path) -> None:
    centre.register_part(REFERENCE_IDENTITY)
    qualified = {"location": "sim rack", "qualify_sha256": "cd" * 32}
    with centre.client("lab") as c:  # the bench the run names ("simulated")
        assert c.put("/api/benches/simulated", json=qualified).status_code == 200
    bundle = copy_bundle(passing_bundle, tmp_path / "bundle")
    cert, pub = str(bundle / CERTIFICATE_FILE), f"{centre.keys}.pub"
    unknown = centre.harness(["verify", cert, "--key", pub, "--registry", centre.url])
    assert unknown.returncode == 4 and "does not know it" in unknown.stderr
    result = centre.harness(["submit", str(bundle), "--server", centre.url], who="acme")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ACCEPTED" in result.stdout
    cert_id = _cert_id(bundle)
    assert cert_id in result.stdout

    rows = centre.registry_rows()
    assert rows["runs"] == 1 and rows["certificates"] == 1 and rows["profiles"] == 1
    # evidence is content-addressed: every stored file is named by its own sha256
    blobs = centre.blobs()
    assert blobs and all(hashlib.sha256(p.read_bytes()).hexdigest() == p.name for p in blobs)
    trace_digest, _ = file_sha256(bundle / "trace.blf")
    assert trace_digest in {p.name for p in blobs}

    with centre.client("acme") as c:
        run = c.get(f"/api/runs/{json.loads((bundle / 'run.json').read_text())['run_id']}")
        assert run.status_code == 200
        assert run.json()["requirements"]["CAN-001"] == "PASS"
        assert run.json()["operator"] == "sam"
        assert run.json()["bench_record"]["qualify_sha256"] == "cd" * 32
        trace = c.get(f"/api/runs/{run.json()['id']}/evidence/trace.blf")
        assert trace.content == (bundle / "trace.blf").read_bytes()
        by_part = c.get("/api/certificates", params={"part": "serial=CCTCU0000001"}).json()
        assert [x["id"] for x in by_part] == [cert_id]
        by_profile = c.get("/api/certificates", params={"profile": "cc-tcu-1"}).json()
        assert [x["id"] for x in by_profile] == [cert_id]
        assert c.get("/api/certificates", params={"part": "serial=NOPE"}).json() == []

    page = centre.client().get("/certificates").text
    assert f"cert-{cert_id}" in page and "KMHCC00TCU1000001" in page

    ok = centre.harness(["verify", cert, "--key", pub, "--registry", centre.url])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "not revoked" in ok.stdout

    with centre.client("lab") as c:
        r = c.post(f"/api/certificates/{cert_id}/revoke", json={"reason": "lamp test falsified"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "revoked"
    bad = centre.harness(["verify", cert, "--key", pub, "--registry", centre.url])
    assert bad.returncode == 4, bad.stdout + bad.stderr
    assert "REVOKED" in bad.stderr and "lamp test falsified" in bad.stderr
    # offline alone it still verifies: only the registry knows of the revocation
    assert centre.harness(["verify", cert, "--key", pub]).returncode == 0
    page = centre.client().get("/certificates").text
    assert f"cert-{cert_id}" not in page and "No valid certificates" in page
    info = centre.client().get(f"/api/certificates/{cert_id}").json()
    assert info["status"] == "revoked" and info["revoked_reason"] == "lamp test falsified"


def _refused(centre: Centre, bundle: Path, *words: str) -> None:
    before = centre.registry_rows()
    result = centre.harness(["submit", str(bundle), "--server", centre.url], who="acme")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "refused" in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert centre.registry_rows() == before == EMPTY
    assert centre.blobs() == []
    assert "No valid certificates" in centre.client().get("/certificates").text


def test_one_byte_of_the_trace_changed_is_refused(
    centre: Centre, passing_bundle: Path, tmp_path: Path
) -> None:
    centre.register_part(REFERENCE_IDENTITY)
    bundle = copy_bundle(passing_bundle, tmp_path / "bundle")
    trace = bundle / "trace.blf"
    data = bytearray(trace.read_bytes())
    data[len(data) // 2] ^= 0x01
    trace.write_bytes(bytes(data))
    _refused(centre, bundle, "trace.blf")


def _resign(bundle: Path, key: Path) -> None:
    """Re-seal the folder and re-sign its certificate, as a forger holding the key would."""
    write_manifest(bundle)
    envelope = json.loads((bundle / CERTIFICATE_FILE).read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["evidence"]["manifest_sha256"] = file_sha256(bundle / MANIFEST_FILE)[0]
    signed = sign_envelope(canonical_json(statement), load_private_key(key))
    (bundle / CERTIFICATE_FILE).write_bytes(signed)


def test_run_json_disagreeing_with_its_evidence_is_refused(
    centre: Centre, passing_bundle: Path, tmp_path: Path
) -> None:
    centre.register_part(REFERENCE_IDENTITY)
    bundle = copy_bundle(passing_bundle, tmp_path / "bundle")
    record = json.loads((bundle / "run.json").read_text())
    check = record["cases"][0]["checks"][0]
    assert check["kind"] == "cycle_time"
    check["measurements"]["max_interval"] = 0.105  # the trace says 0.1
    (bundle / "run.json").write_text(json.dumps(record, indent=2))
    _resign(bundle, Path(f"{centre.keys}.key"))
    # the forgery is consistent: the certificate verifies over the evidence offline
    pub = f"{centre.keys}.pub"
    offline = centre.harness(
        ["verify", str(bundle / CERTIFICATE_FILE), "--key", pub, "--evidence", str(bundle)]
    )
    assert offline.returncode == 0, offline.stdout + offline.stderr
    _refused(centre, bundle, "re-evaluation", "TC-CAN-001-ON", "max_interval")


def test_unsealed_bundle_is_refused_by_the_server(
    centre: Centre, passing_bundle: Path, tmp_path: Path
) -> None:
    """The client refuses to upload an unsealed folder; the server refuses it all the same."""
    centre.register_part(REFERENCE_IDENTITY)
    bundle = copy_bundle(passing_bundle, tmp_path / "bundle")
    (bundle / MANIFEST_FILE).unlink()
    local = centre.harness(["submit", str(bundle), "--server", centre.url], who="acme")
    assert local.returncode != 0 and "manifest.json" in local.stderr
    with centre.client("acme") as c:
        r = c.post("/api/submissions", content=pack_bundle(bundle))
        assert r.status_code == 202, r.text
        for _ in range(600):
            state = c.get(f"/api/submissions/{r.json()['id']}").json()
            if state["status"] in ("accepted", "refused"):
                break
            import time

            time.sleep(0.1)
    assert state["status"] == "refused"
    assert "manifest.json" in state["reason"]
    assert centre.registry_rows() == EMPTY and centre.blobs() == []


def test_garbage_upload_is_a_clear_400(centre: Centre) -> None:
    with centre.client("acme") as c:
        r = c.post("/api/submissions", content=b"not a tar at all")
    assert r.status_code == 400
    assert "gzip'd tar" in r.json()["detail"]
