"""Check kinds registered after import validate, print in the schema and hint like built-ins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from harness.checks import CHECKS, Check, CheckParams, Resolver
from harness.errors import InputError, ProfileError
from harness.observe import Window
from harness.profile.compile import load_profile_text
from harness.profile.model import Profile
from harness.record import CheckResult, Verdict

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
VALID = (CORPUS / "valid-minimal.yaml").read_text()
CYCLE = """          - kind: cycle_time
            message: TCU_Status
            min: 90 ms
            max: 110 ms
"""


class LabParams(CheckParams):
    kind: Literal["lab_frames"]
    at_least: int


class LabCheck(Check):
    """A check kind as a lab's package would define it (not decorated: registered here)."""

    kind = "lab_frames"
    Params = LabParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        super().__init__(params, resolver)
        assert isinstance(params, LabParams)
        self.at_least = params.at_least

    def evaluate(self, window: Window) -> CheckResult:
        i, j = window.log.rx_all.span(window.t0, window.t1)
        n = j - i
        ok = n >= self.at_least
        return self.result(Verdict.PASS if ok else Verdict.FAIL, f"{n} frames")


@pytest.fixture
def lab_kind() -> Iterator[None]:
    CHECKS.add("lab_frames", LabCheck, origin="test")
    try:
        yield
    finally:
        CHECKS.unregister("lab_frames")


def _with(check: str) -> str:
    assert CYCLE in VALID
    return VALID.replace(CYCLE, check)


LAB = "          - kind: lab_frames\n            at_least: 3\n"


def test_a_kind_unknown_at_import_is_refused_then_accepted_once_registered() -> None:
    with pytest.raises(ProfileError) as err:
        load_profile_text(_with(LAB), "p.yaml", CORPUS)
    assert "expected a known check kind, but got 'lab_frames'" in str(err.value)
    CHECKS.add("lab_frames", LabCheck, origin="test")
    try:
        plan = load_profile_text(_with(LAB), "p.yaml", CORPUS)
        checks = [c for case in plan.cases for s in case.steps for c in s.checks]
        assert any(isinstance(c, LabCheck) and c.at_least == 3 for c in checks)
    finally:
        CHECKS.unregister("lab_frames")


def test_a_registered_kind_is_in_the_schema_and_the_hints(lab_kind: None) -> None:
    schema = Profile.model_json_schema(by_alias=True)
    assert "LabParams" in schema["$defs"]
    assert schema["$defs"]["LabParams"]["properties"]["kind"]["const"] == "lab_frames"
    with pytest.raises(ProfileError) as err:
        load_profile_text(_with("          - kind: lab_frame\n"), "p.yaml", CORPUS)
    assert "did you mean 'lab_frames'?" in str(err.value)
    assert "lab_frames" in (err.value.choices or [])


def test_a_registered_kinds_field_errors_point_at_the_field(lab_kind: None) -> None:
    bad = "          - kind: lab_frames\n            at_least: many\n"
    with pytest.raises(ProfileError) as err:
        load_profile_text(_with(bad), "p.yaml", CORPUS)
    text = str(err.value)
    assert "cases[0].steps[2].checks[0].at_least: expected an integer, but got text 'many'" in text
    assert "p.yaml:42:23 " in text  # the line of at_least (the check starts on 41)


def test_a_kind_registered_twice_or_malformed_is_refused(lab_kind: None) -> None:
    with pytest.raises(InputError, match="'lab_frames' is registered twice"):
        CHECKS.add("lab_frames", LabCheck, origin="another package")
    with pytest.raises(InputError, match="its kind is 'lab_frames'"):
        CHECKS.add("other_name", LabCheck, origin="test")
    with pytest.raises(InputError, match=r"not a harness\.checks\.Check subclass"):
        CHECKS.add("not_a_check", object, origin="test")  # type: ignore[arg-type]
    assert "other_name" not in CHECKS and "not_a_check" not in CHECKS
