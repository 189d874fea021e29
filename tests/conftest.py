"""Shared fixtures: the repository's own profile, DBC and CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.ports import free_udp_port as free_udp_port  # each xdist worker its own ports

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "profiles" / "cc-tcu-1.yaml"
DBC = ROOT / "dbc" / "cc-tcu-1.dbc"


@pytest.fixture(scope="session")
def profile_path() -> Path:
    return PROFILE


def harness_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", *args]


def default_signals() -> None:
    """``preexec_fn`` for a child the test will signal: SIGINT and SIGTERM at their defaults.

    A child inherits ignored signals across exec, and Python then installs no
    KeyboardInterrupt handler: under ``nohup``-style starts or a CI runner that starts jobs in
    the background (SIGINT ignored), the child would never see the test's Ctrl-C.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run_harness(
    args: Sequence[str], timeout: float = 600, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="120")
    return subprocess.run(
        harness_cmd(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env=env,
    )


def profile_copy(tmp_path: Path, old: str, new: str) -> Path:
    """The shipped profile with ``old`` (which must occur exactly once) replaced by ``new``,
    written where its relative DBC and ASN.1 paths still resolve (tmp_path/profiles/)."""
    text = PROFILE.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {PROFILE.name} exactly once"
    (tmp_path / "profiles").mkdir()
    (tmp_path / "dbc").symlink_to(ROOT / "dbc")
    path = tmp_path / "profiles" / "cc-tcu-1-copy.yaml"
    path.write_text(text.replace(old, new))
    return path


def case_in_run(folder: Path, case_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run.json of an evidence folder, and the record of one case in it."""
    record: dict[str, Any] = json.loads((folder / "run.json").read_text())
    (case,) = [c for c in record["cases"] if c["id"] == case_id]
    return record, case
