"""What ``harness certify`` does with an operator and a certification centre.

* ``--answers FILE``: prompt steps are answered from the file (checked before the run: a
  prompt it does not answer is exit 2). Without it, prompts are asked on the dashboard of
  ``--server``, else at the terminal when stdin is one, else nobody can answer them and the
  case is ERROR.
* ``--server URL``: the run streams its events to that server's live dashboard.
* ``--submit URL``: once the certificate is written, the evidence folder is submitted to that
  registry (as ``harness submit`` does); a refusal is exit 4.

The API token is read from ``$HARNESS_TOKEN`` (``--token-env`` names another variable).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from harness.evidence import CERTIFICATE_FILE
from harness.operator import FileOperator, Operator, TerminalOperator
from harness.profile.compile_prompt import prompt_keys
from harness.record import RunRecord

if TYPE_CHECKING:
    from harness.plan import Plan, PlannedCase
    from harness.server.live_client import LiveStream
    from harness.session import Session

__all__ = ["after_run", "centre_for_run"]


@dataclass
class Centre:
    live: LiveStream | None = None
    submit: str | None = None
    token: str | None = None

    def run_ended(self, record: RunRecord) -> None:
        if self.live is not None:
            self.live.finish(record)


def centre_for_run(
    args: argparse.Namespace,
    session: Session,
    plan: Plan,
    cases: Sequence[PlannedCase],
    err: Console,
) -> Centre:
    """Attach the operator and the live stream to ``session``; check --answers covers the run."""
    from harness.server.client import token_from_env

    centre = Centre(submit=args.submit)
    if args.server or args.submit:
        centre.token = token_from_env(args.token_env)
    keys = prompt_keys(plan, cases)
    operator: Operator | None = None
    if args.answers is not None:
        answers = FileOperator(args.answers)
        answers.check_covers(keys)
        operator = answers
    if args.server:
        from harness.server.live_client import DashboardOperator, LiveStream

        assert centre.token is not None
        centre.live = LiveStream(args.server, centre.token, warn=lambda m: err.print(escape(m)))
        centre.live.start(session, len(cases))
        session.observers.append(centre.live)
        if operator is None:
            operator = DashboardOperator(centre.live)
    if operator is None and keys and sys.stdin.isatty():
        operator = TerminalOperator(err)
    if operator is None and keys:
        err.print(
            "[yellow]note:[/] the profile asks the operator "
            f"({', '.join(keys)}) but nobody can answer: no --answers, no --server, and stdin "
            "is not a terminal; those cases will be ERROR"
        )
    session.operator = operator
    return centre


def after_run(centre: Centre, session: Session, out_dir: Path, out: Console) -> None:
    """``--submit``: hand the certified evidence to the registry (exit 4 if refused)."""
    if centre.submit is None:
        return
    if not (out_dir / CERTIFICATE_FILE).is_file():
        out.print("[bold]not submitted[/]: the run has no certificate (give --key)")
        return
    from harness.server.client import Registry

    assert centre.token is not None
    with Registry(centre.submit, centre.token) as registry:
        state = registry.submit(out_dir)
    out.print(
        f"[bold green]submitted[/]: accepted by {escape(centre.submit)}, certificate "
        f"{state['certificate_id']}",
        highlight=False,
        soft_wrap=True,
    )
