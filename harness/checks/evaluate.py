"""Evaluate checks on a window: the one function live runs and offline re-evaluation share.

A check that raises is an ERROR result naming the exception, never a pass; every result
carries the window it was judged on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from harness.observe import Window
from harness.record import CheckResult, Verdict

__all__ = ["evaluate_checks"]


def evaluate_checks(checks: Sequence[object], window: Window) -> list[CheckResult]:
    """Each check's result on ``window``, in order (``checks`` have ``evaluate(window)``)."""
    out = []
    for check in checks:
        try:
            bus = getattr(check, "bus", None)  # its bus's frames, on a profile of several
            seen = window.on_bus(bus) if bus is not None else window
            result = check.evaluate(seen)  # type: ignore[attr-defined]
            out.append(dataclasses.replace(result, window=(window.t0, window.t1)))
        except Exception as exc:  # a bug in a check must not pass a case
            out.append(
                CheckResult(
                    kind=getattr(check, "kind", "?"),
                    verdict=Verdict.ERROR,
                    summary=f"check raised {type(exc).__name__}: {exc}",
                    label=getattr(check, "label", ""),
                    requirements=getattr(check, "requirements", ()),
                    window=(window.t0, window.t1),
                )
            )
    return out
