"""Shared pieces of the hostile-input tests: the canary, the CLI in a subprocess, one real run.

Every hazard runs the real ``harness`` command in a subprocess with a timeout (a hang fails
the test through :class:`subprocess.TimeoutExpired`, never through a timed assertion), with a
canary environment variable set: its value must appear nowhere in what the command prints,
so a secret read from ``/proc/self/environ`` or a file would show.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.cli import main
from tests.conftest import PROFILE, ROOT

CANARY_VAR = "CC_HARNESS_TEST_CANARY"
CANARY = "canary-" + secrets.token_hex(12)
"""A secret only this test process knows: set in every child's environment and written into
the secret files the hazards point at."""

TIMEOUT = 90.0  # seconds a hazard may take before it counts as a hang


@dataclass(frozen=True)
class Outcome:
    code: int
    output: str  # stdout and stderr together


def run_cli(args: list[str], cwd: Path, *, user: list[str] | None = None) -> Outcome:
    """``harness ARGS`` in a subprocess (optionally under ``user``, a setpriv prefix)."""
    env = dict(os.environ, COLUMNS="200", **{CANARY_VAR: CANARY})
    env.pop("PYTHONWARNINGS", None)
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [*(user or []), sys.executable, "-m", "harness.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    return Outcome(proc.returncode, proc.stdout + proc.stderr)


def secret_file(where: Path, name: str = "secret.txt") -> Path:
    """A file that holds the canary the way secret files do (KEY=value lines)."""
    path = where / name
    path.write_text(f"CI_TOKEN={CANARY}\nBROKER_PASSWORD={CANARY}\n", encoding="utf-8")
    return path


def profile_with(where: Path, old: str, new: str) -> Path:
    """The shipped profile with ``old`` replaced by ``new``, beside copies of its DBC and ASN.1
    (so ``../dbc/...`` still resolves)."""
    text = PROFILE.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    (where / "profiles").mkdir(exist_ok=True)
    if not (where / "dbc").exists():
        shutil.copytree(ROOT / "dbc", where / "dbc")
    path = where / "profiles" / "p.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Run:
    """A certified, sealed evidence folder and the key pair that signed it."""

    folder: Path
    private: Path
    public: Path

    def copy(self, where: Path) -> Path:
        target = where / "evidence"
        shutil.copytree(self.folder, target)
        return target


@pytest.fixture(scope="session")
def certified_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    base = tmp_path_factory.mktemp("hostile-run")
    assert main(["keys", "generate", "--out", str(base / "lab")]) == 0
    out = base / "evidence"
    code = main(
        ["certify", str(PROFILE), "--out", str(out), "--quiet", "--key", str(base / "lab.key")]
    )
    assert code == 0
    return Run(out, base / "lab.key", base / "lab.pub")
