"""Accounts: organisations, users, API tokens (kept only as sha256), roles.

Two roles: ``lab`` (certification centre staff: every organisation's records, revocation,
bench records, accounts) and ``supplier`` (its own organisation's parts only). A request
carries its token as ``Authorization: Bearer <token>`` or, from a browser that logged in on
``/login``, as the HttpOnly cookie ``harness_token``. The token itself is shown once, when it
is made, and never stored, logged or rendered: only its sha256 is kept, and a refusal never
repeats it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from harness.server.db import ApiToken, Organisation, User, now, utc

__all__ = [
    "COOKIE",
    "ROLES",
    "AccessDenied",
    "Principal",
    "authenticate",
    "hash_token",
    "make_organisation",
    "make_token",
    "make_user",
    "revoke_tokens",
]

ROLES = ("lab", "supplier")
COOKIE = "harness_token"
TOKEN_PREFIX = "hct_"


class AccessDenied(Exception):
    """A request refused: 401 (no or bad credentials) or 403 (not allowed)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    user_id: int
    name: str
    role: str
    organisation_id: int
    organisation: str

    @property
    def is_lab(self) -> bool:
        return self.role == "lab"

    def require_lab(self, what: str) -> None:
        if not self.is_lab:
            raise AccessDenied(403, f"{what} is for lab staff only (you are a supplier account)")

    def require_organisation(self, organisation_id: int, what: str) -> None:
        if not self.is_lab and organisation_id != self.organisation_id:
            raise AccessDenied(
                403, f"{what} belongs to another organisation than yours ({self.organisation})"
            )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def make_organisation(db: Session, name: str, kind: str) -> Organisation:
    if kind not in ("lab", "supplier"):
        raise ValueError(f"organisation kind: expected lab or supplier, but got '{kind}'")
    org = Organisation(name=name, kind=kind)
    db.add(org)
    db.flush()
    return org


def make_user(db: Session, name: str, organisation: str, role: str | None = None) -> User:
    org = db.scalar(select(Organisation).where(Organisation.name == organisation))
    if org is None:
        raise ValueError(f"no organisation named '{organisation}'")
    role = role or org.kind
    if role not in ROLES:
        raise ValueError(f"role: expected one of {', '.join(ROLES)}, but got '{role}'")
    if role == "lab" and org.kind != "lab":
        raise ValueError(f"a lab account must belong to a lab organisation, not '{org.name}'")
    user = User(name=name, role=role, organisation_id=org.id)
    db.add(user)
    db.flush()
    return user


def make_token(db: Session, user_name: str, valid: dt.timedelta | None = None) -> str:
    """A new API token for ``user_name``; only its hash is stored, so show it now or never."""
    user = db.scalar(select(User).where(User.name == user_name))
    if user is None:
        raise ValueError(f"no user named '{user_name}'")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    created = now()
    db.add(
        ApiToken(
            user_id=user.id,
            token_sha256=hash_token(token),
            created=created,
            expires=created + valid if valid is not None else None,
            revoked=False,
        )
    )
    db.flush()
    return token


def revoke_tokens(db: Session, user_name: str) -> int:
    """Revoke every API token of ``user_name`` (a leaked token, someone who left); how many."""
    user = db.scalar(select(User).where(User.name == user_name))
    if user is None:
        raise ValueError(f"no user named '{user_name}'")
    rows = db.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))
    ).all()
    for row in rows:
        row.revoked = True
    db.flush()
    return len(rows)


def authenticate(db: Session, token: str | None) -> Principal:
    """The account behind ``token``, or AccessDenied(401) saying why (never echoing it)."""
    if not token:
        raise AccessDenied(401, "no API token: send 'Authorization: Bearer <token>'")
    row = db.scalar(select(ApiToken).where(ApiToken.token_sha256 == hash_token(token)))
    if row is None:
        raise AccessDenied(401, "unknown API token")
    if row.revoked:
        raise AccessDenied(401, "this API token was revoked")
    expires = utc(row.expires)
    if expires is not None and expires <= now():
        raise AccessDenied(401, f"this API token expired on {expires.isoformat()}")
    user = db.get(User, row.user_id)
    assert user is not None
    org = db.get(Organisation, user.organisation_id)
    assert org is not None
    return Principal(user.id, user.name, user.role, org.id, org.name)
