"""``harness evaluate --dbc`` on a run of several buses: ``--dbc BUS=PATH`` (repeatable)
replaces a bus's DBC (the others come from the evidence folder's ``dbc/BUS/FILE``), and the
verdicts come back per bus; a name the profile lacks, a bus named twice, or one plain PATH
for two buses is exit 2 naming it. The files may be named otherwise than the profile names
them: the run's DBC digest is of their contents under the profile's names.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import main
from harness.dut import DUTS
from harness.offline import evaluate_evidence, load_evidence
from harness.record import Verdict
from tests.buses.relay_part import RelayProvider
from tests.report.conftest import assert_agrees

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module", autouse=True)
def _provider() -> Iterator[None]:
    DUTS.add("relay", RelayProvider(), origin="test")
    try:
        yield
    finally:
        DUTS.unregister("relay")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-bus run whose rear bus fails (leak-to-rear: allowed_ids of rear, TC-RL-002)."""
    base = tmp_path_factory.mktemp("evaluate-dbc")
    shutil.copytree(HERE / "data", base / "data")
    profile = base / "relay.yaml"
    profile.write_text((HERE / "relay.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    out = base / "run"
    argv = ["certify", str(profile), "--dut", "sim:relay:leak-to-rear", "--out", str(out)]
    assert main([*argv, "--quiet"]) == 1
    return out


@pytest.fixture()
def mine(tmp_path: Path) -> dict[str, Path]:
    """The two DBCs at another place, under other names."""
    out = {}
    for bus in ("front", "rear"):
        out[bus] = tmp_path / "mine" / f"{bus}-v1.dbc"
        out[bus].parent.mkdir(exist_ok=True)
        shutil.copyfile(HERE / "data" / f"{bus}.dbc", out[bus])
    return out


def _verdicts(folder: Path, dbc: dict[str, Path]) -> dict[tuple[str, str], Verdict]:
    ev = load_evidence(folder, dbc=dbc)
    assert ev.plan is not None
    for bus in ev.plan.bus_list():
        assert bus.dbc_path == dbc.get(bus.name, folder / "dbc" / bus.name / f"{bus.name}.dbc")
    evaluation = evaluate_evidence(ev)
    assert_agrees(evaluation)
    return {
        (c.case_id, k.kind): k.recomputed.verdict
        for c in evaluation.cases
        for k in c.checks
        if k.recomputed is not None
    }


def test_each_bus_s_dbc_given_reproduces_the_verdicts_per_bus(
    run: Path, mine: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    for given in (mine, {"front": mine["front"]}, {"rear": mine["rear"]}):
        verdicts = _verdicts(run, given)
        assert verdicts[("TC-RL-002", "allowed_ids")] is Verdict.FAIL  # the rear bus's
        assert verdicts[("TC-RL-001", "allowed_ids")] is Verdict.PASS  # the front bus's
        assert verdicts[("TC-RL-001", "cycle_time")] is Verdict.PASS
    argv = [
        "evaluate",
        str(run),
        "--dbc",
        f"front={mine['front']}",
        "--dbc",
        f"rear={mine['rear']}",
    ]
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert f"front={mine['front']}" in said and f"rear={mine['rear']}" in said, said
    assert main(["evaluate", str(run), "--dbc", f"rear={mine['rear']}"]) == 0
    assert "the others from" in capsys.readouterr().out


def test_a_dbc_other_than_the_run_s_is_said(run: Path, mine: dict[str, Path]) -> None:
    with mine["rear"].open("a", encoding="utf-8") as f:
        f.write('\nCM_ "edited after the run";\n')
    ev = load_evidence(run, dbc={"rear": mine["rear"]})
    assert any("not the DBC this run used" in p for p in ev.problems), ev.problems
    assert main(["evaluate", str(run), "--dbc", f"rear={mine['rear']}"]) == 1


@pytest.mark.parametrize(
    ("args", "phrases"),
    [
        (["back={front}"], ["--dbc names bus 'back'", "front", "rear"]),
        (["front={front}", "front={rear}"], ["--dbc names bus 'front' twice"]),
        (["{front}"], ["one DBC given in place of the profile's", "2 buses (front, rear)"]),
        (["{front}", "rear={rear}"], ["is a plain PATH beside other --dbc options"]),
        (["rear="], ["no file after 'rear='"]),
    ],
)
def test_a_bad_dbc_option_is_exit_2_naming_it(
    run: Path,
    mine: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    phrases: list[str],
) -> None:
    argv = ["evaluate", str(run)]
    for arg in args:
        argv += ["--dbc", arg.format(front=mine["front"], rear=mine["rear"])]
    assert main(argv) == 2
    err = capsys.readouterr().err
    for phrase in phrases:
        assert phrase in err, err
    assert "Traceback" not in err
