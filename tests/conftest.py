"""Shared fixtures: the repository's own profile, DBC and CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "profiles" / "cc-tcu-1.yaml"
DBC = ROOT / "dbc" / "cc-tcu-1.dbc"


@pytest.fixture(scope="session")
def profile_path() -> Path:
    return PROFILE


def free_udp_port() -> int:
    """A UDP port nobody on this machine uses now: each test gets its own multicast bus."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("", 0))
        port: int = sock.getsockname()[1]
        return port


def harness_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", *args]


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
