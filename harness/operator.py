"""The operator at the bench: answers to ``prompt`` steps, and the log that keeps them.

An :class:`Operator` is asked one prompt at a time and returns an :class:`Answer`: the answer,
who gave it, when (UTC), and how (``file``, ``terminal``, ``dashboard``). Three kinds:

* :class:`FileOperator` reads every answer from a YAML file (``--answers FILE``, for CI)::

      operator: ci-pipeline          # recorded as who answered
      answers:
        TC-LAMP/lamp: pass           # <case id>/<prompt id>: the answer
        TC-SUPPLY/volts: 12.1

  A prompt the file does not answer is an error before the run starts (exit 2), and ERROR if
  it is reached anyway: never a pass.
* :class:`TerminalOperator` asks at the terminal (rich), re-asking on an answer of the wrong
  kind until the prompt's timeout.
* the dashboard's, in :mod:`harness.server.client`, asks through ``harness serve``.

Every answer (and every timeout) is appended to :class:`PromptLog`, ``prompts.jsonl`` in the
evidence folder, with the bus time it was given at; the prompt's check judges it from there,
live and when re-evaluated offline.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import select
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from harness.adapter import StepContext, StepOutcome, step_kind
from harness.clock import VirtualClock
from harness.errors import InputError, StepFailed
from harness.observe import PROMPTS_STREAM, quantize
from harness.plan import PlannedStep
from harness.safeio import EVIDENCE_LOG, read_input
from harness.yamlsafe import load_yaml_file

__all__ = [
    "PROMPT_LOG",
    "Answer",
    "FileOperator",
    "Operator",
    "OperatorAdapter",
    "PromptLog",
    "PromptPlan",
    "TerminalOperator",
    "ask_on_loop",
    "read_prompt_log",
]

PROMPT_LOG = "prompts.jsonl"
YES = ("yes", "y", "true", "done", "ok")
NO = ("no", "n", "false")


@dataclass(frozen=True)
class PromptPlan:
    """A compiled prompt step: its key (``<case id>/<prompt id>``), its JSON form, its image
    file (resolved against the profile) and how long to wait for the answer."""

    key: str
    spec: Mapping[str, Any]
    image: Path | None
    timeout: float


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Answer:
    answer: Any
    answered_by: str | None
    answered_at: str | None
    source: str
    timed_out: bool = False
    error: str | None = None


class Operator(Protocol):
    def ask(self, plan: PromptPlan, timeout: float) -> Answer: ...


class PromptLog:
    """The answers of a run, in memory and (with a folder) appended to prompts.jsonl."""

    def __init__(self, folder: Path | None = None) -> None:
        self.entries: list[dict[str, Any]] = []
        self.path = folder / PROMPT_LOG if folder is not None else None

    def record(self, plan: PromptPlan, answer: Answer, t: float) -> dict[str, Any]:
        entry = {
            "key": plan.key,
            "t": t,
            "answer": answer.answer,
            "answered_by": answer.answered_by,
            "answered_at": answer.answered_at,
            "source": answer.source,
            "timed_out": answer.timed_out,
            "error": answer.error,
        }
        self.entries.append(entry)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        return entry


def read_prompt_log(folder: Path) -> list[dict[str, Any]] | None:
    """The entries of ``folder/prompts.jsonl``; None when the run asked nothing."""
    path = folder / PROMPT_LOG
    if not path.is_file():
        return None
    entries = []
    text = read_input(path, EVIDENCE_LOG).decode("utf-8", "replace")
    for n, line in enumerate(text.splitlines(), 1):
        try:
            entry = json.loads(line)
        except ValueError:
            raise InputError(f"{path}:{n}: not a JSON line") from None
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            raise InputError(f"{path}:{n}: expected an answer entry with a key")
        entries.append(entry)
    return entries


def ask_on_loop(loop: Any, operator: Operator, plan: PromptPlan, realtime: bool) -> Answer:
    """Ask while the run goes on: in real time the event loop keeps running (rest-bus,
    recorder) until the answer comes; on the virtual clock no bus time passes meanwhile."""
    if not realtime:
        return operator.ask(plan, plan.timeout)
    box: list[Answer] = []

    def worker() -> None:
        box.append(operator.ask(plan, plan.timeout))

    thread = threading.Thread(target=worker, name="operator", daemon=True)
    thread.start()
    loop.run_for(plan.timeout + 5.0, until=lambda: bool(box))
    if box:
        return box[0]
    return Answer(None, None, None, "none", timed_out=True)


def plain(value: Any) -> Any:
    """An answer as recorded: a boolean (YAML's bare yes/no, JSON's true) as yes or no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


class FileOperator:
    """Answers from a YAML file (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # The project's strict loader under the reading policy: a regular file of bounded
        # size, duplicate keys refused, and no quoting of a file that is not an answers file.
        data = load_yaml_file(path, kind_marker=("format", "none")).data
        if not isinstance(data, dict) or not isinstance(data.get("answers"), dict):
            raise InputError(
                "not an answers file",
                source=str(path),
                expected="a mapping with 'answers: {<case id>/<prompt id>: answer}'",
                got=type(data).__name__,
            )
        extra = sorted(set(data) - {"operator", "answers"})
        if extra:
            raise InputError(
                f"unknown key(s) {', '.join(extra)}",
                source=str(path),
                choices=["operator", "answers"],
            )
        self.operator = str(data.get("operator") or f"answers file {path.name}")
        self.answers: dict[str, Any] = {str(k): v for k, v in data["answers"].items()}

    def check_covers(self, keys: Sequence[str]) -> None:
        """InputError (exit 2) naming every prompt of the run the file does not answer."""
        missing = [k for k in keys if k not in self.answers]
        if missing:
            raise InputError(
                f"the answers file does not answer prompt(s) {', '.join(missing)}: a missing "
                "answer is never a pass",
                source=str(self.path),
                expected="an answer for every prompt of the cases run",
            )

    def ask(self, plan: PromptPlan, timeout: float) -> Answer:
        if plan.key not in self.answers:
            return Answer(
                None, None, None, "file", error=f"{self.path} has no answer for {plan.key}"
            )
        return Answer(plain(self.answers[plan.key]), self.operator, utc_now(), "file")


def valid_answer(spec: Mapping[str, Any], text: str) -> Any | None:
    """An answer typed at the terminal in the form its kind takes, or None if it is not one."""
    word = text.strip().lower()
    if spec["answer"] == "confirm":
        return "yes" if word in YES else "no" if word in NO else None
    if spec["answer"] == "judge":
        return word if word in ("pass", "fail") else None
    try:
        return float(word)
    except ValueError:
        return None


class TerminalOperator:
    """Asks at the terminal: the instruction in a panel, then a line of input."""

    def __init__(self, console: Console, stream: Any = None, who: str | None = None) -> None:
        self.console = console
        self.stream = stream if stream is not None else sys.stdin
        self.who = who or getpass.getuser()

    def _readline(self, deadline: float) -> str | None:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.stream], [], [], min(left, 0.5))
            if ready:
                line: str = self.stream.readline()
                return line if line else None

    def ask(self, plan: PromptPlan, timeout: float) -> Answer:
        spec = plan.spec
        how = {
            "confirm": "type yes when done (no if it cannot be done)",
            "judge": "type pass or fail",
            "value": f"type the value in {spec.get('unit') or 'its unit'}",
        }[spec["answer"]]
        body = escape(spec["text"])
        if plan.image is not None:
            body += f"\n[dim]image: {escape(str(plan.image))}[/]"
        self.console.print(Panel(body, title=f"operator: {escape(plan.key)}", subtitle=how))
        deadline = time.monotonic() + timeout
        while True:
            self.console.print(f"answer ({how}): ", end="")
            line = self._readline(deadline)
            if line is None:
                self.console.print("\n[yellow]no answer in time[/]")
                return Answer(None, None, None, "terminal", timed_out=True)
            value = valid_answer(spec, line)
            if value is not None:
                return Answer(value, self.who, utc_now(), "terminal")
            self.console.print(f"[red]not an answer of this kind:[/] {escape(line.strip())!r}")


class OperatorAdapter:
    """The operator as a transport (:mod:`harness.adapter`): the ``prompt`` step kind asks,
    and the answers so far are the ``prompts`` stream the prompt checks judge."""

    name = "operator"

    def __init__(self, operator: Operator | None, log: PromptLog | None = None) -> None:
        self.operator = operator
        self.log = log if log is not None else PromptLog()

    def streams(self) -> Mapping[str, object]:
        return {PROMPTS_STREAM: list(self.log.entries)}

    def begin_case(self) -> None:
        pass

    def end_case(self) -> None:
        pass


@step_kind("prompt", "operator", PromptPlan)
def _prompt(ctx: StepContext, step: PlannedStep) -> StepOutcome:
    """Ask the operator a prompt step's question and log the answer; judge it after."""
    t0 = ctx.loop.now()
    plan = step.data_as(PromptPlan)
    missing = (
        f"prompt {plan.key} needs an operator and none is attached "
        "(give --answers FILE, run at a terminal, or --server URL)"
    )
    adapter = ctx.adapter("operator", OperatorAdapter, missing)
    if adapter.operator is None:
        raise StepFailed(f"{step.path}: {missing}")
    realtime = not isinstance(ctx.loop.clock, VirtualClock)
    answer = ask_on_loop(ctx.loop, adapter.operator, plan, realtime)
    adapter.log.record(plan, answer, quantize(ctx.loop.now()))
    return StepOutcome(window_from=t0)
