"""The layer contract (pyproject.toml, [tool.importlinter]) holds on the tree, and breaks when a
lower layer imports an upper one: lint-imports run on a copy of the package with one upward
import added names that import and exits non-zero."""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

import harness

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports in ``where``: its pyproject.toml, its copy of ``harness`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(where)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "harness", tmp_path / "harness", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract(tree_copy: Path) -> None:
    done = lint_imports(tree_copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "harness layers point down KEPT" in done.stdout
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "upward", "broken"),
    [
        # the base imports the runner: the cycle this contract exists to stop
        ("units.py", "from harness.runner import CaseRunner", "harness.units -> harness.runner"),
        # the plan (data only) imports the compiler
        ("plan/__init__.py", "import harness.profile.compile", "harness.plan -> harness.profile"),
        # an adapter imports the runner (StepFailed lived there once)
        ("mqtt/side.py", "from harness import runner", "harness.mqtt.side -> harness.runner"),
    ],
)
def test_an_upward_import_breaks_the_contract(
    tree_copy: Path, module: str, upward: str, broken: str
) -> None:
    path = tree_copy / "harness" / module
    path.write_text(path.read_text() + f"\n{upward}  # noqa: E402\n")
    done = lint_imports(tree_copy)
    assert done.returncode != 0, done.stdout
    assert "harness layers point down BROKEN" in done.stdout
    assert broken in done.stdout


def test_a_check_that_opens_a_client_breaks_the_purity_contract(tree_copy: Path) -> None:
    path = tree_copy / "harness" / "checks" / "can_silence.py"
    path.write_text(path.read_text() + "\nfrom harness.can.port import CanPort  # noqa: E402\n")
    done = lint_imports(tree_copy)
    assert done.returncode != 0, done.stdout
    assert "checks never touch a bus" in done.stdout and "BROKEN" in done.stdout
    assert "harness.checks.can_silence -> harness.can.port" in done.stdout


def test_every_module_of_the_package_has_a_layer() -> None:
    """A module left out of the contract would be free to import anything."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    listed = {m.strip() for layer in layers for m in layer.replace("|", ":").split(":")}
    modules = {f"harness.{m.name}" for m in pkgutil.iter_modules(harness.__path__)}
    assert modules - listed == set()
    assert listed - modules == set()
