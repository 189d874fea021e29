"""The tester: one UDS request at a time over the ISO-TP link, timed on the loop's clock.

:meth:`UdsClient.exchange` sends a request and runs the event loop (``run_until`` with an
``until`` condition) until the final response of the request's service arrives, the tester's
timeout passes, or, when no response is expected, the listening time is over. A
'response pending' (NRC 0x78) moves the deadline to P2* after it. Waiting never blocks the
loop, so the rest-bus, the recorder and an in-process simulator keep running, and in simulated
time the wait takes no wall time at all. Nothing here judges the answer: the checks do, over
the recorded frames. Each exchange is written to ``diag.jsonl`` when a log is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.can.port import CanPort
from harness.clock import EventLoop
from harness.observe import quantize
from harness.uds.codec import decode_response, describe_request, hexs
from harness.uds.config import DiagConfig
from harness.uds.diaglog import DiagLog
from harness.uds.exchange import Transfer
from harness.uds.link import IsoTpLink

__all__ = ["Outcome", "UdsClient"]


def _answers(sid: int, payload: bytes) -> bool:
    if payload[:1] == b"\x7f":
        return len(payload) >= 2 and payload[1] == sid
    return bool(payload) and payload[0] == (sid + 0x40) & 0xFF


@dataclass
class Outcome:
    """What one exchange brought: the responses of the request's service, in order."""

    request: bytes
    functional: bool
    started: float
    sent_at: float | None  # the request's last frame; None: it could not be sent
    responses: list[Transfer] = field(default_factory=list)
    waited: float = 0.0  # how long the tester waited after sending
    error: str | None = None

    @property
    def final(self) -> Transfer | None:
        for r in reversed(self.responses):
            if not r.is_pending:
                return r
        return None

    def describe(self) -> str:
        return describe_request(self.request, self.functional)


class UdsClient:
    """UDS requests over an :class:`IsoTpLink`, waiting on the event loop."""

    def __init__(
        self, loop: EventLoop, port: CanPort, config: DiagConfig, log: DiagLog | None = None
    ) -> None:
        self.loop = loop
        self.config = config
        self.link = IsoTpLink(loop, port, config)
        self.log = log

    def close(self) -> None:
        self.link.close()

    def exchange(
        self,
        payload: bytes,
        *,
        functional: bool = False,
        expect_response: bool = True,
        timeout: float | None = None,
        note: str | None = None,
    ) -> Outcome:
        """Send ``payload`` and wait for its final response (or listen, if none is expected)."""
        loop, link, cfg = self.loop, self.link, self.config
        wait = (cfg.timeout if expect_response else cfg.listen) if timeout is None else timeout
        started = loop.now()
        link.take_received()
        link.errors.clear()
        outcome = Outcome(payload, functional, quantize(started), None)
        link.send(payload, functional=functional)
        if link.sending:  # a multi-frame request waits for the DUT's flow control
            loop.run_for(cfg.timeout + 0.1, until=lambda: not link.sending)
        if link.sending or link.last_tx is None:
            link.layer.reset()
            outcome.error = "; ".join(link.errors) or "the request could not be sent"
            self._log(outcome, note)
            return outcome
        outcome.sent_at = link.last_tx
        deadline = link.last_tx + wait
        sid = payload[0]
        while True:
            loop.run_until(deadline, until=lambda: bool(link.received))
            got = [r for r in link.take_received() if _answers(sid, r.payload)]
            outcome.responses.extend(got)
            if not got:
                break  # the deadline passed
            last = got[-1]
            if not last.is_pending:
                break
            deadline = max(deadline, last.last + cfg.p2_star + cfg.timeout - cfg.p2)
        outcome.waited = loop.now() - link.last_tx
        if link.errors:
            outcome.error = "; ".join(link.errors)
        self._log(outcome, note)
        return outcome

    def _log(self, outcome: Outcome, note: str | None) -> None:
        if self.log is None:
            return
        ids = self.config.ids
        entry: dict[str, Any] = {
            "t": outcome.started,
            "addressing": "functional" if outcome.functional else "physical",
            "can_id": f"0x{ids.functional_id if outcome.functional else ids.request_id:03X}",
            "request": hexs(outcome.request),
            "sent": outcome.sent_at,
            "responses": [],
        }
        if note:
            entry["step"] = note
        for r in outcome.responses:
            decoded = decode_response(r.payload)
            entry["responses"].append(
                {
                    "first": r.first,
                    "last": r.last,
                    "frames": r.frames,
                    "data": hexs(r.payload),
                    "nrc": None if decoded.positive else decoded.code,
                    "meaning": decoded.describe(),
                }
            )
        if not outcome.responses:
            entry["no_response_within"] = round(outcome.waited, 6)
        if outcome.error:
            entry["error"] = outcome.error
        self.log.write(entry)
