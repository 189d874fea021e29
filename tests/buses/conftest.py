"""Shared by the named-bus tests: a profile copied with its DBCs, a bench of several buses."""

from __future__ import annotations

import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent


def copy_profile(tmp_path: Path, source: Path) -> Path:
    """``source`` (a profile of this folder) and the DBCs it names (``data/``) in tmp_path."""
    shutil.copytree(HERE / "data", tmp_path / "data", dirs_exist_ok=True)
    path = tmp_path / source.name
    path.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def write_bench(tmp_path: Path, can_section: str) -> Path:
    """A bench file whose ``can:`` section is ``can_section`` (indented lines)."""
    path = tmp_path / "bench.yaml"
    path.write_text(f"format: cc-harness-bench/1\nname: two buses\ncan:\n{can_section}")
    return path
