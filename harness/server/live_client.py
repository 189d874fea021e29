"""A run that names a server: its events stream to the dashboard, its prompts are asked there.

:class:`LiveStream` is a :class:`~harness.runner.RunObserver`: it registers the run with the
server, then posts case started, step started and case finished (with every check's verdict,
measurements, and the case's section of the HTML report, plots included) as they happen. A
sender thread posts them in order, so the run never waits on the network; a server that goes
away costs the dashboard its view, never the run its evidence (one warning, then quiet).
:class:`DashboardOperator` asks prompt steps on the dashboard and waits for the answer.
"""

from __future__ import annotations

import base64
import mimetypes
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

import httpx

from harness.operator import Answer, PromptPlan, plain
from harness.record import CaseRecord, RunRecord
from harness.runner import RunObserver

if TYPE_CHECKING:
    from harness.plan import PlannedCase, PlannedStep
    from harness.session import Session

__all__ = ["DashboardOperator", "LiveStream"]


class LiveStream(RunObserver):
    def __init__(self, url: str, token: str, warn: Any = None) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.warn = warn
        self.session: Session | None = None
        self.run_id: str | None = None
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._send_all, name="live-stream", daemon=True)
        self._failed = False

    def start(self, session: Session, total: int) -> None:
        """Register the run (synchronously: a refused token stops the run before it starts)."""
        self.session = session
        self.run_id = session.run_id
        record = session.record
        from harness.server.client import RegistryError

        try:
            response = self.http.post(
                "/api/live/runs",
                json={
                    "id": self.run_id,
                    "bench": str(record.bench.get("name") or "bench"),
                    "profile": f"{record.profile_id} {record.profile_version}",
                    "total": total,
                },
            )
        except httpx.HTTPError as exc:
            raise RegistryError(f"the server {self.url} is unreachable: {exc}") from None
        if response.status_code != 201:
            detail = response.json().get("detail") if response.content else ""
            raise RegistryError(
                f"the server {self.url} refused the live run ({response.status_code}): {detail}"
            )
        self._thread.start()

    def _send_all(self) -> None:
        done = False
        while not done:
            batch = [self._queue.get()]
            while not self._queue.empty():  # what piled up while the last post was out
                batch.append(self._queue.get_nowait())
            done = None in batch
            events = [{"kind": k, "data": d} for k, d in (i for i in batch if i is not None)]
            if self._failed or not events:
                continue
            try:
                r = self.http.post(f"/api/live/runs/{self.run_id}/events", json={"events": events})
                r.raise_for_status()
            except httpx.HTTPError as exc:
                self._failed = True
                if self.warn is not None:
                    self.warn(f"live dashboard: stopped streaming ({type(exc).__name__}: {exc})")

    def post(self, kind: str, data: dict[str, Any]) -> None:
        if self.run_id is not None:
            self._queue.put((kind, {**data, "sent": time.time()}))

    # -- RunObserver ---------------------------------------------------------------------------
    def case_started(self, case: PlannedCase, index: int, total: int) -> None:
        self.post(
            "case_started",
            {"case_id": case.case_id, "title": case.title, "index": index, "total": total},
        )

    def step_started(self, case: PlannedCase, step: PlannedStep) -> None:
        self.post(
            "step_started", {"case_id": case.case_id, "step": step.path, "action": step.action}
        )

    def case_finished(self, record: CaseRecord) -> None:
        self.post(
            "case_finished",
            {
                "case_id": record.case_id,
                "verdict": record.verdict.value,
                "checks": [c.to_json() for c in record.checks],
                "error": record.error,
                "html": self._section(record),
            },
        )

    def _section(self, record: CaseRecord) -> str:
        """The case's section of the HTML report, with the plots it draws."""
        if self.session is None:
            return ""
        try:
            from harness.offline import matched_checks
            from harness.report.html import _case as case_section

            plan = self.session.plan
            checks = matched_checks(plan, record)
            return case_section(record, checks, self.session.log, plan.bitrate)
        except Exception as exc:  # a plot must not cost the run
            return f"<p>(no plots: {type(exc).__name__})</p>"

    def finish(self, record: RunRecord) -> None:
        """Post the end of the run and wait (briefly) until every event is sent."""
        if self.run_id is None:
            return
        self.post("run_finished", {"status": record.status.value, "passed": record.passed})
        self._queue.put(None)
        self._thread.join(timeout=30)
        self.http.close()


class DashboardOperator:
    """Asks prompt steps on the dashboard of the run's server and waits for the answer."""

    def __init__(self, stream: LiveStream, poll: float = 0.1) -> None:
        self.stream = stream
        self.poll = poll

    def ask(self, plan: PromptPlan, timeout: float) -> Answer:
        http = self.stream.http
        prompt_id = f"{self.stream.run_id}-{plan.key}".replace("/", "-")
        spec = dict(plan.spec)
        spec["key"] = plan.key
        if plan.image is not None:
            mime = mimetypes.guess_type(plan.image.name)[0] or "application/octet-stream"
            data = base64.b64encode(plan.image.read_bytes()).decode("ascii")
            spec["image_data"] = f"data:{mime};base64,{data}"
        try:
            r = http.post(
                f"/api/live/runs/{self.stream.run_id}/prompts", json={"id": prompt_id, "spec": spec}
            )
            r.raise_for_status()
        except httpx.HTTPError as exc:
            return Answer(
                None, None, None, "dashboard", error=f"the dashboard is unreachable: {exc}"
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                state = http.get(f"/api/live/prompts/{prompt_id}").json()
            except (httpx.HTTPError, ValueError):
                state = {}
            if state.get("answer") is not None:
                return Answer(
                    plain(state["answer"]["value"]),
                    state["answered_by"],
                    state["answered"],
                    "dashboard",
                )
            time.sleep(self.poll)
        return Answer(None, None, None, "dashboard", timed_out=True)
