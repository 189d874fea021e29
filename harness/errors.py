"""One root exception for everything the harness reports to a user.

Every error a user can cause or meet derives from :class:`HarnessError` and carries the
process exit code the CLI maps it to::

    HarnessError                      exit 1  (generic; rarely raised directly)
    ├── InputError                    exit 2  bad input: profile, bench, DBC, arguments
    │   ├── ProfileError                      a profile that does not load or resolve
    │   ├── BenchError                        a bench file that does not load or resolve
    │   └── DbcError                          a DBC that does not load or lacks what is needed
    ├── RunIncomplete                 exit 3  the run could not complete
    │   ├── DutNotResponding                  the device under test never answered
    │   ├── InterfaceError                    a bus or interface failed to open or died
    │   ├── RunAborted                        the run was interrupted (Ctrl-C, SIGTERM)
    │   └── EvidenceIncomplete                an evidence folder whose run never finished
    ├── StepFailed                    exit 1  a step could not be carried out: its case is ERROR
    └── VerificationError             exit 4  a certificate or its evidence does not verify

Input errors name the place first (``file:line:col path``), then what was expected and what
was found, then the valid choices, so that one screen tells the user what to fix. The CLI
prints ``error: <message>`` without a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BenchError",
    "DbcError",
    "DutNotResponding",
    "EvidenceIncomplete",
    "HarnessError",
    "InputError",
    "InterfaceError",
    "ProfileError",
    "RunAborted",
    "RunIncomplete",
    "StepFailed",
    "VerificationError",
]


class HarnessError(Exception):
    """Root of every error the harness reports to its user."""

    exit_code = 1


def _short(value: object, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class InputError(HarnessError):
    """Bad input from the user: the message names the place, the expectation and the value."""

    exit_code = 2

    def __init__(
        self,
        message: str | None = None,
        *,
        source: str | None = None,
        line: int | None = None,
        col: int | None = None,
        path: str | None = None,
        expected: str | None = None,
        got: object = None,
        choices: Sequence[str] | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.col = col
        self.path = path
        self.expected = expected
        self.got = got
        self.choices = list(choices) if choices else []
        self.detail = message
        super().__init__(self.render())

    @property
    def place(self) -> str:
        """``file:line:col path`` as far as it is known."""
        parts: list[str] = []
        if self.source:
            loc = self.source
            if self.line is not None:
                loc += f":{self.line}"
                if self.col is not None:
                    loc += f":{self.col}"
            parts.append(loc)
        if self.path:
            parts.append(self.path)
        return " ".join(parts)

    def render(self) -> str:
        pieces: list[str] = []
        if self.detail:
            pieces.append(self.detail)
        if self.expected is not None:
            got = "nothing" if self.got is None else f"'{_short(self.got)}'"
            pieces.append(f"expected {self.expected}, but got {got}")
        text = "; ".join(pieces) if pieces else "invalid input"
        if self.choices:
            shown = ", ".join(self.choices[:16])  # a user reads a screen, not a catalogue
            if len(self.choices) > 16:
                shown += f", ... ({len(self.choices)} in all)"
            text += f" (valid: {shown})"
        place = self.place
        return f"{place}: {text}" if place else text


class ProfileError(InputError):
    """A profile that does not parse, validate or resolve against its DBC."""


class BenchError(InputError):
    """A bench file (interfaces, channels, broker) that does not load or resolve."""


class DbcError(InputError):
    """A DBC file that does not load, or lacks a message or signal a profile needs."""


class RunIncomplete(HarnessError):
    """The run could not complete; no certificate may be issued for it."""

    exit_code = 3


class DutNotResponding(RunIncomplete):
    """The device under test never sent what the profile waits for."""


class InterfaceError(RunIncomplete):
    """A bus or interface could not be opened, or failed during the run."""


class RunAborted(RunIncomplete):
    """The run was interrupted by the user or a signal."""


class EvidenceIncomplete(RunIncomplete):
    """An evidence folder whose run did not finish (killed, crashed, or stopped early)."""


class StepFailed(HarnessError):
    """A step could not be carried out (a message the harness is not sending, a transport the
    run lacks); the runner records its case as ERROR and goes on with the next one."""


class VerificationError(HarnessError):
    """A certificate, or the evidence it names, failed verification: forged, altered,
    signed by another key, expired, or not matching its evidence folder."""

    exit_code = 4
