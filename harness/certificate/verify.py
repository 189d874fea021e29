"""Strict, offline verification of a certificate (and, if given, of its evidence folder).

Everything that is not exactly what the harness issues is rejected with its own message:
the file must be strict JSON in canonical form (one byte form per certificate, so no byte
can change and still verify); the envelope must have exactly its three fields, the in-toto
payload type, canonical base64, and exactly one signature whose keyid is the given key's and
which verifies over the DSSE PAE; the payload must be canonical JSON of an in-toto Statement
v1 with our predicate type and exactly our predicate (see :mod:`.statement`); the
certificate must be issued and not expired at ``now``. With an evidence folder, the folder
must be complete, its manifest must have the digest the certificate names and match every
file, no file may be added, and its run record must be the certified run and agree with
the predicate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from harness.canonical import JsonRejected, canonical_json, strict_loads
from harness.certificate.dsse import PAYLOAD_TYPE, b64decode_canonical, pae
from harness.certificate.keys import keyid
from harness.certificate.statement import (
    bench_summary,
    check_statement,
    format_time,
    parse_time,
)
from harness.errors import EvidenceIncomplete, VerificationError
from harness.evidence import (
    DBC_DIR,
    MANIFEST_FILE,
    PROFILE_FILE,
    check_bundle,
    file_sha256,
    verify_manifest,
)

__all__ = ["Verified", "verify_certificate", "verify_evidence"]

_ENVELOPE_KEYS = ("payload", "payloadType", "signatures")


@dataclass(frozen=True)
class Verified:
    """A certificate that verified: its Statement, predicate, signer keyid, and how many
    evidence files were checked (None when no folder was given)."""

    statement: dict[str, Any]
    predicate: dict[str, Any]
    keyid: str
    evidence_files: int | None = None


def _signature(envelope: dict[str, Any]) -> tuple[str, bytes]:
    sigs = envelope["signatures"]
    if not isinstance(sigs, list):
        raise VerificationError("the envelope's signatures must be a list")
    if len(sigs) != 1:
        raise VerificationError(f"expected exactly one signature, but the envelope has {len(sigs)}")
    sig = sigs[0]
    if not isinstance(sig, dict) or sorted(sig) != ["keyid", "sig"]:
        got = sorted(sig) if isinstance(sig, dict) else type(sig).__name__
        raise VerificationError(
            f"the signature must be an object with exactly keyid and sig, but has {got}"
        )
    kid, text = sig["keyid"], sig["sig"]
    if not isinstance(kid, str) or len(kid) != 64 or kid.strip("0123456789abcdef"):
        raise VerificationError(f"the signature's keyid {kid!r} is not a lower-case hex sha256")
    raw = b64decode_canonical(text) if isinstance(text, str) else None
    if raw is None or len(raw) != 64:
        raise VerificationError(
            "the signature's sig is not the canonical base64 of a 64-byte Ed25519 signature"
        )
    return kid, raw


def _envelope(data: bytes) -> tuple[bytes, str, bytes]:
    """payload, keyid and signature of a strictly well-formed canonical envelope."""
    try:
        envelope = strict_loads(data)
    except JsonRejected as exc:
        raise VerificationError(f"not a certificate: {exc}") from None
    if not isinstance(envelope, dict):
        raise VerificationError(
            f"not a certificate: expected a DSSE envelope (a JSON object), but got "
            f"a JSON {type(envelope).__name__}"
        )
    missing = [k for k in _ENVELOPE_KEYS if k not in envelope]
    if missing:
        raise VerificationError(f"the envelope is missing field(s) {', '.join(missing)}")
    extra = sorted(set(envelope) - set(_ENVELOPE_KEYS))
    if extra:
        raise VerificationError(f"the envelope has unexpected field(s) {', '.join(extra)}")
    if envelope["payloadType"] != PAYLOAD_TYPE:
        raise VerificationError(
            f"unknown payloadType {envelope['payloadType']!r}: expected {PAYLOAD_TYPE!r}"
        )
    text = envelope["payload"]
    payload = b64decode_canonical(text) if isinstance(text, str) else None
    if payload is None:
        raise VerificationError("the envelope's payload is not canonical (padded, standard) base64")
    kid, sig = _signature(envelope)
    if canonical_json(envelope) + b"\n" != data:
        raise VerificationError(
            "the envelope is not in canonical form (sorted keys, no whitespace, ASCII, one "
            "final newline): the file was altered after it was issued"
        )
    return payload, kid, sig


def verify_certificate(
    data: bytes,
    key: Ed25519PublicKey,
    *,
    now: dt.datetime,
    evidence: Path | None = None,
) -> Verified:
    """Verify certificate bytes against ``key`` at time ``now``; raise VerificationError."""
    payload, kid, sig = _envelope(data)
    expected_kid = keyid(key)
    signed = pae(PAYLOAD_TYPE, payload)
    if kid != expected_kid:
        try:
            key.verify(sig, signed)
        except InvalidSignature:
            raise VerificationError(
                f"the certificate was signed by another key (keyid {kid}); the given public "
                f"key has keyid {expected_kid}"
            ) from None
        raise VerificationError(
            f"the signature's keyid {kid} was altered: the signature is by the given key "
            f"(keyid {expected_kid})"
        )
    try:
        key.verify(sig, signed)
    except InvalidSignature:
        raise VerificationError(
            "the signature does not verify with the given key: the payload or the signature "
            "was altered after signing"
        ) from None
    try:
        statement = strict_loads(payload)
    except JsonRejected as exc:
        raise VerificationError(f"the signed payload is not strict JSON: {exc}") from None
    if canonical_json(statement) != payload:
        raise VerificationError(
            "the signed payload is not canonical JSON (sorted keys, no whitespace, ASCII)"
        )
    predicate = check_statement(statement)
    issued = parse_time(predicate["issued"], "predicate.issued")
    expires = parse_time(predicate["expires"], "predicate.expires")
    if issued > now:
        raise VerificationError(
            f"the certificate is issued in the future: issued {predicate['issued']}, "
            f"but it is now {format_time(now)}"
        )
    if expires <= now:
        raise VerificationError(
            f"the certificate expired on {predicate['expires']} (it is now {format_time(now)})"
        )
    count = None if evidence is None else verify_evidence(evidence, predicate)
    return Verified(statement, predicate, kid, count)


def verify_evidence(out_dir: Path, predicate: dict[str, Any]) -> int:
    """Check that ``out_dir`` is the complete, unaltered evidence of the certified run;
    return how many files the manifest lists."""
    try:
        if not (out_dir / MANIFEST_FILE).is_file():
            check_bundle(out_dir)  # raises, saying why the folder was never sealed
        # Sealed: first whether anything was altered, then whether the run finished.
        entries = verify_manifest(out_dir, predicate["evidence"]["manifest_sha256"])
        record = check_bundle(out_dir, accept=("COMPLETED",))
    except EvidenceIncomplete as exc:
        raise VerificationError(str(exc)) from None
    if record.get("run_id") != predicate["run_id"]:
        raise VerificationError(
            f"evidence folder {out_dir} is of run {record.get('run_id')}, but the certificate "
            f"is of run {predicate['run_id']}"
        )
    if record.get("passed") is not True:
        failed = sorted(
            k
            for k, v in (record.get("requirements") or {}).items()
            if v not in ("PASS", "NOT_APPLICABLE")
        )
        raise VerificationError(
            f"evidence folder {out_dir} shows a run that did not pass (requirements not "
            f"passed: {', '.join(failed) or 'none'}), but the certificate claims it did"
        )
    profile = record.get("profile") or {}
    claims = [
        ("requirement verdicts", predicate["requirements"], record.get("requirements")),
        ("profile id", predicate["profile"]["id"], profile.get("id")),
        ("profile version", predicate["profile"]["version"], profile.get("version")),
        ("profile sha256", predicate["profile"]["sha256"], profile.get("sha256")),
        ("DBC sha256", predicate["dbc"]["sha256"], record.get("dbc_sha256")),
        ("harness version", predicate["harness"]["version"], record.get("harness_version")),
        ("mode", predicate["mode"], record.get("mode")),
        ("bench", predicate["bench"], bench_summary(record.get("bench") or {})),
    ]
    dut = predicate["dut"]
    if "conformance" in predicate:  # v2: the identity as recorded, and the statement
        claims += [
            ("DUT identity", dut["identity"], record.get("identity")),
            ("DUT identity sources", dut["identity_sources"], record.get("identity_sources")),
            ("subject item", dut["subject"], record.get("identity_subject")),
            (
                "conformance statement",
                predicate["conformance"]["statement"],
                record.get("conformance"),
            ),
            (
                "cases not applicable",
                predicate["conformance"]["not_applicable"],
                [
                    c.get("id")
                    for c in record.get("cases") or []
                    if isinstance(c, dict) and c.get("verdict") == "NOT_APPLICABLE"
                ],
            ),
        ]
    elif dut["identity_source"] == "part":
        claims.append(("DUT identity", dut["identity"], record.get("identity")))
    for what, claimed, shown in claims:
        if claimed != shown:
            raise VerificationError(
                f"the certificate's {what} {claimed!r} differs from the evidence's {shown!r} "
                f"in {out_dir}/run.json"
            )
    kept = [
        (PROFILE_FILE, predicate["profile"]["sha256"]),
        (f"{DBC_DIR}/{predicate['dbc']['name']}", predicate["dbc"]["sha256"]),
    ]
    listed = {e.path for e in entries}
    for rel, digest in kept:
        if rel not in listed:
            raise VerificationError(f"evidence folder {out_dir} does not hold {rel}")
        actual, _ = file_sha256(out_dir / rel)
        if actual != digest:
            raise VerificationError(
                f"evidence file {rel} has sha256 {actual}, but the certificate names {digest}"
            )
    return len(entries)
