"""The example plug-in, installed for real, extends the harness with no edit to ``harness/``.

``examples/harness-plugin-example`` declares a check kind (``mirrors``) and a simulated DUT
(``lamp-ecu``) under the ``cc_harness.checks`` and ``cc_harness.duts`` entry point groups.
The session fixture installs it with pip into a venv of its own that sees this test venv's
packages (the harness included), so the test venv itself stays as it was; each test then runs
that venv's ``harness`` command as a lab would.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "harness-plugin-example"
PROFILE = EXAMPLE / "profiles" / "lamp-ecu.yaml"


def _venv_with(tmp: Path, package: Path) -> Path:
    """A venv at ``tmp`` seeing this interpreter's packages, with ``package`` pip-installed;
    returns its ``harness`` command."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(tmp)],
        check=True,
    )
    python = tmp / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # A venv made from a venv's python sees the base interpreter's packages, not the test
    # venv's: add the test venv's site directories (their .pth files too: the editable harness).
    parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
    Path(purelib, "zz_test_venv.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({p!r})" for p in parents) + "\n"
    )
    pip = [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "--no-index", str(package)], check=True, capture_output=True)
    command = tmp / "bin" / "harness"
    command.write_text(
        f"#!{python}\nimport sys\nfrom harness.cli import main\nsys.exit(main())\n",
        encoding="utf-8",
    )
    command.chmod(0o755)
    return command


@pytest.fixture(scope="session")
def plugin_harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """That venv's ``harness`` with the example plug-in installed (once per session)."""
    return _venv_with(tmp_path_factory.mktemp("plugin-venv"), EXAMPLE)


def _run(
    harness: Path | None, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [str(harness)] if harness is not None else [sys.executable, "-m", "harness.cli"]
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [*argv, *args], capture_output=True, text=True, cwd=cwd or ROOT, env=env, timeout=300
    )


def test_without_the_plugin_its_kind_and_dut_are_unknown() -> None:
    run = _run(None, "validate", str(PROFILE))
    assert run.returncode == 2, run.stdout + run.stderr
    assert "expected a known check kind, but got 'mirrors'" in run.stderr
    tcu_profile = str(ROOT / "profiles" / "cc-tcu-1.yaml")
    run = _run(None, "certify", tcu_profile, "--dut", "sim:lamp-ecu", "--out", "/nonexistent")
    assert run.returncode == 2 and "unknown simulator variant or simulated DUT" in run.stderr


def test_schema_lists_the_plugin_check_kind(plugin_harness: Path) -> None:
    run = _run(plugin_harness, "schema")
    assert run.returncode == 0, run.stderr
    defs = json.loads(run.stdout)["$defs"]
    kinds = {
        d["properties"]["kind"].get("const")
        for d in defs.values()
        if "kind" in d.get("properties", {})
    }
    assert {"mirrors", "cycle_time"} <= kinds
    assert defs["MirrorsParams"]["properties"]["settle"]["description"]


def test_sim_list_shows_the_plugin_dut_and_its_variants(plugin_harness: Path) -> None:
    run = _run(plugin_harness, "sim", "list")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "sim:cc-tcu-1" in out and "sim:lamp-ecu" in out
    assert "(harness-plugin-example)" in out  # where it came from
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "LAMP-001" in lines["slow-follow"] and "300 ms" in lines["slow-follow"]
    assert "LAMP-002" in lines["slow-status"]


def test_validate_accepts_the_plugin_profile(plugin_harness: Path) -> None:
    run = _run(plugin_harness, "validate", str(PROFILE))
    assert run.returncode == 0, run.stderr
    assert "valid profile lamp-ecu-example" in run.stdout


def test_certify_passes_reports_the_plugin_check_and_the_certificate_verifies(
    plugin_harness: Path, tmp_path: Path
) -> None:
    keys = tmp_path / "lab"
    assert _run(plugin_harness, "keys", "generate", "--out", str(keys)).returncode == 0
    out = tmp_path / "ev"
    run = _run(
        plugin_harness,
        *("certify", str(PROFILE), "--dut", "sim:lamp-ecu", "--out", str(out)),
        *("--key", f"{keys}.key", "--identity", "serial=LAMP0000000001"),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    record = json.loads((out / "run.json").read_text())
    assert record["identity"] == {"serial": "LAMP0000000001"}
    assert record["status"] == "COMPLETED" and record["passed"] is True
    assert record["dut"] == "sim:lamp-ecu"
    checks = {c["id"]: [(k["kind"], k["verdict"]) for k in c["checks"]] for c in record["cases"]}
    assert checks["LAMP-FOLLOWS-REQUEST"] == [("mirrors", "PASS"), ("mirrors", "PASS")]
    assert checks["LAMP-STATUS-CYCLE"] == [("cycle_time", "PASS")]
    assert "LampState mirrors LampRequest" in (out / "report" / "report.html").read_text()
    assert "mirrors" in (out / "report" / "junit.xml").read_text()
    cert = out / "certificate.dsse.json"
    verify = _run(
        plugin_harness, "verify", str(cert), "--key", f"{keys}.pub", "--evidence", str(out)
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "LAMP-001 PASS" in verify.stdout
    assert "LAMP0000000001" in verify.stdout  # the certificate names the part it was given


def test_the_plugin_check_catches_the_plugin_duts_faulty_variant(
    plugin_harness: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ev"
    run = _run(
        plugin_harness,
        *("certify", str(PROFILE), "--dut", "sim:lamp-ecu:slow-follow", "--out", str(out)),
    )
    assert run.returncode == 1, run.stdout + run.stderr
    record = json.loads((out / "run.json").read_text())
    verdicts = {c["id"]: c["verdict"] for c in record["cases"]}
    assert verdicts == {"LAMP-FOLLOWS-REQUEST": "FAIL", "LAMP-STATUS-CYCLE": "PASS"}
    failed = [k for c in record["cases"] for k in c["checks"] if k["verdict"] == "FAIL"]
    assert failed and all(k["kind"] == "mirrors" for k in failed)
    assert "do not mirror the command" in failed[0]["summary"]
    assert not (out / "certificate.dsse.json").exists()


DUPLICATE = {
    "pyproject.toml": """\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "harness-dup-plugin"
        version = "0.1.0"

        [project.entry-points."cc_harness.checks"]
        cycle_time = "dup_plugin:CycleTime"

        [project.entry-points."cc_harness.duts"]
        cc-tcu-1 = "dup_plugin:PROVIDER"

        [tool.setuptools]
        py-modules = ["dup_plugin"]
        """,
    "dup_plugin.py": """\
        from harness.checks.can_timing import CycleTimeCheck as CycleTime
        from harness.sim.provider import TcuProvider

        PROVIDER = TcuProvider()
        """,
}


def test_a_plugin_taking_a_harness_name_is_refused_naming_both(tmp_path: Path) -> None:
    package = tmp_path / "dup"
    package.mkdir()
    for name, text in DUPLICATE.items():
        (package / name).write_text(textwrap.dedent(text))
    harness = _venv_with(tmp_path / "venv", package)
    run = _run(harness, "validate", str(PROFILE))
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    message = " ".join(run.stderr.split())
    assert "check kind 'cycle_time' is registered twice: by harness and by entry point " in message
    assert "cycle_time = dup_plugin:CycleTime (harness-dup-plugin)" in message
    run = _run(harness, "sim", "list")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    message = " ".join(run.stderr.split())
    assert "DUT provider 'cc-tcu-1' is registered twice: by harness and by entry point" in message
    assert "(harness-dup-plugin)" in message


def test_qualify_runs_the_plugin_duts_own_variants(plugin_harness: Path, tmp_path: Path) -> None:
    out = tmp_path / "q"
    run = _run(
        plugin_harness,
        *("qualify", str(PROFILE), "--dut", "sim:lamp-ecu", "--out", str(out)),
        *("--runs", "2", "--realtime-runs", "0", "--jobs", "1"),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads((out / "qualification.json").read_text())
    assert report["options"]["dut"] == "lamp-ecu"
    verdicts = {v["name"]: v["verdict"] for v in report["variants"]}
    assert verdicts == {"slow-follow": "caught", "slow-status": "caught"}
    replays = [r["replay"] for r in report["runs"] if r["variant"] == "slow-follow"]
    assert replays and "--dut sim:lamp-ecu:slow-follow" in replays[0]
