"""Issuing a certificate at the end of ``harness certify --key KEY``.

A certificate is issued only for a run that completed with every mandatory case passed,
and only over a sealed evidence folder that matches its manifest. The issuer signs, then
verifies what it signed against the folder before writing ``certificate.dsse.json``
(atomically): a certificate the harness writes is one ``harness verify`` accepts.
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.certificate.issue_options import (  # re-exported: the issue's options
    DEFAULT_VALIDITY_DAYS,
    ISSUE_OPTIONS,
    add_issue_options,
)
from harness.certificate.statement import build_statement
from harness.errors import HarnessError
from harness.evidence import CERTIFICATE_FILE
from harness.record import RunRecord, RunStatus, Verdict

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from harness.bench import Bench
    from harness.plan import Plan

__all__ = [
    "DEFAULT_VALIDITY_DAYS",
    "ISSUE_OPTIONS",
    "Issuer",
    "add_issue_options",
    "issue_certificate",
    "why_no_certificate",
]


@dataclass(frozen=True)
class Issuer:
    """The signing key and the terms of the certificates it issues."""

    key: Ed25519PrivateKey
    level: str = "supplier"
    validity: dt.timedelta = dt.timedelta(days=DEFAULT_VALIDITY_DAYS)

    @property
    def keyid(self) -> str:
        from harness.certificate.keys import keyid

        return keyid(self.key.public_key())

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Issuer | None:
        """None without ``--key``; the key is loaded now, so a bad one fails before the run."""
        if getattr(args, "key", None) is None:
            return None
        from harness.certificate.keys import load_private_key

        return cls(
            key=load_private_key(args.key),
            level=args.issuer_level,
            validity=dt.timedelta(days=args.validity),
        )


def why_no_certificate(record: RunRecord, plan: Plan | None = None) -> str | None:
    """None when ``record`` may be certified, else why not (one line). With the run's
    ``plan``, an identity that is not complete says which items to declare."""
    if record.status is RunStatus.ABORTED:
        return "the run was aborted"
    if record.status is not RunStatus.COMPLETED:
        detail = f": {record.error}" if record.error else ""
        return f"the run did not complete (status {record.status.value}{detail})"
    if record.selection is not None:
        chosen = ", ".join(record.selection) or "none of the profile's cases"
        return (
            f"only the chosen case(s) {chosen} were run (--case or a test selection); "
            "a certificate covers a whole profile"
        )
    failed = [
        c.case_id
        for c in record.cases
        if c.mandatory and c.verdict not in (Verdict.PASS, Verdict.NOT_APPLICABLE)
    ]
    if failed:
        return f"mandatory case(s) did not pass: {', '.join(failed)}"
    if not any(v is Verdict.PASS for v in record.requirement_verdicts().values()):
        return "no requirement was claimed: no case applied to the part and passed"
    return _identity_gap(record, plan)


def _identity_gap(record: RunRecord, plan: Plan | None) -> str | None:
    """Why the part's identity cannot name the certificate's subject, or None."""
    from harness.identity import identity_gap

    if plan is not None:
        from harness.profile.compile_diag import identity_fields

        gap = identity_gap(identity_fields(plan.profile), record.identity, plan.profile_id)
        if gap is not None:
            return gap
    if not record.identity or record.identity_subject not in record.identity:
        return (
            "the run recorded no identity of the part: declare its items in the profile's "
            "identity section (with the DIDs the part answers), or give those without a DID "
            "with --identity NAME=VALUE or the bench's dut.identity"
        )
    return None


def issue_certificate(
    issuer: Issuer,
    record: RunRecord,
    plan: Plan,
    bench: Bench,
    out_dir: Path,
    *,
    now: dt.datetime | None = None,
) -> Path:
    """Sign and write the certificate of a passing run into its sealed evidence folder."""
    from harness.canonical import canonical_json
    from harness.certificate.dsse import sign_envelope
    from harness.certificate.verify import verify_certificate
    from harness.evidence import (
        MANIFEST_FILE,
        check_bundle,
        file_sha256,
        verify_manifest,
        write_bytes_atomic,
    )

    reason = why_no_certificate(record, plan)
    if reason is not None or not record.passed:
        raise HarnessError(f"no certificate may be issued: {reason or 'the run did not pass'}")
    run = check_bundle(out_dir, accept=("COMPLETED",))
    if run.get("run_id") != record.run_id:
        raise HarnessError(f"{out_dir} holds run {run.get('run_id')}, not run {record.run_id}")
    verify_manifest(out_dir)  # sign only for a folder that matches its own manifest
    manifest_sha256, _ = file_sha256(out_dir / MANIFEST_FILE)
    issued = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    requirements = plan.profile.profile.requirements
    statement = build_statement(
        record,
        bench,
        dbc_name=plan.dbc_name,
        requirement_set={"id": requirements.id, "version": requirements.version},
        manifest_sha256=manifest_sha256,
        issuer_level=issuer.level,
        issued=issued,
        expires=issued + issuer.validity,
    )
    envelope = sign_envelope(canonical_json(statement), issuer.key)
    verify_certificate(envelope, issuer.key.public_key(), now=issued, evidence=out_dir)
    path = out_dir / CERTIFICATE_FILE
    write_bytes_atomic(path, envelope)
    return path
