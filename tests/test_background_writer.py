"""run.json written off the run's thread (harness.trace.BackgroundWriter): the newest text
lands, nothing is left half-written, an error reaches the run, and a simulated run's
run.json is the same with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import harness.session as session_module
from harness.bench import Bench
from harness.plan import Plan
from harness.profile.compile import load_profile
from harness.session import DutChoice, Session
from harness.trace import BackgroundWriter, write_text_atomic
from tests.conftest import PROFILE


def test_the_newest_text_of_each_file_lands(tmp_path: Path) -> None:
    writer = BackgroundWriter()
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for k in range(200):
        writer.submit(a, json.dumps({"k": k}))
        if k % 7 == 0:
            writer.submit(b, json.dumps({"b": k}))
    writer.wait()
    assert json.loads(a.read_text()) == {"k": 199}
    assert json.loads(b.read_text()) == {"b": 196}
    assert a.read_text().endswith("\n")
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]  # no temp left


def test_a_failed_write_reaches_wait(tmp_path: Path) -> None:
    writer = BackgroundWriter()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    writer.submit(blocker / "run.json", "{}")
    with pytest.raises(OSError):
        writer.wait()
    writer.submit(tmp_path / "ok.json", "{}")  # and it goes on
    writer.close()
    assert (tmp_path / "ok.json").read_text() == "{}\n"


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_profile(PROFILE)


def test_a_simulated_run_leaves_the_same_record_as_one_written_in_line(
    tmp_path: Path, plan: Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_module, "FLUSH_INTERVAL", 0.0)  # every case to the writer
    chosen = [c for c in plan.cases if c.case_id.startswith("TC-CAN-00")][:4]
    submitted: list[str] = []
    submit = BackgroundWriter.submit

    def counted(self: BackgroundWriter, path: Path, text: str) -> None:
        submitted.append(text)
        submit(self, path, text)

    def run(out: Path) -> dict[str, object]:
        with Session(plan, Bench(), DutChoice.parse("sim"), out_dir=out, seed=7) as s:
            s.run_all(chosen)
        record: dict[str, object] = json.loads((out / "run.json").read_text())
        for key in ("run_id", "started", "ended"):
            record.pop(key)
        return record

    monkeypatch.setattr(BackgroundWriter, "submit", counted)
    background = run(tmp_path / "background")
    assert len(submitted) == len(chosen)  # each case's record went through the writer
    assert [len(json.loads(t)["cases"]) for t in submitted] == [1, 2, 3, 4]
    monkeypatch.setattr(
        BackgroundWriter, "submit", lambda self, path, text: write_text_atomic(path, text)
    )
    inline = run(tmp_path / "inline")
    assert background == inline
    assert not [p for p in (tmp_path / "background").iterdir() if p.name.endswith(".tmp")]
