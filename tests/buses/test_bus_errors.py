"""Bad bus references in a two-bus profile (``relay.yaml``) or its bench: exit 2 naming the
place and what was expected, never a traceback, nothing written; a good bench maps each bus."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.bench import Bench, load_bench
from harness.cli import main
from harness.errors import BenchError, ProfileError
from harness.profile.compile import load_profile
from harness.session import DutChoice, Session
from tests.buses.conftest import copy_profile, write_bench

HERE = Path(__file__).resolve().parent


@pytest.fixture()
def profile(tmp_path: Path) -> Path:
    return copy_profile(tmp_path, HERE / "relay.yaml")


PROFILE_EDITS = [
    # (old, new, the place, a phrase of the message)
    (
        "  ready: {message: RELAY_Alive}",
        "  ready: {message: RELAY_Alive, bus: rear}",
        "dut.ready.message",
        "unknown message",
    ),
    (
        "      - send: {bus: rear, id: 0x7F0",
        "      - send: {id: 0x7F0",
        "cases[1].steps[0].send",
        "several buses (front, rear): a raw frame needs bus: NAME",
    ),
    (
        "      - send: {bus: rear, id: 0x7F0",
        "      - send: {bus: middle, id: 0x7F0",
        "cases[1].steps[0].send.bus",
        "no bus of this name",
    ),
    (
        "{kind: allowed_ids, ids: [0x110], bus: front}",
        "{kind: allowed_ids, ids: [0x110], bus: x}",
        "cases[0].steps[0].checks[1].bus",
        "no bus of this name",
    ),
    (
        "{kind: cycle_time, message: RELAY_Alive, min: 40 ms, max: 60 ms}",
        "{kind: cycle_time, message: RELAY_Alive, min: 40 ms, max: 60 ms, bus: rear}",
        "cases[0].steps[0].checks[0].message",
        "on bus front, but this check reads bus rear",
    ),
    (
        "  rear: {dbc: {path: data/rear.dbc, encoding: utf-8}, bitrate: 250000}",
        "  rear: {dbc: data/front.dbc, bitrate: 250000}",
        "dut.ready.message",
        "message RELAY_Alive is on several buses (front, rear)",
    ),
    (
        "  rear: {dbc: {path: data/rear.dbc, encoding: utf-8}, bitrate: 250000}",
        "  rear: {dbc: {path: data/missing.dbc}, bitrate: 250000}",
        "buses.rear.dbc.path",
        "DBC file not found",
    ),
    ("buses:\n", "dbc: data/front.dbc\nbuses:\n", "dbc", "both dbc and buses"),
    ("buses:\n", "bitrate: 500000\nbuses:\n", "bitrate", "single-bus form"),
    ("  front: {dbc:", "  1front: {dbc:", "buses", "1front"),
    ("cases:\n", "diagnostics: {bus: middle}\ncases:\n", "diagnostics.bus", "no bus of this"),
]


@pytest.mark.parametrize(("old", "new", "place", "phrase"), PROFILE_EDITS)
def test_a_bad_bus_reference_is_exit_2_at_its_place(
    profile: Path,
    capsys: pytest.CaptureFixture[str],
    old: str,
    new: str,
    place: str,
    phrase: str,
) -> None:
    text = profile.read_text(encoding="utf-8")
    assert old in text
    profile.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ProfileError):
        load_profile(profile)
    assert main(["validate", str(profile)]) == 2
    err = capsys.readouterr().err
    assert "relay.yaml:" in err and f" {place}" in err and phrase in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("section", "place", "phrase"),
    [
        (
            "  front: {interface: virtual, channel: f}\n  middle: {interface: virtual}\n",
            "bench.yaml:5:3 can.middle",
            "no bus 'middle' in the profile",
        ),
        (
            "  front: {interface: virtual, channel: f}\n",
            "bench.yaml:4:3 can",
            "no interface for the profile's bus(es) rear",
        ),
        (
            "  interface: udp_multicast\n  channel: 239.74.163.2\n",
            "bench.yaml:4:3 can",
            "the profile has 2 buses (front, rear) and this bench one udp_multicast interface",
        ),
    ],
)
def test_a_bench_that_does_not_map_the_buses_is_exit_2_at_its_place(
    profile: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    section: str,
    place: str,
    phrase: str,
) -> None:
    bench = write_bench(tmp_path, section)
    with pytest.raises(BenchError):
        Session(load_profile(profile), load_bench(bench), DutChoice.parse("external"))
    code = main(
        [
            "certify",
            str(profile),
            "--dut",
            "external",
            "--bench",
            str(bench),
            "--out",
            str(tmp_path / "never"),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert place in err and phrase in err, err
    assert not (tmp_path / "never").exists()


def test_a_bench_maps_each_bus_to_its_interface(tmp_path: Path) -> None:
    bench = load_bench(
        write_bench(
            tmp_path,
            "  front: {interface: socketcan, channel: can0, options: {fd: true}}\n"
            "  rear: {interface: udp_multicast, channel: 239.74.163.2, options: {port: 43000}}\n",
        )
    )
    configs = bench.bus_configs(["front", "rear"])
    assert (configs["front"].interface, configs["front"].channel) == ("socketcan", "can0")
    assert configs["rear"].options == {"port": 43000}
    assert bench.can == configs["front"]  # the first bus is the bench's primary
    with pytest.raises(BenchError, match=r"can.rear.options.prot"):
        load_bench(
            write_bench(tmp_path, "  rear: {interface: udp_multicast, options: {prot: 1}}\n")
        )
    # the single form maps to the one bus of a one-bus profile, whatever its name
    single = Bench()
    assert single.bus_configs(["can"]) == {"can": single.can}
