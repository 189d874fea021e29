"""Prompt steps answered at the terminal, driven through a pseudo-terminal like a person:
a wrong kind of answer is asked again, answers are recorded with who and when, and a prompt
left unanswered past its timeout makes the case INCONCLUSIVE."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

from tests.conftest import ROOT, case_in_run, harness_cmd
from tests.operator.prompts import CASE, operator_profile


class Terminal:
    """The harness on a pty: read its screen, type lines."""

    def __init__(self, args: list[str]) -> None:
        self.master, slave = pty.openpty()
        env = dict(os.environ, COLUMNS="120", TERM="xterm")
        self.proc = subprocess.Popen(
            harness_cmd(*args), stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env
        )
        os.close(slave)
        self.screen = ""

    def read_until(self, pattern: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.screen):
            left = deadline - time.monotonic()
            assert left > 0, f"{pattern!r} never appeared; the screen:\n{self.screen}"
            ready, _, _ = select.select([self.master], [], [], min(left, 1.0))
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the child closed the pty
                    chunk = b""
                if not chunk and self.proc.poll() is not None:
                    raise AssertionError(f"exited before {pattern!r}:\n{self.screen}")
                self.screen += chunk.decode("utf-8", "replace")
        return self.screen

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def finish(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.5)
            if ready:
                try:
                    self.screen += os.read(self.master, 4096).decode("utf-8", "replace")
                except OSError:
                    break
        code = self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        os.close(self.master)
        return code


def test_prompts_answered_at_the_terminal(tmp_path: Path) -> None:
    profile = operator_profile(tmp_path, timeout="60 s")
    out = tmp_path / "run"
    term = Terminal(["certify", str(profile), "--case", CASE, "--out", str(out)])
    term.read_until(r"Plug the part into harness B")
    term.read_until(r"answer \(type yes")
    term.type("yes")
    term.read_until(r"Is the MIL lamp off\?")
    term.read_until(r"answer \(type pass or fail")
    term.type("perhaps")  # not an answer of this kind: asked again
    term.read_until(r"not an answer of this kind")
    term.type("pass")
    term.read_until(r"Measure the supply voltage")
    term.type("12.6")
    assert term.finish() == 0, term.screen
    _, case = case_in_run(out, CASE)
    checks = [c for c in case["checks"] if c["kind"] == "operator_prompt"]
    assert [c["verdict"] for c in checks] == ["PASS", "PASS", "PASS"]
    assert [c["measurements"]["answer"] for c in checks] == ["yes", "pass", 12.6]
    assert {c["measurements"]["source"] for c in checks} == {"terminal"}
    assert all(c["measurements"]["answered_by"] for c in checks)


def test_no_answer_in_time_is_inconclusive(tmp_path: Path) -> None:
    profile = operator_profile(tmp_path, timeout="60 s", supply_timeout="2 s")
    out = tmp_path / "run"
    term = Terminal(["certify", str(profile), "--case", CASE, "--out", str(out)])
    term.read_until(r"answer \(type yes")
    term.type("yes")
    term.read_until(r"answer \(type pass or fail")
    term.type("pass")
    term.read_until(r"Measure the supply voltage")
    term.read_until(r"no answer in time")  # nobody types: the prompt times out
    assert term.finish() == 1, term.screen
    _, case = case_in_run(out, CASE)
    checks = [c for c in case["checks"] if c["kind"] == "operator_prompt"]
    assert [c["verdict"] for c in checks] == ["PASS", "PASS", "INCONCLUSIVE"]
    assert case["verdict"] == "INCONCLUSIVE"
    assert checks[2]["measurements"]["answer"] is None
