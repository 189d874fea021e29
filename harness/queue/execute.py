"""Carrying out one queued run on this bench: the same :class:`~harness.session.Session` as
``harness certify``, writing its evidence folder under the worker's evidence root.

Every attempt gets a folder of its own (``<root>/<request id>/<bench>-<attempt>``): when a
worker dies mid-run and the request is delivered again, the dead attempt's ``run.json`` still
says ``RUNNING`` (the process died: never a pass) beside the attempt that finished.
"""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.bench import Bench, load_bench
from harness.errors import HarnessError, InputError
from harness.queue.model import Capabilities, RunRequest

__all__ = ["Station", "execute"]


@dataclass(frozen=True)
class Station:
    """This bench as a worker sees it: its name, bench file, capabilities, evidence root."""

    name: str
    bench: Bench
    caps: Capabilities
    evidence: Path

    @classmethod
    def from_options(
        cls,
        bench_file: Path | None,
        evidence: Path,
        *,
        name: str | None = None,
        fd: bool = False,
        buses: int = 1,
    ) -> Station:
        bench = load_bench(bench_file)
        caps = Capabilities(bench.can.interface, fd, buses)
        label = name or bench.name or socket.gethostname()
        return cls(label, bench, caps, evidence)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "host": socket.gethostname(), **self.caps.to_json()}


def execute(request: RunRequest, station: Station) -> dict[str, Any]:
    """Run ``request`` here; its outcome as JSON. A request this bench cannot or may not run
    (needs it does not meet, a profile that changed since it was queued) is REFUSED."""
    from harness.profile.compile import load_profile
    from harness.session import DutChoice, Session

    started = time.perf_counter()
    outcome: dict[str, Any] = {
        "request_id": request.request_id,
        "bench": station.describe(),
        "needs": request.needs.to_json(),
        "pid": os.getpid(),
    }
    try:
        if not station.caps.meets(request.needs):
            raise InputError(
                f"bench {station.name} ({station.caps.describe()}) does not meet the request's "
                f"needs {request.needs.to_json()}"
            )
        plan = load_profile(request.profile)
        if plan.digest != request.digest:
            raise InputError(
                f"{request.profile} on bench {station.name} is not the profile that was queued",
                expected=f"sha256 {request.digest}",
                got=plan.digest,
            )
        known = {c.case_id for c in plan.cases}
        unknown = [c for c in request.cases if c not in known]
        if unknown:
            raise InputError(f"no such case in {plan.profile_id}: {', '.join(unknown)}")
        cases = [c for c in plan.cases if c.case_id in set(request.cases)] or None
        dut = DutChoice.parse(request.dut)
    except HarnessError as exc:
        return {**outcome, "status": "REFUSED", "passed": False, "error": str(exc)}
    folder = f"{re.sub(r'[^A-Za-z0-9._-]+', '-', station.name)}-{uuid.uuid4().hex[:8]}"
    out_dir = station.evidence / request.request_id / folder
    session = Session(
        plan,
        station.bench,
        dut,
        realtime=request.realtime or dut.kind == "external",
        out_dir=out_dir,
        seed=request.seed,
    )
    try:
        with session:
            session.run_all(cases)
    except (KeyboardInterrupt, Exception):  # the record says how the run ended, and why
        pass
    record = session.record
    return {
        **outcome,
        "status": record.status.value,
        "passed": record.passed,
        "error": record.error,
        "run_id": record.run_id,
        "verdicts": {c.case_id: c.verdict.value for c in record.cases},
        "evidence": str(out_dir),
        "seconds": round(time.perf_counter() - started, 3),
    }
