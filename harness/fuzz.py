"""Seeds and records of the fuzz steps (CAN frames, remote commands, diagnostic requests).

A fuzz step is only worth its findings if a finding replays exactly. Every fuzz step draws
from its own :class:`random.Random`, seeded either by the step (``seed: 42`` in the profile,
the same stimulus on every run) or, when the step names none, from the run's seed: ``harness
certify --seed N`` (by default a fresh random seed, printed and written to ``run.json``).
A step's seed is derived from the run seed, its case's id and its place in the case, so it
does not change when other cases are added, removed or selected with ``--case``.

Each fuzz step leaves a :class:`FuzzRecord` in its case's record: the seed it used, how much
it sent, and its findings (for the CAN fuzzer: where the part went silent and the frames sent
just before). Replaying with the recorded run seed, or with ``seed:`` set to the step's
recorded seed, sends the same stimulus in the same order at the same offsets.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FuzzContext", "FuzzRecord", "derive_seed", "new_run_seed"]

SEED_BITS = 32
MAX_FINDINGS = 20  # per step; a part that keeps failing need not fill run.json
_CASE_PREFIX = re.compile(r"^cases\[\d+\]\.")


def new_run_seed() -> int:
    """A fresh run seed (32 bits: short enough to type after ``--seed``)."""
    return secrets.randbits(SEED_BITS)


def derive_seed(run_seed: int, case_id: str, step_path: str) -> int:
    """The seed of a step in a run seeded ``run_seed`` (32 bits).

    It depends on the case's id and the step's place within the case (``steps[2]``), not on
    the case's position in the profile, so selecting cases does not change it.
    """
    local = _CASE_PREFIX.sub("", step_path)
    key = f"cc-harness-fuzz/1:{run_seed}:{case_id}:{local}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")


@dataclass
class FuzzRecord:
    """What one fuzz step did: its seed, its volume, and what it found (JSON-ready)."""

    step: str  # the step's place in the profile, e.g. cases[12].steps[0]
    kind: str  # "can", "command", "diag"
    seed: int
    started: float  # bus time of the first stimulus
    sent: int = 0
    ended: float | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # kind-specific counts

    def add_finding(self, finding: Mapping[str, Any]) -> bool:
        """Keep ``finding`` (it must carry a one-line ``summary``); False once full."""
        if len(self.findings) >= MAX_FINDINGS:
            self.details["findings_dropped"] = self.details.get("findings_dropped", 0) + 1
            return False
        self.findings.append(dict(finding))
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "kind": self.kind,
            "seed": self.seed,
            "started": round(self.started, 6),
            "ended": None if self.ended is None else round(self.ended, 6),
            "sent": self.sent,
            "details": dict(self.details),
            "findings": list(self.findings),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FuzzRecord:
        ended = data.get("ended")
        return cls(
            step=str(data["step"]),
            kind=str(data["kind"]),
            seed=int(data["seed"]),
            started=float(data["started"]),
            sent=int(data.get("sent", 0)),
            ended=None if ended is None else float(ended),
            findings=[dict(f) for f in data.get("findings", [])],
            details=dict(data.get("details", {})),
        )


class FuzzContext:
    """The run's seed and the fuzz records of the case being run (one per run)."""

    def __init__(self, run_seed: int | None = None) -> None:
        self.run_seed = new_run_seed() if run_seed is None else run_seed
        self.case_id = ""
        self._records: list[FuzzRecord] = []

    def seed_for(self, step_path: str, fixed: int | None) -> int:
        """The step's own ``seed:`` if it has one, else one derived from the run seed."""
        if fixed is not None:
            return fixed
        return derive_seed(self.run_seed, self.case_id, step_path)

    def begin_case(self, case_id: str) -> None:
        self.case_id = case_id
        self._records = []

    def start(self, step_path: str, kind: str, seed: int, now: float) -> FuzzRecord:
        """A new record for a fuzz step starting at bus time ``now``."""
        record = FuzzRecord(step=step_path, kind=kind, seed=seed, started=now)
        self._records.append(record)
        return record

    def take(self) -> tuple[FuzzRecord, ...]:
        """The case's records (the case is over); the context is ready for the next one."""
        records, self._records = tuple(self._records), []
        return records
