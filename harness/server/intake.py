"""Evidence intake: a submitted bundle is checked in full before anything of it is kept.

A worker thread takes each queued submission and checks, in order: the folder is complete
and sealed (its manifest matches every file, none added or missing); its certificate verifies
against a key the server trusts, over exactly this evidence; the part is registered to the
submitter's organisation; and every verdict recomputed offline from the trace and the
profile (as ``harness evaluate`` does) agrees with ``run.json``. Only then does one database
transaction add the profile, run, evidence files and certificate, and the files go into the
content-addressed store. A refused submission keeps only its reason: nothing of it enters
the registry.
"""

from __future__ import annotations

import json
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from harness.canonical import JsonRejected, strict_loads
from harness.certificate.keys import keyid
from harness.certificate.statement import identity_digest, parse_time
from harness.certificate.verify import Verified, verify_certificate
from harness.errors import HarnessError
from harness.evidence import CERTIFICATE_FILE, RUN_FILE, check_bundle, verify_manifest
from harness.offline import evaluate_evidence, load_evidence, summarize
from harness.server.auth import AccessDenied, Principal
from harness.server.db import (
    BenchRow,
    CertificateRow,
    EvidenceFile,
    PartRow,
    ProfileRow,
    RunRow,
    Submission,
    User,
    now,
)
from harness.server.store import BlobStore

__all__ = ["Intake", "Refused", "part_of_bundle"]


class Refused(Exception):
    """The bundle is not accepted; the message says why."""


def _run_record(folder: Path) -> dict[str, Any]:
    try:
        record = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Refused(f"the bundle has no readable {RUN_FILE} ({exc})") from None
    if not isinstance(record, dict):
        raise Refused(f"the bundle's {RUN_FILE} is not a run record")
    return record


def part_of_bundle(db: Session, folder: Path, who: Principal) -> PartRow:
    """The registered part the bundle's run identified, which ``who`` may submit for."""
    identity = _run_record(folder).get("identity")
    if not isinstance(identity, dict) or not identity:
        raise Refused(
            "the run did not read the part's identity (run.json has no identity): the "
            "registry keeps runs of identified parts only"
        )
    ident = {str(k): str(v) for k, v in identity.items()}
    part = db.scalar(select(PartRow).where(PartRow.identity_sha256 == identity_digest(ident)))
    shown = ", ".join(f"{k}={v}" for k, v in sorted(ident.items()))
    if part is None:
        raise Refused(
            f"the part ({shown}) is not registered: lab staff register it to its supplier "
            "first (POST /api/parts)"
        )
    try:
        who.require_organisation(part.organisation_id, f"the part ({shown})")
    except AccessDenied as exc:
        raise AccessDenied(403, exc.reason) from None
    return part


@dataclass
class Checked:
    record: dict[str, Any]
    verified: Verified
    certificate: bytes
    checks: int


def check_bundle_fully(folder: Path, trusted: Mapping[str, Ed25519PublicKey]) -> Checked:
    """Every check of intake but the database's; Refused with the first reason found."""
    try:
        check_bundle(folder, accept=("COMPLETED",))
        verify_manifest(folder)
    except HarnessError as exc:
        raise Refused(f"evidence: {exc}") from None
    cert_path = folder / CERTIFICATE_FILE
    if not cert_path.is_file():
        raise Refused(f"the bundle has no {CERTIFICATE_FILE}: only certified runs are accepted")
    data = cert_path.read_bytes()
    try:
        envelope = strict_loads(data)
        signer = str(envelope["signatures"][0]["keyid"])
    except (JsonRejected, KeyError, IndexError, TypeError) as exc:
        raise Refused(f"certificate: not a DSSE envelope ({exc})") from None
    key = trusted.get(signer)
    if key is None:
        raise Refused(f"certificate: signed by keyid {signer}, which this registry does not trust")
    try:
        verified = verify_certificate(data, key, now=now(), evidence=folder)
    except HarnessError as exc:
        raise Refused(f"certificate: {exc}") from None
    try:
        evaluation = evaluate_evidence(load_evidence(folder))
    except HarnessError as exc:
        raise Refused(f"re-evaluation: {exc}") from None
    if not evaluation.agrees:
        lines = summarize(evaluation)
        more = f" (and {len(lines) - 5} more)" if len(lines) > 5 else ""
        raise Refused(
            "re-evaluation: the evidence does not give the verdicts run.json claims: "
            + "; ".join(lines[:5])
            + more
        )
    return Checked(_run_record(folder), verified, data, evaluation.checks)


class Intake:
    """The submissions queue and its worker thread."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: BlobStore,
        staging: Path,
        trusted: Mapping[str, Ed25519PublicKey],
        on_done: Callable[[str], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.staging = staging
        self.trusted = dict(trusted)
        self.on_done = on_done
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="intake", daemon=True)
        staging.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def trust(keys: list[Ed25519PublicKey]) -> dict[str, Ed25519PublicKey]:
        return {keyid(k): k for k in keys}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def folder(self, submission_id: str) -> Path:
        return self.staging / submission_id

    def submit(self, db: Session, who: Principal, folder_of: Callable[[Path], None]) -> str:
        """Stage an upload (``folder_of`` unpacks it), check who may submit it, queue it."""
        sid = uuid.uuid4().hex
        folder = self.folder(sid)
        try:
            folder_of(folder)
            part = part_of_bundle(db, folder, who)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        db.add(
            Submission(
                id=sid,
                status="queued",
                user_id=who.user_id,
                organisation_id=part.organisation_id,
                created=now(),
            )
        )
        db.commit()
        self._queue.put(sid)
        return sid

    def _work(self) -> None:
        while True:
            sid = self._queue.get()
            if sid is None:
                return
            try:
                self._process(sid)
            finally:
                shutil.rmtree(self.folder(sid), ignore_errors=True)
                if self.on_done is not None:
                    self.on_done(sid)

    def _finish(self, sid: str, status: str, reason: str | None, **fields: Any) -> None:
        with self.sessions() as db:
            sub = db.get(Submission, sid)
            assert sub is not None
            sub.status, sub.reason, sub.finished = status, reason, now()
            for k, v in fields.items():
                setattr(sub, k, v)
            db.commit()

    def _process(self, sid: str) -> None:
        with self.sessions() as db:
            sub = db.get(Submission, sid)
            assert sub is not None
            sub.status = "checking"
            db.commit()
        folder = self.folder(sid)
        started = time.perf_counter()
        try:
            checked = check_bundle_fully(folder, self.trusted)
            run_id, cert_id = self._register(sid, folder, checked)
        except Refused as exc:
            self._finish(sid, "refused", str(exc))
            return
        except AccessDenied as exc:
            self._finish(sid, "refused", exc.reason)
            return
        except Exception as exc:  # a bug must refuse, never accept, and say so
            self._finish(sid, "refused", f"internal error while checking: {type(exc).__name__}")
            raise
        self._finish(
            sid,
            "accepted",
            f"{checked.checks} checks re-evaluated in {time.perf_counter() - started:.2f} s",
            run_id=run_id,
            certificate_id=cert_id,
        )

    def _register(self, sid: str, folder: Path, checked: Checked) -> tuple[str, str]:
        record, predicate = checked.record, checked.verified.predicate
        with self.sessions() as db:
            sub = db.get(Submission, sid)
            assert sub is not None
            user = db.get(User, sub.user_id)
            assert user is not None
            who = Principal(user.id, user.name, user.role, sub.organisation_id, "")
            part = part_of_bundle(db, folder, who)
            run_id = str(record["run_id"])
            if db.get(RunRow, run_id) is not None:
                raise Refused(f"run {run_id} is already in the registry")
            prof = record["profile"]
            profile = db.scalar(select(ProfileRow).where(ProfileRow.sha256 == prof["sha256"]))
            if profile is None:
                profile = ProfileRow(
                    profile_id=prof["id"], version=prof["version"], sha256=prof["sha256"]
                )
                db.add(profile)
                db.flush()
            bench_desc = record.get("bench") or {}
            bench = db.scalar(select(BenchRow).where(BenchRow.name == bench_desc.get("name")))
            manifest_sha = predicate["evidence"]["manifest_sha256"]
            db.add(
                RunRow(
                    id=run_id,
                    status=record["status"],
                    passed=bool(record["passed"]),
                    requirements=record["requirements"],
                    operator=user.name,
                    bench=bench_desc,
                    bench_id=bench.id if bench else None,
                    part_id=part.id,
                    profile_id=profile.id,
                    mode=record["mode"],
                    started=record.get("started") or "",
                    ended=record.get("ended"),
                    manifest_sha256=manifest_sha,
                    organisation_id=part.organisation_id,
                    accepted=now(),
                )
            )
            db.flush()
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                digest, size = self.store.put_file(path)
                db.add(
                    EvidenceFile(
                        run_id=run_id,
                        path=path.relative_to(folder).as_posix(),
                        sha256=digest,
                        size=size,
                    )
                )
            cert_id = self.store.put_bytes(checked.certificate)
            db.add(
                CertificateRow(
                    id=cert_id,
                    run_id=run_id,
                    part_id=part.id,
                    profile_id=profile.id,
                    subject=str(checked.verified.statement["subject"][0]["name"]),
                    keyid=checked.verified.keyid,
                    issuer_level=str(predicate["issuer"]["level"]),
                    issued=parse_time(predicate["issued"], "issued"),
                    expires=parse_time(predicate["expires"], "expires"),
                    revoked=None,
                    revoked_reason=None,
                    revoked_by=None,
                )
            )
            db.commit()
            return run_id, cert_id
