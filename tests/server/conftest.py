"""A real certification centre per test: ``harness serve`` under uvicorn on a free port,
on a fresh SQLite file or a fresh PostgreSQL database (the ``db_url`` fixture runs every
test against both), with a lab, two suppliers and their API tokens.

The PostgreSQL lane uses the cluster ``.ci/run`` started (``HARNESS_TEST_PG_URL``); without
it, one of its own from Debian's binaries (``tests/server/pg.py``); without those it fails.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from harness.certificate.statement import identity_digest
from harness.server.auth import make_organisation, make_token, make_user
from harness.server.db import PartRow, make_engine, sessions
from harness.server.migrate import upgrade
from tests.conftest import PROFILE, ROOT, run_harness
from tests.ports import free_tcp_port
from tests.server.pg import start_cluster, stop_cluster

REFERENCE_IDENTITY = {
    "vin": "KMHCC00TCU1000001",
    "sw_version": "CCTCU-1.0.0",
    "serial": "CCTCU0000001",
    "station_id": "0C0FFEE1",
}


@pytest.fixture(scope="session")
def pg_base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("HARNESS_TEST_PG_URL")
    if url:
        yield url
        return
    where = Path(tempfile.mkdtemp(prefix="harness-pg-"))  # reachable by the postgres user
    try:
        url = start_cluster(where)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(where, ignore_errors=True)
        detail = getattr(exc, "stderr", b"") or b""
        pytest.fail(f"the PostgreSQL lane needs a cluster: {exc} {detail.decode(errors='replace')}")
    yield url
    stop_cluster(where)
    shutil.rmtree(where, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    base = request.getfixturevalue("pg_base_url")
    name = "t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield base.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def issuer_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    prefix = tmp_path_factory.mktemp("keys") / "lab"
    result = run_harness(["keys", "generate", "--out", str(prefix)])
    assert result.returncode == 0, result.stderr
    return prefix


@pytest.fixture(scope="session")
def passing_bundle(tmp_path_factory: pytest.TempPathFactory, issuer_keys: Path) -> Path:
    """The reference profile certified against the simulator, with a certificate."""
    out = tmp_path_factory.mktemp("bundle") / "run"
    result = run_harness(
        ["certify", str(PROFILE), "--out", str(out), "--quiet", "--key", f"{issuer_keys}.key"]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@dataclass
class Centre:
    url: str
    db_url: str
    data: Path
    keys: Path
    tokens: dict[str, str] = field(default_factory=dict)
    log: Path | None = None

    def client(self, who: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def harness(self, args: list[str], who: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, COLUMNS="200")
        env.pop("HARNESS_TOKEN", None)
        if who:
            env["HARNESS_TOKEN"] = self.tokens[who]
        return subprocess.run(
            [sys.executable, "-m", "harness.cli", *args],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=ROOT,
            env=env,
        )

    def register_part(self, identity: dict[str, str], organisation: str = "Acme") -> None:
        with self.client("lab") as c:
            r = c.post("/api/parts", json={"identity": identity, "organisation": organisation})
            assert r.status_code == 201, r.text

    def registry_rows(self) -> dict[str, int]:
        engine = make_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return {
                    t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
                    for t in ("runs", "certificates", "evidence_files", "profiles")
                }
        finally:
            engine.dispose()

    def blobs(self) -> list[Path]:
        return sorted(p for p in (self.data / "blobs").rglob("*") if p.is_file())


def _accounts(db_url: str) -> dict[str, str]:
    engine = make_engine(db_url)
    upgrade(engine)
    with sessions(engine)() as db:
        make_organisation(db, "Test Lab", "lab")
        make_organisation(db, "Acme", "supplier")
        make_organisation(db, "Other Motors", "supplier")
        make_user(db, "alice", "Test Lab")
        make_user(db, "sam", "Acme")
        make_user(db, "olga", "Other Motors")
        tokens = {
            "lab": make_token(db, "alice", dt.timedelta(days=1)),
            "acme": make_token(db, "sam"),
            "other": make_token(db, "olga"),
            "expired": make_token(db, "sam", dt.timedelta(seconds=-1)),
        }
        db.commit()
    engine.dispose()
    return tokens


def start_server(db_url: str, data: Path, keys: Path, log: Path) -> subprocess.Popen[bytes]:
    port = free_tcp_port()  # this xdist worker's own block (tests/ports.py)
    cmd = [
        sys.executable, "-m", "harness.cli", "serve", "--db", db_url, "--data", str(data),
        "--port", str(port), "--trust-key", f"{keys}.pub",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"harness serve exited {proc.returncode}: {log.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                proc.url = url  # type: ignore[attr-defined]
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.terminate()
    raise AssertionError(f"harness serve did not come up: {log.read_text()}")


@pytest.fixture
def centre(db_url: str, tmp_path: Path, issuer_keys: Path) -> Iterator[Centre]:
    tokens = _accounts(db_url)
    data = tmp_path / "data"
    log = tmp_path / "serve.log"
    proc = start_server(db_url, data, issuer_keys, log)
    c = Centre(proc.url, db_url, data, issuer_keys, tokens, log)  # type: ignore[attr-defined]
    try:
        yield c
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        text = log.read_text(errors="replace")
        for name, token in tokens.items():  # no secret in the server's log
            assert token not in text, f"the {name} token appears in the server log"


def copy_bundle(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("report"))
    return dest


def part_row_count(db_url: str) -> int:
    engine = make_engine(db_url)
    with sessions(engine)() as db:
        n = len(db.scalars(sa.select(PartRow)).all())
    engine.dispose()
    return n


__all__ = ["REFERENCE_IDENTITY", "Centre", "copy_bundle", "identity_digest", "part_row_count"]
