"""The broken-input corpus: every bad profile or bench file is exit 2 and one screen of error.

Each file under ``tests/corpus/profiles`` is a copy of ``tests/corpus/valid-minimal.yaml``
with one defect, and each file under ``tests/corpus/bench`` a small bench file with one
defect. The first line of every corpus file says what the error must show::

    # expect: 44:18 cases[0].steps[2].checks[0].max | expected a duration | got '100 parsecs'

that is ``line:col``, the path in the document (``-`` where the error has none, as for YAML
syntax errors) and one or more phrases, each of which the output must contain. The test
runs the real CLI (``harness validate PROFILE``; ``harness certify VALID --bench FILE`` for
bench files, which must fail before any bus is opened) and asserts exit code 2, ``error:``,
``file:line:col path:``, every phrase, no traceback, and an output that fits on one screen.

Most cases call :func:`harness.cli.main` in-process (fast); a handful run ``python -m
harness.cli`` in a subprocess to show that the installed command behaves the same.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.cli import main
from harness.yamlsafe import MAX_BYTES

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
VALID = CORPUS / "valid-minimal.yaml"

SCREEN_LINES = 24
SCREEN_COLUMNS = 80
MAX_LINE = 400

_EXPECT = re.compile(r"^# expect: (?P<line>\d+):(?P<col>\d+) (?P<path>\S+) \| (?P<phrases>.+)$")


@dataclass(frozen=True)
class Expectation:
    line: int
    col: int
    path: str | None
    phrases: tuple[str, ...]


def rel(path: Path) -> str:
    """The path as a user at the repository root types it (and as errors show it)."""
    return path.relative_to(ROOT).as_posix()


def expectation(path: Path) -> Expectation:
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    match = _EXPECT.match(first)
    assert match, f"{rel(path)}: first line must be '# expect: L:C PATH | phrase [| phrase]'"
    phrases = tuple(p.strip() for p in match["phrases"].split(" | "))
    assert all(phrases), f"{rel(path)}: empty phrase in {first!r}"
    path_text = match["path"]
    return Expectation(
        int(match["line"]), int(match["col"]), None if path_text == "-" else path_text, phrases
    )


PROFILES = sorted((CORPUS / "profiles").glob("*.yaml"))
BENCHES = sorted((CORPUS / "bench").glob("*.yaml"))
CASES = [pytest.param(p, "validate", id=f"profiles/{p.stem}") for p in PROFILES] + [
    pytest.param(p, "certify", id=f"bench/{p.stem}") for p in BENCHES
]
# Run through a real subprocess too: one of each family.
SUBPROCESS = [
    "profiles/syntax-unclosed-bracket",
    "profiles/yaml-on-plain",
    "profiles/schema-unknown-check-kind",
    "profiles/ref-unknown-message",
    "bench/bench-unknown-interface",
]


def argv(command: str, path: Path) -> list[str]:
    if command == "validate":
        return ["validate", rel(path)]
    # No bus may be opened: a bench error stops certify before the session starts. The
    # --out folder must never be created; it is checked by the caller.
    return ["certify", rel(VALID), "--bench", rel(path), "--out", "runs/corpus-must-not-exist"]


def run_in_process(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", str(SCREEN_COLUMNS))
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def run_subprocess(args: list[str]) -> tuple[int, str]:
    env = dict(os.environ, COLUMNS=str(SCREEN_COLUMNS))
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout + proc.stderr


def assert_one_screen_error(code: int, output: str) -> None:
    """Exit 2, 'error:', no traceback, and at most one 24x80 screen (long lines wrap)."""
    assert code == 2, f"exit code {code}, expected 2:\n{output}"
    assert "error:" in output, output
    assert "Traceback" not in output, output
    lines = output.rstrip("\n").split("\n")
    assert len(lines) <= SCREEN_LINES, f"{len(lines)} lines:\n{output}"
    for line in lines:
        assert len(line) < MAX_LINE, f"line of {len(line)} characters:\n{line}"
    rows = sum(max(1, -(-len(line) // SCREEN_COLUMNS)) for line in lines)
    assert rows <= SCREEN_LINES, f"{rows} rows at {SCREEN_COLUMNS} columns:\n{output}"


def assert_names_the_place(path: Path, output: str) -> None:
    want = expectation(path)
    place = f"{rel(path)}:{want.line}:{want.col}"
    place += f" {want.path}:" if want.path else ":"
    assert f"error: {place}" in output, f"expected '{place}' in:\n{output}"
    for phrase in want.phrases:
        assert phrase in output, f"expected {phrase!r} in:\n{output}"


# -- the corpus -------------------------------------------------------------------------------


def test_corpus_has_at_least_30_files() -> None:
    assert len(PROFILES) + len(BENCHES) >= 30
    assert len(BENCHES) >= 6


def test_every_corpus_file_has_an_expectation() -> None:
    for path in PROFILES + BENCHES:
        expectation(path)


def test_broken_profiles_are_copies_of_the_valid_one() -> None:
    """Each broken profile differs from valid-minimal.yaml in a few lines, not a rewrite."""
    base = VALID.read_text(encoding="utf-8").splitlines()[1:]
    base = [ln.replace("../../dbc/", "../../../dbc/") for ln in base]
    for path in PROFILES:
        if path.stem in ("yaml-empty", "yaml-top-level-list"):
            continue
        lines = path.read_text(encoding="utf-8").splitlines()[1:]
        diff = [
            ln
            for ln in difflib.unified_diff(base, lines, lineterm="", n=0)
            if ln[:1] in "+-" and not ln.startswith(("+++", "---"))
        ]
        added = sum(1 for ln in diff if ln.startswith("+"))
        removed = len(diff) - added
        assert added <= 12, f"{rel(path)} adds {added} lines"
        if path.stem != "schema-empty-cases":  # 'cases: []' replaces every case
            assert removed <= 6, f"{rel(path)} removes {removed} lines"


def test_valid_minimal_profile_validates(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = run_in_process(["validate", rel(VALID)], capsys, monkeypatch)
    assert code == 0, output
    assert "valid profile corpus-minimal" in output


def test_valid_minimal_profile_validates_in_a_subprocess() -> None:
    code, output = run_subprocess(["validate", rel(VALID)])
    assert code == 0, output
    assert "error" not in output


@pytest.mark.parametrize(("path", "command"), CASES)
def test_broken_file_is_exit_2_and_one_screen_naming_the_place(
    path: Path,
    command: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, output = run_in_process(argv(command, path), capsys, monkeypatch)
    assert_one_screen_error(code, output)
    assert_names_the_place(path, output)
    assert not (ROOT / "runs" / "corpus-must-not-exist").exists()


@pytest.mark.parametrize(("path", "command"), [c for c in CASES if c.id in SUBPROCESS])
def test_broken_file_through_the_real_command(path: Path, command: str) -> None:
    code, output = run_subprocess(argv(command, path))
    assert_one_screen_error(code, output)
    assert_names_the_place(path, output)
    assert not (ROOT / "runs" / "corpus-must-not-exist").exists()


def test_subprocess_selection_is_in_the_corpus() -> None:
    assert set(SUBPROCESS) <= {c.id for c in CASES}


# -- generated cases: too big to commit, or not text -------------------------------------------


def test_oversize_profile_is_refused_before_parsing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "oversize.yaml"
    text = VALID.read_text(encoding="utf-8")
    padding = MAX_BYTES + 1 - len(text.encode())
    big.write_text(text + "#" * (padding - 1) + "\n", encoding="utf-8")
    assert big.stat().st_size == MAX_BYTES + 1
    code, output = run_in_process(["validate", str(big)], capsys, monkeypatch)
    assert_one_screen_error(code, output)
    assert f"error: {big}: expected at most {MAX_BYTES} bytes, but got {MAX_BYTES + 1}" in output


def test_oversize_bench_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "bench.yaml"
    big.write_bytes(b"format: cc-harness-bench/1\n" + b"# x\n" * (MAX_BYTES // 4))
    args = ["certify", rel(VALID), "--bench", str(big), "--out", str(tmp_path / "out")]
    code, output = run_in_process(args, capsys, monkeypatch)
    assert_one_screen_error(code, output)
    assert f"error: {big}: expected at most {MAX_BYTES} bytes" in output
    assert not (tmp_path / "out").exists()


def test_invalid_utf8_profile_names_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "latin1.yaml"
    data = VALID.read_bytes().replace(b"title: Minimal valid", b"title: Minimal v\xe4lid", 1)
    bad.write_bytes(data)
    lines = data.split(b"\n")
    line = next(i for i, ln in enumerate(lines, 1) if b"\xe4" in ln)
    col = lines[line - 1].index(b"\xe4") + 1
    code, output = run_in_process(["validate", str(bad)], capsys, monkeypatch)
    assert_one_screen_error(code, output)
    assert f"error: {bad}:{line}:{col}:" in output
    assert "expected UTF-8 text, but found byte 0xE4" in output


def test_missing_profile_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = run_in_process(["validate", str(tmp_path / "nope.yaml")], capsys, monkeypatch)
    assert_one_screen_error(code, output)
    assert "expected a readable YAML file, but got a missing file" in output
