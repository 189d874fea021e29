"""A corpus of forged certificates, made at run time from a real one so it never goes stale.

Each forgery is a function from the genuine article (certificate, Statement, the issuer's
test key, another key, a fresh copy of the evidence folder, a failing run's evidence) to the
bytes and evidence folder an attacker would present, with the message the verifier must
give. Forgeries re-signed with the issuer's own key test the checks behind the signature:
an issuer's bug or a stolen key must still not yield a certificate that verifies.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.canonical import canonical_json
from harness.certificate.dsse import PAYLOAD_TYPE, b64encode, envelope_bytes, pae, sign_envelope
from harness.certificate.keys import keyid
from harness.certificate.statement import format_time
from harness.certificate.verify import verify_certificate
from harness.cli import main
from harness.errors import VerificationError
from harness.evidence import MANIFEST_FILE, file_sha256
from tests.certificate.conftest import CertifiedRun, Keys


@dataclass
class Genuine:
    cert: bytes
    statement: dict[str, Any]
    key: Ed25519PrivateKey  # the issuer's (test) key
    other: Ed25519PrivateKey
    evidence: Path  # a fresh copy for each forgery
    failing: Path  # a fresh copy of a failing run's evidence
    now: dt.datetime

    def envelope(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.cert)
        return result

    def statement_copy(self) -> dict[str, Any]:
        return copy.deepcopy(self.statement)

    def resign(self, statement: Any, key: Ed25519PrivateKey | None = None) -> bytes:
        return sign_envelope(canonical_json(statement), key or self.key)

    def resign_raw(self, payload: bytes) -> bytes:
        return sign_envelope(payload, self.key)

    def edit(self, change: Callable[[dict[str, Any]], None]) -> bytes:
        """The Statement with ``change`` applied to its predicate, re-signed by the issuer."""
        statement = self.statement_copy()
        change(statement["predicate"])
        return self.resign(statement)


Forged = tuple[bytes, Path | None]


def dump(envelope: Any) -> bytes:
    return canonical_json(envelope) + b"\n"


# -- the file and the envelope -------------------------------------------------------------------
def empty(g: Genuine) -> Forged:
    return b"", g.evidence


def not_json(g: Genuine) -> Forged:
    return b"-----BEGIN CERTIFICATE-----\nMIIB...\n", g.evidence


def truncated(g: Genuine) -> Forged:
    return g.cert[: len(g.cert) // 2], g.evidence


def trailing_data(g: Genuine) -> Forged:
    return g.cert + b"{}\n", g.evidence


def json_array(g: Genuine) -> Forged:
    return dump([g.envelope()]), g.evidence


def duplicate_key(g: Genuine) -> Forged:
    return b'{"payloadType":"text/plain",' + g.cert[1:], g.evidence


def nan_value(g: Genuine) -> Forged:
    return g.cert[:-2] + b',"x":NaN}\n', g.evidence


def pretty_printed(g: Genuine) -> Forged:
    return json.dumps(g.envelope(), indent=2).encode() + b"\n", g.evidence


def extra_envelope_field(g: Genuine) -> Forged:
    env = g.envelope()
    env["comment"] = "approved"
    return dump(env), g.evidence


def missing_signatures(g: Genuine) -> Forged:
    env = g.envelope()
    del env["signatures"]
    return dump(env), g.evidence


def payload_type_changed(g: Genuine) -> Forged:
    env = g.envelope()
    env["payloadType"] = "application/json"
    return dump(env), g.evidence


def payload_not_base64(g: Genuine) -> Forged:
    env = g.envelope()
    env["payload"] = env["payload"].replace("e", "*")
    return dump(env), g.evidence


def payload_urlsafe_base64(g: Genuine) -> Forged:
    env = g.envelope()
    payload = env["payload"]
    # unpadded, URL-safe or MIME-wrapped: the same bytes, another spelling (which ones
    # apply depends on the payload's length and letters)
    if payload.endswith("="):
        env["payload"] = payload.rstrip("=")
    elif "+" in payload or "/" in payload:
        env["payload"] = payload.replace("+", "-").replace("/", "_")
    else:
        env["payload"] = "\n".join(payload[i : i + 76] for i in range(0, len(payload), 76))
    return dump(env), g.evidence


def zero_signatures(g: Genuine) -> Forged:
    env = g.envelope()
    env["signatures"] = []
    return dump(env), g.evidence


def two_signatures(g: Genuine) -> Forged:
    env = g.envelope()
    other = json.loads(g.resign(g.statement, g.other))["signatures"][0]
    env["signatures"].append(other)
    return dump(env), g.evidence


def short_signature(g: Genuine) -> Forged:
    env = g.envelope()
    env["signatures"][0]["sig"] = b64encode(base64.b64decode(env["signatures"][0]["sig"])[:32])
    return dump(env), g.evidence


def signature_extra_field(g: Genuine) -> Forged:
    env = g.envelope()
    env["signatures"][0]["cert"] = "trust me"
    return dump(env), g.evidence


# -- the signature --------------------------------------------------------------------------------
def signed_by_another_key(g: Genuine) -> Forged:
    return g.resign(g.statement, g.other), g.evidence


def keyid_swapped(g: Genuine) -> Forged:
    env = g.envelope()
    env["signatures"][0]["keyid"] = keyid(g.other.public_key())
    return dump(env), g.evidence


def payload_edited_not_resigned(g: Genuine) -> Forged:
    statement = g.statement_copy()
    statement["predicate"]["issuer"]["level"] = "lab"  # promote a self-test to a lab's
    env = g.envelope()
    env["payload"] = b64encode(canonical_json(statement))
    return dump(env), g.evidence


def signature_of_another_payload(g: Genuine) -> Forged:
    other = g.statement_copy()
    other["predicate"]["run_id"] = "0" * 32
    env = g.envelope()
    env["signatures"] = json.loads(g.resign(other))["signatures"]
    return dump(env), g.evidence


def signature_without_pae(g: Genuine) -> Forged:
    """Ed25519 over the bare payload, not over the DSSE PAE."""
    payload = canonical_json(g.statement)
    sig = g.key.sign(payload)
    assert pae(PAYLOAD_TYPE, payload) != payload
    signatures = [{"keyid": keyid(g.key.public_key()), "sig": b64encode(sig)}]
    return envelope_bytes(payload, PAYLOAD_TYPE, signatures), g.evidence


# -- the payload, re-signed by the issuer's key ------------------------------------------------
def payload_not_json(g: Genuine) -> Forged:
    return g.resign_raw(b"PASS"), g.evidence


def payload_pretty_printed(g: Genuine) -> Forged:
    return g.resign_raw(json.dumps(g.statement, indent=1, sort_keys=True).encode()), g.evidence


def payload_duplicate_key(g: Genuine) -> Forged:
    body = canonical_json(g.statement)
    return g.resign_raw(b'{"_type":"x",' + body[1:]), g.evidence


def statement_type_wrong(g: Genuine) -> Forged:
    statement = g.statement_copy()
    statement["_type"] = "https://in-toto.io/Statement/v0.1"
    return g.resign(statement), g.evidence


def predicate_type_unknown(g: Genuine) -> Forged:
    statement = g.statement_copy()
    statement["predicateType"] = "https://slsa.dev/provenance/v1"
    return g.resign(statement), g.evidence


def statement_extra_field(g: Genuine) -> Forged:
    statement = g.statement_copy()
    statement["note"] = "x"
    return g.resign(statement), g.evidence


def predicate_field_missing(g: Genuine) -> Forged:
    return g.edit(lambda p: p.pop("evidence")), g.evidence


def predicate_field_extra(g: Genuine) -> Forged:
    return g.edit(lambda p: p.update(waiver="CAN-004 not applicable")), g.evidence


def nested_field_wrong_type(g: Genuine) -> Forged:
    return g.edit(lambda p: p["profile"].update(sha256=12345)), g.evidence


def verdict_unknown(g: Genuine) -> Forged:
    return g.edit(lambda p: p["requirements"].update({"CAN-004": "OK"})), g.evidence


def issuer_level_unknown(g: Genuine) -> Forged:
    return g.edit(lambda p: p["issuer"].update(level="authority")), g.evidence


def subject_not_the_dut(g: Genuine) -> Forged:
    statement = g.statement_copy()
    statement["subject"][0]["name"] = "WVWZZZ1JZXW999999"
    return g.resign(statement), g.evidence


def identity_changed_subject_kept(g: Genuine) -> Forged:
    return g.edit(lambda p: p["dut"]["identity"].update(serial="CCTCU9999999")), g.evidence


def time_not_iso(g: Genuine) -> Forged:
    return g.edit(lambda p: p.update(issued="25/11/2026 20:00")), g.evidence


def time_not_utc(g: Genuine) -> Forged:
    return g.edit(lambda p: p.update(issued=p["issued"].replace("Z", "+01:00"))), g.evidence


def expired(g: Genuine) -> Forged:
    past = g.now - dt.timedelta(days=30)
    return g.edit(
        lambda p: p.update(issued=format_time(past), expires=format_time(past + dt.timedelta(1)))
    ), g.evidence


def issued_in_the_future(g: Genuine) -> Forged:
    later = g.now + dt.timedelta(days=2)
    return g.edit(
        lambda p: p.update(issued=format_time(later), expires=format_time(later + dt.timedelta(9)))
    ), g.evidence


def expires_before_issued(g: Genuine) -> Forged:
    return g.edit(lambda p: p.update(expires=p["issued"])), g.evidence


# -- the evidence ---------------------------------------------------------------------------------
def manifest_edited(g: Genuine) -> Forged:
    path = g.evidence / MANIFEST_FILE
    path.write_bytes(path.read_bytes().replace(b'"COMPLETED"', b'"COMPLETED" '))
    return g.cert, g.evidence


def evidence_file_modified(g: Genuine) -> Forged:
    path = g.evidence / "trace.blf"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one frame changed
    path.write_bytes(bytes(data))
    return g.cert, g.evidence


def evidence_file_truncated(g: Genuine) -> Forged:
    path = g.evidence / "run.json"
    path.write_bytes(path.read_bytes()[:-10])
    return g.cert, g.evidence


def evidence_file_missing(g: Genuine) -> Forged:
    (g.evidence / "profile.yaml").unlink()
    return g.cert, g.evidence


def evidence_file_added(g: Genuine) -> Forged:
    (g.evidence / "dbc" / "extra.dbc").write_text('VERSION ""\n')
    return g.cert, g.evidence


def evidence_file_replaced_by_symlink(g: Genuine) -> Forged:
    path = g.evidence / "profile.yaml"
    target = g.evidence.parent / "profile-elsewhere.yaml"
    shutil.move(path, target)
    path.symlink_to(target)
    return g.cert, g.evidence


def evidence_unsealed(g: Genuine) -> Forged:
    (g.evidence / MANIFEST_FILE).unlink()
    return g.cert, g.evidence


def run_id_mismatch(g: Genuine) -> Forged:
    return g.edit(lambda p: p.update(run_id="f" * 32)), g.evidence


def verdicts_differ_from_evidence(g: Genuine) -> Forged:
    return g.edit(lambda p: p["requirements"].update({"CAN-009": "PASS"})), g.evidence


def profile_digest_differs(g: Genuine) -> Forged:
    return g.edit(lambda p: p["profile"].update(sha256="0" * 64)), g.evidence


def failing_run_claimed_to_pass(g: Genuine) -> Forged:
    """A certificate for the failing run's evidence, every verdict PASS, re-signed."""
    record = json.loads((g.failing / "run.json").read_text())

    def claim(p: dict[str, Any]) -> None:
        p["run_id"] = record["run_id"]
        p["evidence"]["manifest_sha256"] = file_sha256(g.failing / MANIFEST_FILE)[0]

    return g.edit(claim), g.failing


def _extra_file(name: str, rel: str, kind: str = "file") -> Callable[[Genuine], Forged]:
    """A forgery that adds ``rel`` to the sealed folder: hidden, temporary-looking, inside the
    derived report/ folder, or not a regular file at all (issue 14)."""

    def forge(g: Genuine) -> Forged:
        path = g.evidence / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "symlink":
            path.unlink(missing_ok=True)
            path.symlink_to(g.evidence / "run.json")
        else:
            path.write_text('{"status": "COMPLETED"}\n')
        return g.cert, g.evidence

    forge.__name__ = name
    return forge


HIDDEN_AND_TEMPORARY: list[tuple[Callable[[Genuine], Forged], str]] = [
    (_extra_file("manifest_temp_name", ".manifest.json.evil.tmp"), "holds .manifest.json.evil.tmp"),
    (
        _extra_file("certificate_temp_name", ".certificate.dsse.json.x.tmp"),
        "holds .certificate.dsse.json.x.tmp",
    ),
    (_extra_file("run_record_temp_name", ".run.json.a1b2.tmp"), "holds .run.json.a1b2.tmp"),
    (_extra_file("hidden_file", ".hidden"), "holds .hidden, which the manifest does not list"),
    (_extra_file("hidden_folder", ".git/config"), "holds .git/config, which the manifest"),
    (_extra_file("hidden_in_dbc", "dbc/.cc-tcu-1.dbc.swp"), "holds dbc/.cc-tcu-1.dbc.swp"),
    (_extra_file("temp_in_mqtt", "mqtt/ccv2x.asn.tmp"), "holds mqtt/ccv2x.asn.tmp"),
    (_extra_file("backup_of_manifest", "manifest.json.bak"), "holds manifest.json.bak"),
    (_extra_file("certificate_temp", "certificate.dsse.json.tmp"), "certificate.dsse.json.tmp"),
    (_extra_file("other_report", "report/index.html"), "holds report/index.html, which"),
    (_extra_file("report_temp", "report/.report.html.x.tmp"), "holds report/.report.html.x.tmp"),
    (_extra_file("report_nested", "report/old/report.html"), "holds report/old/report.html"),
    (
        _extra_file("report_symlink", "report/report.html", "symlink"),
        "holds report/report.html, which is not a regular file",
    ),
    (_extra_file("fifo_at_root", "evil.fifo", "fifo"), "holds evil.fifo, which is not a regular"),
    (_extra_file("fifo_hidden", ".x.tmp", "fifo"), "holds .x.tmp, which is not a regular file"),
]


CORPUS: list[tuple[Callable[[Genuine], Forged], str]] = [
    (empty, "the file is empty"),
    (not_json, "not valid JSON"),
    (truncated, "truncated: the JSON ends early"),
    (trailing_data, "trailing data after the JSON value"),
    (json_array, "expected a DSSE envelope (a JSON object), but got a JSON list"),
    (duplicate_key, "duplicate key 'payloadType'"),
    (nan_value, "'NaN' is not a JSON number"),
    (pretty_printed, "the envelope is not in canonical form"),
    (extra_envelope_field, "the envelope has unexpected field(s) comment"),
    (missing_signatures, "the envelope is missing field(s) signatures"),
    (payload_type_changed, "unknown payloadType 'application/json'"),
    (payload_not_base64, "payload is not canonical (padded, standard) base64"),
    (payload_urlsafe_base64, "payload is not canonical (padded, standard) base64"),
    (zero_signatures, "expected exactly one signature, but the envelope has 0"),
    (two_signatures, "expected exactly one signature, but the envelope has 2"),
    (short_signature, "not the canonical base64 of a 64-byte Ed25519 signature"),
    (signature_extra_field, "exactly keyid and sig"),
    (signed_by_another_key, "the certificate was signed by another key"),
    (keyid_swapped, "was altered: the signature is by the given key"),
    (payload_edited_not_resigned, "the signature does not verify with the given key"),
    (signature_of_another_payload, "the signature does not verify with the given key"),
    (signature_without_pae, "the signature does not verify with the given key"),
    (payload_not_json, "the signed payload is not strict JSON: not valid JSON"),
    (payload_pretty_printed, "the signed payload is not canonical JSON"),
    (payload_duplicate_key, "the signed payload is not strict JSON: duplicate key '_type'"),
    (statement_type_wrong, "the Statement's _type is 'https://in-toto.io/Statement/v0.1'"),
    (predicate_type_unknown, "unknown predicateType 'https://slsa.dev/provenance/v1'"),
    (statement_extra_field, "the Statement has unexpected field(s) note"),
    (predicate_field_missing, "predicate is missing field(s) evidence"),
    (predicate_field_extra, "predicate has unexpected field(s) waiver"),
    (nested_field_wrong_type, "predicate.profile.sha256 must be a sha256 in lower-case hex"),
    (verdict_unknown, "predicate.requirements.CAN-004 must be one of PASS, FAIL"),
    (issuer_level_unknown, "predicate.issuer.level must be one of supplier, lab"),
    (subject_not_the_dut, "subject does not match the DUT"),
    (identity_changed_subject_kept, "subject does not match the DUT"),
    (time_not_iso, "predicate.issued is '25/11/2026 20:00', expected an ISO-8601 UTC time"),
    (time_not_utc, "expected an ISO-8601 UTC time"),
    (expired, "the certificate expired on"),
    (issued_in_the_future, "the certificate is issued in the future"),
    (expires_before_issued, "is not after predicate.issued"),
    (manifest_edited, "but the certificate names"),
    (evidence_file_modified, "evidence file trace.blf in"),
    (evidence_file_truncated, "evidence file run.json in"),
    (evidence_file_missing, "evidence file profile.yaml listed in the manifest is missing"),
    (evidence_file_added, "holds dbc/extra.dbc, which the manifest does not list"),
    (evidence_file_replaced_by_symlink, "profile.yaml in"),
    (evidence_unsealed, "is incomplete: it has no manifest.json"),
    (run_id_mismatch, "but the certificate is of run ffffffff"),
    (verdicts_differ_from_evidence, "the certificate's requirement verdicts"),
    (profile_digest_differs, "the certificate's profile sha256"),
    (failing_run_claimed_to_pass, "shows a run that did not pass"),
    *HIDDEN_AND_TEMPORARY,
]


def test_the_corpus_is_large_and_distinct() -> None:
    assert len(CORPUS) >= 20
    assert len({f.__name__ for f, _ in CORPUS}) == len(CORPUS)


@pytest.fixture
def genuine(
    certified: CertifiedRun,
    keys: Keys,
    other_keys: Keys,
    failing_evidence: Path,
    verify_now: dt.datetime,
    tmp_path: Path,
) -> Genuine:
    envelope = json.loads(certified.cert)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    failing = tmp_path / "failing"
    shutil.copytree(failing_evidence, failing)
    return Genuine(
        cert=certified.cert,
        statement=statement,
        key=keys.private,
        other=other_keys.private,
        evidence=certified.copy(tmp_path / "evidence"),
        failing=failing,
        now=verify_now,
    )


def test_the_genuine_certificate_verifies(genuine: Genuine, keys: Keys) -> None:
    verify_certificate(genuine.cert, keys.public, now=genuine.now, evidence=genuine.evidence)
    verify_certificate(genuine.resign(genuine.statement), keys.public, now=genuine.now)


@pytest.mark.parametrize(("forge", "message"), CORPUS, ids=[f.__name__ for f, _ in CORPUS])
def test_forgery_is_rejected_with_its_message(
    genuine: Genuine, keys: Keys, forge: Callable[[Genuine], Forged], message: str
) -> None:
    data, evidence = forge(genuine)
    with pytest.raises(VerificationError) as exc:
        verify_certificate(data, keys.public, now=genuine.now, evidence=evidence)
    assert message in str(exc.value)


@pytest.mark.parametrize(
    "forge",
    [
        signed_by_another_key,
        expired,
        evidence_file_added,
        failing_run_claimed_to_pass,
        *(forge for forge, _ in HIDDEN_AND_TEMPORARY),
    ],
    ids=lambda forge: forge.__name__,
)
def test_forgeries_exit_4_from_the_cli(
    genuine: Genuine,
    keys: Keys,
    tmp_path: Path,
    forge: Callable[[Genuine], Forged],
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, evidence = forge(genuine)
    cert = tmp_path / "forged.dsse.json"
    cert.write_bytes(data)
    args = ["verify", str(cert), "--key", str(keys.pair.public), "--now", format_time(genuine.now)]
    if evidence is not None:
        args += ["--evidence", str(evidence)]
    assert main(args) == 4
    err = capsys.readouterr().err
    assert f"certificate {cert} rejected:" in err.replace("\n", "")
