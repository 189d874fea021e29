"""A diagnostic step as compiled: what the tester sends and how long it waits (pure data)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DiagPlan"]


@dataclass(frozen=True)
class DiagPlan:
    """One ``diag``, ``security_access`` or ``read_dtcs`` step, resolved.

    ``payload`` is the request (for ``security_access`` the requestSeed); ``data_identity``
    names an identity item (read at the start of the run) whose bytes are appended to it.
    """

    kind: str  # "request", "security" or "dtcs"
    payload: bytes
    functional: bool = False
    expect_response: bool = True
    timeout: float = 1.0
    data_identity: str | None = None
    level: int = 1
    algorithm: str = ""
    key: str = "correct"
    already_unlocked: bool = False
