"""The registry's tables (SQLAlchemy 2 ORM) and the engine.

Every table is made by the Alembic migrations in ``migrations/`` (see :mod:`.migrate`); the
models here are what the application reads and writes. Times are UTC, stored timezone-aware
where the database can (PostgreSQL) and naive UTC on SQLite; :func:`utc` reads both alike.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

__all__ = [
    "ApiToken",
    "Base",
    "BenchRow",
    "CertificateRow",
    "EvidenceFile",
    "LiveEvent",
    "LiveRun",
    "Organisation",
    "PartRow",
    "ProfileRow",
    "PromptRow",
    "RunRow",
    "Submission",
    "User",
    "make_engine",
    "now",
    "utc",
]

DEFAULT_URL = "sqlite:///harness-registry.db"


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """A stored time as an aware UTC datetime (SQLite gives them back naive)."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
    }


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # lab | supplier


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # lab | supplier
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))


class ApiToken(Base):
    """Only the token's sha256 is kept; the token itself is shown once, when made."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[dt.datetime]
    expires: Mapped[dt.datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class BenchRow(Base):
    __tablename__ = "benches"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    location: Mapped[str] = mapped_column(String(200), default="")
    interfaces: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    qualify_sha256: Mapped[str | None] = mapped_column(String(64))
    qualify_date: Mapped[dt.datetime | None]
    updated: Mapped[dt.datetime]


class PartRow(Base):
    """A part as it identified itself (the identity DIDs read from it), owned by one
    supplier organisation."""

    __tablename__ = "parts"
    id: Mapped[int] = mapped_column(primary_key=True)
    identity_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    identity: Mapped[dict[str, Any]] = mapped_column(JSON)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))


class ProfileRow(Base):
    __tablename__ = "profiles"
    id: Mapped[int] = mapped_column(primary_key=True)
    profile_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)


class RunRow(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the run id of run.json
    status: Mapped[str] = mapped_column(String(20))
    passed: Mapped[bool] = mapped_column(Boolean)
    requirements: Mapped[dict[str, Any]] = mapped_column(JSON)
    operator: Mapped[str] = mapped_column(String(200))  # who submitted or ran it
    bench: Mapped[dict[str, Any]] = mapped_column(JSON)
    bench_id: Mapped[int | None] = mapped_column(ForeignKey("benches.id"))
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"))
    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id"))
    mode: Mapped[str] = mapped_column(String(20))
    started: Mapped[str] = mapped_column(String(40))
    ended: Mapped[str | None] = mapped_column(String(40))
    manifest_sha256: Mapped[str] = mapped_column(String(64))  # where the evidence is
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    accepted: Mapped[dt.datetime]


class EvidenceFile(Base):
    __tablename__ = "evidence_files"
    __table_args__ = (UniqueConstraint("run_id", "path"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    path: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)


class CertificateRow(Base):
    __tablename__ = "certificates"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of its bytes
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"))
    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id"))
    subject: Mapped[str] = mapped_column(String(200))
    keyid: Mapped[str] = mapped_column(String(64))
    issuer_level: Mapped[str] = mapped_column(String(40))
    issued: Mapped[dt.datetime]
    expires: Mapped[dt.datetime]
    revoked: Mapped[dt.datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    revoked_by: Mapped[str | None] = mapped_column(String(200))


class Submission(Base):
    """One upload and what intake made of it: accepted (with its run) or refused (why)."""

    __tablename__ = "submissions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))  # queued | checking | accepted | refused
    reason: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    created: Mapped[dt.datetime]
    finished: Mapped[dt.datetime | None]
    run_id: Mapped[str | None] = mapped_column(String(64))
    certificate_id: Mapped[str | None] = mapped_column(String(64))


class LiveRun(Base):
    """A run streaming its events to the dashboard as it goes."""

    __tablename__ = "live_runs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    bench: Mapped[str] = mapped_column(String(200))
    profile: Mapped[str] = mapped_column(String(200))
    operator: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    started: Mapped[dt.datetime]
    updated: Mapped[dt.datetime]


class LiveEvent(Base):
    __tablename__ = "live_events"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("live_runs.id"))
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    received: Mapped[dt.datetime]


class PromptRow(Base):
    """An operator prompt of a live run, waiting for (or holding) its answer."""

    __tablename__ = "prompts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("live_runs.id"))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    answered_by: Mapped[str | None] = mapped_column(String(200))
    answered: Mapped[dt.datetime | None]


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys on and a busy timeout (threads share it)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def sessions(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)
