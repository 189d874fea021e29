"""The public Python API: the curated namespace, measurements with marginal bands, and a
lab's own cases on a simulated session."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import harness
from harness.errors import InputError
from tests.conftest import PROFILE, ROOT

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


def test_namespace_is_curated_and_lazy() -> None:
    for name in harness.__all__:
        assert getattr(harness, name) is not None, name
    # importing the package loads none of the heavy parts
    code = (
        "import sys, harness; "
        "heavy = [m for m in ('can', 'cantools', 'pydantic', 'rich', 'harness.session') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
    with pytest.raises(AttributeError):
        _ = harness.no_such_name  # type: ignore[attr-defined]


@given(lo=finite, width=st.floats(0, 1e4), band=st.floats(0, 1), value=finite)
def test_measurement_law(lo: float, width: float, band: float, value: float) -> None:
    """PASS exactly inside the inclusive limits; marginal exactly inside them and in a band."""
    hi = lo + width
    mlo = lo + width * band / 2
    mhi = max(mlo, hi - width * band / 2)  # float rounding may cross them at band 1
    m = harness.Measurement("x", "V", lower=lo, upper=hi, marginal_lower=mlo, marginal_upper=mhi)
    result = m.judge(value)
    inside = lo <= value <= hi
    assert (result.verdict is harness.Verdict.PASS) == inside
    marginal = inside and (value <= mlo or value >= mhi)
    assert result.measurements["marginal"] == marginal
    assert ("MARGINAL" in result.summary) == marginal


def test_measurement_edges() -> None:
    m = harness.Measurement(
        "cycle", "ms", lower=90, upper=110, marginal_lower=95, marginal_upper=105
    )
    assert m.judge(90).verdict is harness.Verdict.PASS and m.judge(90).measurements["marginal"]
    assert m.judge(100).measurements["marginal"] is False
    assert m.judge(89.999).verdict is harness.Verdict.FAIL
    assert m.judge(None).verdict is harness.Verdict.FAIL
    assert m.judge(math.nan).verdict is harness.Verdict.FAIL
    assert m.judge(120).summary.startswith("cycle = 120 ms, outside 90 ms <= x <= 110 ms")
    for bad in (
        {},  # no limit
        {"lower": 2, "upper": 1},
        {"upper": 1, "marginal_lower": 0},  # a marginal band needs its limit
        {"lower": 0, "upper": 10, "marginal_lower": -1},
        {"lower": 0, "upper": 10, "marginal_lower": 8, "marginal_upper": 2},
    ):
        with pytest.raises(InputError, match="measurement 'm'"):
            harness.Measurement("m", **bad)  # type: ignore[arg-type]


def test_lab_cases_on_a_simulated_session(tmp_path: Path) -> None:
    cycle = harness.Measurement("cycle", "ms", lower=90, upper=110)
    with harness.open_session(PROFILE, out=tmp_path / "ev") as lab:
        with lab.case("LAB-1", "measured", requirements=["CAN-001"]) as case:
            t0 = lab.now()
            lab.bus.run_for(1.0)
            frames = lab.bus.frames("TCU_Status", since=t0)
            case.measure(cycle, (frames[-1].timestamp - frames[0].timestamp) * 1000 / 9)
            case.check({"kind": "alive_counter", "message": "TCU_Status", "requirements":
                        ["CAN-001"]})  # fmt: skip
        with pytest.raises(ZeroDivisionError), lab.case("LAB-2", requirements=["CAN-002"]):
            _ = 1 / 0
        with lab.case("LAB-3", requirements=["CAN-003"]):
            pass  # judged nothing
        with pytest.raises(InputError, match="not a requirement of the set"):
            lab.case("LAB-4", requirements=["NOPE-1"])
        with pytest.raises(InputError, match="an id no profile case"):
            lab.case("TC-CAN-003", requirements=["CAN-003"])
        with lab.case("LAB-5", requirements=["CAN-003"]) as case:
            with pytest.raises(InputError, match=r"LAB-5\.checks\[0\]\.kind.*alive_countr"):
                case.check({"kind": "alive_countr", "message": "TCU_Status"})
            with pytest.raises(InputError, match="unknown message"):
                case.check({"kind": "alive_counter", "message": "TCU_Statu"})
            with pytest.raises(InputError, match="only trace its case's requirements"):
                case.measure(harness.Measurement("y", upper=1, requirements=("CAN-004",)), 0)
    run = json.loads((tmp_path / "ev" / "run.json").read_text())
    got = {c["id"]: (c["verdict"], c["requirements"]) for c in run["cases"]}
    assert got == {
        "LAB-1": ("PASS", ["CAN-001"]),
        "LAB-2": ("ERROR", ["CAN-002"]),
        "LAB-3": ("INCONCLUSIVE", ["CAN-003"]),
        "LAB-5": ("INCONCLUSIVE", ["CAN-003"]),
    }
    assert run["cases"][1]["error"] == "ZeroDivisionError: division by zero"
    assert [c["kind"] for c in run["cases"][0]["checks"]] == ["measurement", "alive_counter"]
    # none of the profile's cases ran: evidence for the lab's cases, no certificate
    assert run["status"] == "COMPLETED" and run["selected_cases"] == []
    assert (tmp_path / "ev" / "report" / "report.html").is_file()


def test_a_profile_written_in_python(tmp_path: Path) -> None:
    text = PROFILE.read_text()
    data = yaml.safe_load(text)
    data["cases"] = [c for c in data["cases"] if c["id"] == "TC-CAN-003"]
    with harness.open_session(data, base_dir=PROFILE.parent, out=tmp_path / "ev") as lab:
        assert [c.case_id for c in lab.plan.cases] == ["TC-CAN-003"]
        lab.run_profile()
    run = json.loads((tmp_path / "ev" / "run.json").read_text())
    assert run["passed"] and run["selected_cases"] is None
    assert (tmp_path / "ev" / "profile.yaml").is_file()
