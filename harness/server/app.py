"""The HTTP API of the certification centre (FastAPI), and its pages (see :mod:`.pages`).

Public: ``GET /certificates`` (the page of valid certificates), ``GET /api/certificates/{id}``
(one certificate's standing: valid, revoked with its reason, or expired), ``/healthz``.
Everything else takes an API token (:mod:`.auth`): a supplier reaches its own organisation's
parts, runs and submissions only; revocation, part registration, bench records and live
runs are for lab staff. Refusals are JSON ``{"detail": reason}`` with 401 or 403.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from harness.certificate.statement import identity_digest
from harness.server import live, pages
from harness.server.auth import COOKIE, AccessDenied, Principal, authenticate
from harness.server.db import (
    BenchRow,
    CertificateRow,
    EvidenceFile,
    Organisation,
    PartRow,
    ProfileRow,
    RunRow,
    Submission,
    make_engine,
    now,
    sessions,
    utc,
)
from harness.server.intake import Intake, Refused
from harness.server.migrate import upgrade
from harness.server.store import BadBundle, BlobStore, unpack_bundle

__all__ = ["ServerConfig", "create_app"]

MAX_UPLOAD = 512 * 1024**2


@dataclass
class ServerConfig:
    db_url: str
    data_dir: Path
    trusted_keys: list[Ed25519PublicKey] = field(default_factory=list)


@dataclass
class State:
    config: ServerConfig
    sessions: Any
    store: BlobStore
    intake: Intake
    hub: live.Hub


def create_app(config: ServerConfig) -> FastAPI:
    engine = make_engine(config.db_url)
    upgrade(engine)
    factory = sessions(engine)
    store = BlobStore(config.data_dir / "blobs")
    intake = Intake(factory, store, config.data_dir / "staging", Intake.trust(config.trusted_keys))
    state = State(config, factory, store, intake, live.Hub())

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.hub.loop = asyncio.get_running_loop()
        intake.start()
        try:
            yield
        finally:
            intake.stop()
            engine.dispose()

    app = FastAPI(title="cc-harness certification centre", lifespan=lifespan)
    app.state.harness = state

    @app.exception_handler(AccessDenied)
    async def _denied(request: Request, exc: AccessDenied) -> Response:
        if request.url.path.startswith(("/dashboard",)) and exc.status == 401:
            return RedirectResponse("/login", status_code=303)
        return JSONResponse({"detail": exc.reason}, status_code=exc.status)

    _routes(app, state)
    live.routes(app, state, db_dependency, principal)
    pages.routes(app, state, db_dependency, principal)
    return app


def db_dependency(request: Request) -> Iterator[Session]:
    state: State = request.app.state.harness
    with state.sessions() as db:
        yield db


DB = Annotated[Session, Depends(db_dependency)]


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


def principal(request: Request, db: DB) -> Principal:
    return authenticate(db, _token(request))


Who = Annotated[Principal, Depends(principal)]


def certificate_json(db: Session, cert: CertificateRow) -> dict[str, Any]:
    part = db.get(PartRow, cert.part_id)
    prof = db.get(ProfileRow, cert.profile_id)
    assert part is not None and prof is not None
    expires = utc(cert.expires)
    assert expires is not None
    if cert.revoked is not None:
        standing = "revoked"
    elif expires <= now():
        standing = "expired"
    else:
        standing = "valid"
    return {
        "id": cert.id,
        "status": standing,
        "subject": cert.subject,
        "part": part.identity,
        "profile": {"id": prof.profile_id, "version": prof.version, "sha256": prof.sha256},
        "run_id": cert.run_id,
        "keyid": cert.keyid,
        "issuer_level": cert.issuer_level,
        "issued": utc(cert.issued).isoformat(),  # type: ignore[union-attr]
        "expires": expires.isoformat(),
        "revoked": utc(cert.revoked).isoformat() if cert.revoked else None,  # type: ignore[union-attr]
        "revoked_reason": cert.revoked_reason,
    }


def _part_filter(query: str | None) -> tuple[str, str] | None:
    if not query:
        return None
    key, sep, value = query.partition("=")
    if not sep or not key or not value:
        raise HTTPException(
            400, f"part: expected KEY=VALUE (e.g. serial=CCTCU0000001), got {query!r}"
        )
    return key, value


def _routes(app: FastAPI, state: State) -> None:
    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # -- intake ------------------------------------------------------------------------------
    @app.post("/api/submissions", status_code=202)
    async def submit(request: Request, db: DB, who: Who) -> dict[str, str]:
        body = await request.body()
        if len(body) > MAX_UPLOAD:
            raise HTTPException(413, f"the bundle is larger than {MAX_UPLOAD} bytes")

        def stage() -> str:
            return state.intake.submit(db, who, lambda folder: unpack_bundle(body, folder))

        try:
            sid = await asyncio.to_thread(stage)
        except BadBundle as exc:
            raise HTTPException(400, str(exc)) from None
        except Refused as exc:
            raise HTTPException(422, str(exc)) from None
        return {"id": sid, "status": "queued"}

    @app.get("/api/submissions/{sid}")
    def submission(sid: str, db: DB, who: Who) -> dict[str, Any]:
        sub = db.get(Submission, sid)
        if sub is None:
            raise HTTPException(404, f"no submission {sid}")
        who.require_organisation(sub.organisation_id, f"submission {sid}")
        return {
            "id": sub.id,
            "status": sub.status,
            "reason": sub.reason,
            "run_id": sub.run_id,
            "certificate_id": sub.certificate_id,
        }

    # -- certificates ------------------------------------------------------------------------
    @app.get("/api/certificates/{cert_id}")
    def certificate(cert_id: str, db: DB) -> dict[str, Any]:
        cert = db.get(CertificateRow, cert_id)
        if cert is None:
            raise HTTPException(404, f"no certificate {cert_id} in this registry")
        return certificate_json(db, cert)

    @app.get("/api/certificates")
    def certificates(
        db: DB, who: Who, part: str | None = None, profile: str | None = None
    ) -> list[dict[str, Any]]:
        wanted = _part_filter(part)
        rows = db.scalars(select(CertificateRow).order_by(CertificateRow.issued)).all()
        out = []
        for cert in rows:
            part_row = db.get(PartRow, cert.part_id)
            prof = db.get(ProfileRow, cert.profile_id)
            assert part_row is not None and prof is not None
            if not who.is_lab and part_row.organisation_id != who.organisation_id:
                continue
            if wanted and part_row.identity.get(wanted[0]) != wanted[1]:
                continue
            if profile and profile not in (prof.profile_id, f"{prof.profile_id}@{prof.version}"):
                continue
            out.append(certificate_json(db, cert))
        return out

    @app.post("/api/certificates/{cert_id}/revoke")
    async def revoke(cert_id: str, request: Request, db: DB, who: Who) -> dict[str, Any]:
        who.require_lab("revoking a certificate")
        try:
            reason = str((await request.json())["reason"]).strip()
        except (ValueError, KeyError, TypeError):
            reason = ""
        if not reason:
            raise HTTPException(400, 'a revocation needs a reason: {"reason": "..."}')
        cert = db.get(CertificateRow, cert_id)
        if cert is None:
            raise HTTPException(404, f"no certificate {cert_id} in this registry")
        if cert.revoked is not None:
            raise HTTPException(409, f"certificate {cert_id} is already revoked")
        cert.revoked, cert.revoked_reason, cert.revoked_by = now(), reason, who.name
        db.commit()
        return certificate_json(db, cert)

    # -- runs and evidence -------------------------------------------------------------------
    def _run(db: Session, who: Principal, run_id: str) -> RunRow:
        run = db.get(RunRow, run_id)
        if run is None:
            raise HTTPException(404, f"no run {run_id}")
        who.require_organisation(run.organisation_id, f"run {run_id}")
        return run

    @app.get("/api/runs")
    def runs(db: DB, who: Who) -> list[dict[str, Any]]:
        query = select(RunRow).order_by(RunRow.accepted)
        if not who.is_lab:
            query = query.where(RunRow.organisation_id == who.organisation_id)
        return [_run_json(db, r) for r in db.scalars(query)]

    @app.get("/api/runs/{run_id}")
    def run(run_id: str, db: DB, who: Who) -> dict[str, Any]:
        return _run_json(db, _run(db, who, run_id))

    @app.get("/api/runs/{run_id}/evidence/{path:path}")
    def evidence(run_id: str, path: str, db: DB, who: Who) -> Response:
        _run(db, who, run_id)
        row = db.scalar(
            select(EvidenceFile).where(EvidenceFile.run_id == run_id, EvidenceFile.path == path)
        )
        if row is None:
            raise HTTPException(404, f"run {run_id} has no evidence file {path}")
        return Response(state.store.get(row.sha256), media_type="application/octet-stream")

    # -- parts and benches (lab) -------------------------------------------------------------
    @app.post("/api/parts", status_code=201)
    async def add_part(request: Request, db: DB, who: Who) -> dict[str, Any]:
        who.require_lab("registering a part")
        body = await request.json()
        identity = body.get("identity") if isinstance(body, dict) else None
        if not isinstance(identity, dict) or not identity:
            raise HTTPException(400, "identity: expected an object of identity fields")
        ident = {str(k): str(v) for k, v in identity.items()}
        org = db.scalar(select(Organisation).where(Organisation.name == body.get("organisation")))
        if org is None or org.kind != "supplier":
            raise HTTPException(400, "organisation: expected the name of a supplier organisation")
        digest = identity_digest(ident)
        if db.scalar(select(PartRow).where(PartRow.identity_sha256 == digest)) is not None:
            raise HTTPException(409, "this part is already registered")
        part = PartRow(identity_sha256=digest, identity=ident, organisation_id=org.id)
        db.add(part)
        db.commit()
        return {"id": part.id, "identity": ident, "organisation": org.name}

    @app.get("/api/parts")
    def parts(db: DB, who: Who) -> list[dict[str, Any]]:
        query = select(PartRow)
        if not who.is_lab:
            query = query.where(PartRow.organisation_id == who.organisation_id)
        return [{"id": p.id, "identity": p.identity} for p in db.scalars(query)]

    @app.put("/api/benches/{name}")
    async def put_bench(name: str, request: Request, db: DB, who: Who) -> dict[str, Any]:
        who.require_lab("bench records")
        body = await request.json()
        if not isinstance(body, dict):
            raise HTTPException(400, "expected a JSON object")
        bench = db.scalar(select(BenchRow).where(BenchRow.name == name))
        if bench is None:
            bench = BenchRow(name=name, interfaces={}, location="", updated=now())
            db.add(bench)
        bench.location = str(body.get("location", bench.location))
        if isinstance(body.get("interfaces"), dict):
            bench.interfaces = body["interfaces"]
        if "qualify_sha256" in body:
            bench.qualify_sha256 = str(body["qualify_sha256"])
            bench.qualify_date = now()
        bench.updated = now()
        db.commit()
        return _bench_json(bench)

    @app.get("/api/benches")
    def benches(db: DB, who: Who) -> list[dict[str, Any]]:
        who.require_lab("bench records")
        return [_bench_json(b) for b in db.scalars(select(BenchRow))]

    @app.get("/login", response_class=HTMLResponse)
    def login_page() -> str:
        return pages.login_page()

    @app.post("/login")
    async def login(request: Request, db: DB) -> Response:
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0]
        try:
            authenticate(db, token)
        except AccessDenied as exc:
            return HTMLResponse(pages.login_page(exc.reason), status_code=401)
        response = RedirectResponse("/dashboard", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response


def _bench_json(bench: BenchRow) -> dict[str, Any]:
    qd = utc(bench.qualify_date)
    return {
        "name": bench.name,
        "location": bench.location,
        "interfaces": bench.interfaces,
        "qualify_sha256": bench.qualify_sha256,
        "qualify_date": qd.isoformat() if qd else None,
    }


def _run_json(db: Session, run: RunRow) -> dict[str, Any]:
    part = db.get(PartRow, run.part_id)
    prof = db.get(ProfileRow, run.profile_id)
    assert part is not None and prof is not None
    files = db.scalars(select(EvidenceFile).where(EvidenceFile.run_id == run.id)).all()
    bench = db.get(BenchRow, run.bench_id) if run.bench_id is not None else None
    return {
        "id": run.id,
        "status": run.status,
        "passed": run.passed,
        "requirements": run.requirements,
        "operator": run.operator,
        "bench": run.bench,
        # the lab's record of that bench as it stood: its last qualification report
        "bench_record": _bench_json(bench) if bench is not None else None,
        "part": part.identity,
        "profile": {"id": prof.profile_id, "version": prof.version, "sha256": prof.sha256},
        "mode": run.mode,
        "started": run.started,
        "ended": run.ended,
        "evidence": {
            "manifest_sha256": run.manifest_sha256,
            "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in files],
        },
    }
