"""The CI templates, run as scripts: every command of ci/*.yml, in a copy of the repository.

What the test changes: package installs (``pip install``, ``apt-get``) become no-ops (the
test's own environment has the harness, and Mosquitto, which ``.ci/run`` installs; its
``harness`` comes first on PATH), and ``PROFILE``, ``BENCH`` and ``BROKER_CONF`` point at a
short profile, a bench and a broker configuration of this test's own (free ports), through the
variables the templates read. Every other line runs exactly as written, with the secrets
absent (so the throwaway-key branch runs).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, free_udp_port
from tests.ports import free_tcp_port

SHORT_PROFILE = "tests/report/ci-short.yaml"
_INSTALL = re.compile(r"^(\s*)((sudo )?apt-get .*|(python -m )?pip install\b.*)$", re.M)
_EXPRESSION = re.compile(r"\$\{\{[^}]*\}\}")
_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "runs", "__pycache__", "*.egg-info", ".mypy_cache", ".ruff_cache"
)


def _no_install(script: str) -> str:
    return _INSTALL.sub(r"\1true  # installing: the test's environment has it", script)


def _workspace(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        pytest.fail("mosquitto is not installed: .ci/run installs it (apt-get install mosquitto)")
    work = tmp_path / "repo"
    shutil.copytree(ROOT, work, ignore=_IGNORE)
    mqtt_port = free_tcp_port()
    pid_file = tmp_path / "mosquitto.pid"
    conf = work / "ci-test-mosquitto.conf"
    conf.write_text(
        (ROOT / "ci" / "mosquitto.conf")
        .read_text()
        .replace("listener 18830 ", f"listener {mqtt_port} ")
        .replace("/tmp/cc-harness-ci-mosquitto.pid", str(pid_file))
    )
    bench = work / "ci-test-bench.yaml"
    bench.write_text(
        (ROOT / "ci" / "bench-udp.yaml")
        .read_text()
        .replace("port: 43170", f"port: {free_udp_port()}")
        .replace("port: 18830", f"port: {mqtt_port}")
        .replace("port: 18831", f"port: {free_tcp_port()}")
        .replace("/tmp/cc-harness-ci-mosquitto.pid", str(pid_file))
        .replace("ci/mosquitto.conf", conf.name)
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HARNESS_", "PROFILE", "BENCH", "BROKER_CONF"))
    }
    path = env.get("PATH", "")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{path}{os.pathsep}/usr/sbin"
    env["BROKER_CONF"] = conf.name
    env["PROFILE"] = SHORT_PROFILE
    env["BENCH"] = bench.name
    env["COLUMNS"] = "120"
    return work, env


def _run(script: str, work: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    path = work.parent / "step.sh"
    path.write_text(script)
    # GitHub's and GitLab's bash: errexit and pipefail, no profile
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _check_outputs(work: Path, artifacts: list[str]) -> None:
    record = json.loads((work / "evidence" / "run.json").read_text())
    assert record["passed"] is True and record["mode"] == "realtime"
    assert record["profile"]["id"] == "cc-tcu-1-short"
    for name in ("report/report.html", "report/junit.xml", "certificate.dsse.json"):
        assert (work / "evidence" / name).is_file(), name
    assert (work / "junit.xml").read_bytes() == (work / "evidence/report/junit.xml").read_bytes()
    for artifact in artifacts:
        assert (work / artifact).exists(), f"artifact {artifact} was not made"
    assert (work / "signing.key").is_file() and (work / "signing.pub").is_file()


@pytest.mark.realtime
def test_github_actions_template_runs(tmp_path: Path) -> None:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "ci" / "github-actions.yml").read_text())
    job = doc["jobs"]["certify"]
    work, env = _workspace(tmp_path)
    for key, value in job.get("env", {}).items():
        env[key] = _EXPRESSION.sub("", str(value))  # secrets and variables not set
    steps = job["steps"]
    uses = [s["uses"].split("@")[0] for s in steps if "uses" in s]
    assert uses == ["actions/checkout", "actions/setup-python", "actions/upload-artifact"]
    runs = [s for s in steps if "run" in s]
    assert len(runs) == 4
    for step in runs:
        result = _run(_no_install(step["run"]), work, env)
        assert result.returncode == 0, f"{step['name']}:\n{result.stdout}\n{result.stderr}"
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    _check_outputs(work, upload["with"]["path"].split())


@pytest.mark.realtime
def test_gitlab_ci_template_runs(tmp_path: Path) -> None:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "ci" / "gitlab-ci.yml").read_text())
    job = doc["certify"]
    work, env = _workspace(tmp_path)
    script = "\n".join(job["script"])  # GitLab runs a job's lines in one shell
    assert script.count("pip install") == 2 and script.count("apt-get") == 2
    result = _run(_no_install(script), work, env)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] == "junit.xml"
    _check_outputs(work, job["artifacts"]["paths"])


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_templates_default_to_the_real_profile_and_the_ci_bench(name: str) -> None:
    text = (ROOT / "ci" / name).read_text()
    assert "PROFILE=${PROFILE:-profiles/cc-tcu-1.yaml}" in text
    assert "BENCH=${BENCH:-ci/bench-udp.yaml}" in text
    assert "BROKER_CONF=${BROKER_CONF:-ci/mosquitto.conf}" in text
    bench = yaml.safe_load((ROOT / "ci" / "bench-udp.yaml").read_text())
    conf = (ROOT / "ci" / "mosquitto.conf").read_text()
    assert bench["can"]["interface"] == "udp_multicast"
    broker = bench["mqtt"]["broker"]
    assert (broker["host"], broker["port"]) == ("127.0.0.1", 18830)
    assert "listener 18830 127.0.0.1" in conf
    assert broker["control"]["start"] == ["mosquitto", "-c", "ci/mosquitto.conf", "-d"]
    pid_file = "/tmp/cc-harness-ci-mosquitto.pid"
    assert f"pid_file {pid_file}" in conf and pid_file in broker["control"]["stop"][-1]
