"""The ``mirrors`` check kind: a status signal of the DUT follows a command the harness sends.

Every frame of the status message in the window must carry, in its status signal, the value
the command signal had ``settle`` earlier (or any value the command took since then: the DUT
may already have followed a newer one). A lab writes::

    - kind: mirrors
      command: LAMP_Command.LampRequest      # a signal the harness sends (rest-bus)
      status: LAMP_Status.LampState          # a signal the DUT sends
      settle: 100 ms

The class is not decorated with ``harness.checks.register``: the ``cc_harness.checks`` entry
point of this package registers it under its ``kind``.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Literal

from pydantic import Field

from harness.checks import Check, CheckParams, Resolver
from harness.checks.base import hexdata
from harness.observe import Window
from harness.record import CheckResult, Offender, Verdict
from harness.units import Duration, format_duration

__all__ = ["MirrorsCheck", "MirrorsParams"]


class MirrorsParams(CheckParams):
    kind: Literal["mirrors"]
    command: str = Field(description="'Message.Signal' the harness sends")
    status: str = Field(description="'Message.Signal' the DUT sends, mirroring the command")
    settle: Duration = Field(description="how long the DUT may take to follow a change")


class MirrorsCheck(Check):
    """Each status frame shows the commanded value of ``settle`` earlier."""

    kind = "mirrors"
    Params = MirrorsParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, MirrorsParams)
        self.p = params
        cmd_msg, _, cmd_sig = params.command.partition(".")
        st_msg, _, st_sig = params.status.partition(".")
        self.cmd = resolver.message("command", cmd_msg)
        self.cmd_signal = resolver.signal("command", self.cmd, cmd_sig)
        self.status = resolver.message("status", st_msg)
        self.status_signal = resolver.signal("status", self.status, st_sig)
        super().__init__(params, resolver)

    def describe(self) -> str:
        return f"{self.p.status} mirrors {self.p.command} within {format_duration(self.p.settle)}"

    def evaluate(self, window: Window) -> CheckResult:
        sent = window.log.tx_of(self.cmd.frame_id)
        seen = window.log.rx_of(self.status.frame_id)
        i, j = seen.span(window.t0, window.t1)
        checked = wrong = 0
        first: Offender | None = None
        for k in range(i, j):
            t = seen.ts[k]
            before = bisect_right(sent.ts, t - self.p.settle) - 1
            if before < 0:
                continue  # nothing commanded long enough ago
            since = bisect_right(sent.ts, t)
            allowed = {self.cmd_signal.raw(sent.data[n]) for n in range(before, since)}
            got = self.status_signal.raw(seen.data[k])
            checked += 1
            if got not in allowed:
                wrong += 1
                if first is None:
                    want = " or ".join(
                        self._name(v) for v in sorted(a for a in allowed if a is not None)
                    )
                    first = Offender(
                        t,
                        f"{self.p.status} is {self._name(got)}, commanded {want}",
                        self.status.frame_id,
                        hexdata(seen.data[k]),
                    )
        measurements = {"checked": checked, "wrong": wrong}
        limits = {"settle": self.p.settle}
        if checked == 0:
            return self.result(
                Verdict.INCONCLUSIVE, "no status frame to judge", measurements, limits
            )
        if wrong:
            summary = f"{wrong} of {checked} {self.status.name} frames do not mirror the command"
            return self.result(Verdict.FAIL, summary, measurements, limits, first)
        summary = f"{checked} {self.status.name} frames mirror the command"
        return self.result(Verdict.PASS, summary, measurements, limits)

    def _name(self, raw: int | None) -> str:
        if raw is None:
            return "absent"
        return self.status_signal.choice_name(raw) or str(raw)
