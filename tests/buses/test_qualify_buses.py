"""Qualifying a profile of several buses: the simulated reference runs and every faulty
variant on two buses; real-time runs give the simulator process a bus of its own for each
named bus (udp_multicast, a free port each, FD where the bus is)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.bench import Bench
from harness.cli import main
from harness.dut import DUTS
from harness.profile.compile import load_profile
from harness.qualify.simproc import SimProcessLane
from tests.buses.relay_part import RelayProvider

PROFILE = Path(__file__).resolve().parent / "relay.yaml"


@pytest.fixture(scope="module", autouse=True)
def _provider() -> Iterator[None]:
    DUTS.add("relay", RelayProvider(), origin="test")
    try:
        yield
    finally:
        DUTS.unregister("relay")


def test_a_two_bus_profile_qualifies_with_each_variant_caught_on_its_bus(tmp_path: Path) -> None:
    out = tmp_path / "q"
    argv = ["qualify", str(PROFILE), "--dut", "sim:relay", "--runs", "2", "--realtime-runs", "0"]
    assert main([*argv, "--jobs", "1", "--out", str(out)]) == 0
    report = json.loads((out / "qualification.json").read_text())
    assert report["qualified"] is True
    assert all(c["passed"] for c in report["criteria"])
    caught = {v["name"]: (v["verdict"], v["detecting_cases"]) for v in report["variants"]}
    assert caught == {
        "slow-alive": ("caught", ["TC-RL-001"]),  # the front bus's case only
        "front-extra-id": ("caught", ["TC-RL-001"]),  # allowed_ids of the front bus
        "leak-to-rear": ("caught", ["TC-RL-002"]),  # the rear bus's case only
        "no-follow": ("caught", ["TC-RL-003"]),
    }


def test_real_time_runs_give_the_simulator_process_every_bus() -> None:
    plan = load_profile(PROFILE)
    lane = SimProcessLane(plan, Bench(), dut="relay")
    sim, _ = lane._sim_bench()
    assert list(sim["can"]) == ["front", "rear"]
    front, rear = sim["can"]["front"], sim["can"]["rear"]
    assert front["interface"] == rear["interface"] == "udp_multicast"
    assert front["options"]["port"] != rear["options"]["port"]
    assert front["options"].get("fd") is True and "fd" not in rear["options"]
    assert lane.bench.bus_configs(["front", "rear"])["rear"].options == rear["options"]
