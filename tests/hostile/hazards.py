"""The hazard corpus's vocabulary: what a hazard builds (:class:`Ctx`) and what it expects
(:class:`Expect`), with the inputs several hazards share (the shipped DBC grown large or
given duplicate messages, a dropped-privilege prefix for the read-only folder)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.evidence import MANIFEST_FILE
from tests.conftest import DBC as SHIPPED_DBC
from tests.hostile.conftest import Run, profile_with


@dataclass
class Expect:
    args: list[str]
    code: int
    phrases: list[str]
    absent: list[str] = field(default_factory=list)  # besides the canary and "Traceback"
    after: Callable[[], None] | None = None  # more checks once the command ran
    user: list[str] | None = None


@dataclass
class Ctx:
    tmp: Path
    get_run: Callable[[], Run]

    def fifo(self, name: str = "pipe") -> Path:
        path = self.tmp / name
        os.mkfifo(path)
        return path

    def profile(self, old: str, new: str) -> Path:
        return profile_with(self.tmp, old, new)

    def profile_dbc(self, dbc: str | Path) -> Path:
        return self.profile("dbc: ../dbc/cc-tcu-1.dbc", f"dbc: {json.dumps(str(dbc))}")

    def profile_asn1(self, asn1: str | Path) -> Path:
        return self.profile("asn1: ../dbc/ccv2x.asn", f"asn1: {json.dumps(str(asn1))}")

    def dbc(self, data: bytes, name: str = "x.dbc") -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path

    def bench(self, text: str) -> Path:
        path = self.tmp / "bench.yaml"
        path.write_text("format: cc-harness-bench/1\n" + text, encoding="utf-8")
        return path

    def killed_run(self) -> Path:
        """Evidence as a ``kill -9`` leaves it: run.json still RUNNING, no manifest."""
        folder = self.get_run().copy(self.tmp)
        record = json.loads((folder / "run.json").read_text())
        record.update(status="RUNNING", passed=False, ended=None)
        (folder / "run.json").write_text(json.dumps(record))
        (folder / MANIFEST_FILE).unlink()
        (folder / "certificate.dsse.json").unlink()
        return folder


def not_created(path: Path) -> Callable[[], None]:
    def check() -> None:
        assert not path.exists(), f"{path} was created although the input was refused"

    return check


SHIPPED = SHIPPED_DBC.read_bytes()
DUPLICATE_ID = SHIPPED + (
    b'\nBO_ 100 DupA: 8 TCU\n SG_ X : 0|8@1+ (1,0) [0|255] "" GW\n'
    b'\nBO_ 100 DupB: 8 TCU\n SG_ Y : 0|8@1+ (1,0) [0|255] "" GW\n'
)
DUPLICATE_NAME = SHIPPED + (
    b'\nBO_ 100 DupA: 8 TCU\n SG_ X : 0|8@1+ (1,0) [0|255] "" GW\n'
    b'\nBO_ 101 DupA: 8 TCU\n SG_ Y : 0|8@1+ (1,0) [0|255] "" GW\n'
)


def big_dbc(size: int) -> bytes:
    """A syntactically valid DBC of about ``size`` bytes (many extended-ID messages)."""
    parts = [SHIPPED]
    i = 0
    total = len(SHIPPED)
    while total < size:
        block = (
            f"BO_ {0x80000000 | (0x10000 + i)} Filler{i}: 8 TCU\n"
            f' SG_ Filler{i}a : 0|8@1+ (1,0) [0|255] "" GW\n'
            f' SG_ Filler{i}b : 8|16@1+ (0.1,0) [0|6553.5] "km/h" GW\n\n'
        ).encode()
        parts.append(block)
        total += len(block)
        i += 1
    return b"".join(parts)


def unprivileged() -> list[str] | None:
    """A prefix that runs the command as nobody when the tests run as root (root writes into
    a read-only folder anyway); None when already unprivileged. Skips, saying why, where
    root cannot be dropped (no setpriv, or nobody cannot run this checkout's Python)."""
    if os.geteuid() != 0:
        return None
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv (util-linux): no unprivileged user")
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import harness.cli"],
        capture_output=True,
        timeout=120,
        cwd="/",
    )
    if probe.returncode != 0:
        pytest.skip("user nobody cannot run this checkout's Python (a private home folder)")
    return prefix
