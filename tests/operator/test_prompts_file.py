"""Prompt steps answered from a file (``--answers``): recorded in run.json and prompts.jsonl,
judged again offline, and never a pass without an answer."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import case_in_run, run_harness
from tests.operator.prompts import CASE, answers_file, operator_profile


def _certify(profile: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = run_harness(["certify", str(profile), "--case", CASE, "--out", str(out), *extra])
    return result.returncode, result.stdout + result.stderr


def test_answers_from_a_file_are_recorded_and_reevaluated(tmp_path: Path) -> None:
    profile = operator_profile(tmp_path)
    answers = answers_file(tmp_path / "answers.yaml", plug="yes", lamp="pass", supply=12.1)
    out = tmp_path / "run"
    code, text = _certify(profile, out, "--answers", str(answers))
    assert code == 0, text
    _, case = case_in_run(out, CASE)
    prompts = [c for c in case["checks"] if c["kind"] == "operator_prompt"]
    assert [c["verdict"] for c in prompts] == ["PASS", "PASS", "PASS"]
    assert [c["measurements"]["answer"] for c in prompts] == ["yes", "pass", 12.1]
    assert {c["measurements"]["answered_by"] for c in prompts} == {"ci-bot"}
    assert {c["measurements"]["source"] for c in prompts} == {"file"}
    assert all(c["measurements"]["answered_at"] for c in prompts)
    assert prompts[2]["limits"] == {"min": 11.5, "max": 14.5, "unit": "V"}
    log = [json.loads(line) for line in (out / "prompts.jsonl").read_text().splitlines()]
    assert [e["key"] for e in log] == [f"{CASE}/plug", f"{CASE}/lamp", f"{CASE}/supply"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert "prompts.jsonl" in {f["path"] for f in manifest["files"]}

    agree = run_harness(["evaluate", str(out)])
    assert agree.returncode == 0, agree.stdout + agree.stderr
    # an answer changed after the run: offline re-judging disagrees with run.json
    (out / "prompts.jsonl").write_text(
        (out / "prompts.jsonl").read_text().replace('"answer": 12.1', '"answer": 15.2')
    )
    differ = run_harness(["evaluate", str(out)])
    assert differ.returncode == 1, differ.stdout
    assert "15.2" in differ.stdout and "TC-OPERATOR" in differ.stdout


def test_wrong_answers_fail_and_bad_answers_are_errors(tmp_path: Path) -> None:
    profile = operator_profile(tmp_path)
    answers = answers_file(tmp_path / "a.yaml", plug="no", lamp="fail", supply=15.0)
    code, text = _certify(profile, tmp_path / "run", "--answers", str(answers))
    assert code == 1, text
    _, case = case_in_run(tmp_path / "run", CASE)
    verdicts = [c["verdict"] for c in case["checks"] if c["kind"] == "operator_prompt"]
    assert verdicts == ["ERROR", "FAIL", "FAIL"]
    assert case["verdict"] == "ERROR"

    answers = answers_file(tmp_path / "b.yaml", plug="maybe", lamp="pass", supply="twelve")
    code, text = _certify(profile, tmp_path / "run2", "--answers", str(answers))
    assert code == 1, text
    _, case = case_in_run(tmp_path / "run2", CASE)
    checks = [c for c in case["checks"] if c["kind"] == "operator_prompt"]
    assert [c["verdict"] for c in checks] == ["ERROR", "PASS", "ERROR"]
    assert "expected yes or no" in checks[0]["summary"]


def test_a_missing_answer_is_an_error_never_a_pass(tmp_path: Path) -> None:
    profile = operator_profile(tmp_path)
    answers = answers_file(tmp_path / "a.yaml", plug="yes", lamp="pass")  # no supply
    out = tmp_path / "run"
    code, text = _certify(profile, out, "--answers", str(answers))
    assert code == 2, text
    assert f"{CASE}/supply" in text and "never a pass" in text
    assert "Traceback" not in text
    assert not (out / "run.json").exists()

    # nobody to answer (no file, no server, stdin not a terminal): the case is ERROR
    code, text = _certify(profile, tmp_path / "run2")
    assert code == 1, text
    _, case = case_in_run(tmp_path / "run2", CASE)
    assert case["verdict"] == "ERROR"
    assert "needs an operator" in case["error"]


def test_a_malformed_answers_file_is_exit_2(tmp_path: Path) -> None:
    profile = operator_profile(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just a list\n")
    code, text = _certify(profile, tmp_path / "run", "--answers", str(bad))
    assert code == 2 and "not an answers file" in text and "Traceback" not in text
