"""The contract's E2E check values (reference-gw.md, "E2E protection") hold through the
project's registered AUTOSAR schemes (the autosar-e2e package computes the CRCs), for the
messages as the installed CC-GW-1 DBCs define them; protect/verify is a law, and a single
flipped bit never verifies. Also the simulator's identity from a bench."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.bench import Bench
from harness.can.dbc import CanDatabase, load_dbc
from harness.errors import InputError
from harness.sim.gw import protection
from harness.sim.gw_config import BEHAVIOURS, GwBehaviour
from harness.sim.gw_provider import bus_dbcs, gw_identity_from_bench
from harness.sim.gw_uds import isotp_frame_options, routing_table

DBCS = bus_dbcs()
BACKBONE: CanDatabase = load_dbc(DBCS["backbone"])
BODY: CanDatabase = load_dbc(DBCS["body"])
VEHINFO = BODY.message("BODY_VehInfo")
STATUS = BODY.message("GW_Status")
PT = BACKBONE.message("PT_Status")
STATUS_FD = BACKBONE.message("GW_StatusFD")
P01_VEHINFO = protection(VEHINFO, "autosar_p01", data_id=0x0210, data_id_mode="both")
P01_STATUS = protection(STATUS, "autosar_p01", data_id=0x01F0, data_id_mode="both")
P05_PT = protection(PT, "autosar_p05", data_id=0x00C0)
P05_STATUS_FD = protection(STATUS_FD, "autosar_p05", data_id=0x10F0)


def _zero(msg: object, **values: object) -> dict[str, object]:
    names = msg.signals  # type: ignore[attr-defined]
    return {name: values.get(name, 0) for name in names}


@pytest.mark.parametrize(
    ("prot", "msg", "values", "counter", "expected"),
    [
        (
            P01_VEHINFO,
            VEHINFO,
            {"SpeedValid": 1, "Gear": "D", "VehicleSpeed": 100.0},
            3,
            "23 73 E8 03 00 00 00 00",
        ),
        (P01_STATUS, STATUS, {"ForwardedCount": 5}, 0, "B6 00 05 00 00 00 00 00"),
        (
            P05_PT,
            PT,
            {"VehicleSpeed": 100.0, "Gear": "D", "EngineState": "RUNNING"},
            7,
            "6B E8 07 10 27 13" + " 00" * 26,
        ),
    ],
    ids=["BODY_VehInfo", "GW_Status", "PT_Status"],
)
def test_the_contract_check_values(
    prot: object, msg: object, values: dict[str, object], counter: int, expected: str
) -> None:
    data = msg.encode(_zero(msg, **values))  # type: ignore[attr-defined]
    sealed = prot.protect(data, counter)  # type: ignore[attr-defined]
    assert sealed.hex(" ").upper() == expected
    assert prot.verify(sealed)  # type: ignore[attr-defined]
    assert not prot.verify(prot.corrupt(sealed))  # type: ignore[attr-defined]


def test_profile_1_refuses_the_counter_15() -> None:
    """What the p01-counter-15 variant sends: a correct CRC over a counter of 15, which
    Profile 1 forbids; the library's check refuses it."""
    data = VEHINFO.encode(_zero(VEHINFO, SpeedValid=1, Gear="D", VehicleSpeed=50.0))
    assert P01_VEHINFO.verify(P01_VEHINFO.protect(data, 14))
    assert not P01_VEHINFO.verify(P01_VEHINFO.protect(data, 15))


def test_a_profile_5_crc_over_fewer_bytes_does_not_verify() -> None:
    """What the p05-crc-short variant sends: the CRC over 8 of GW_StatusFD's 16 bytes."""
    short = protection(STATUS_FD, "autosar_p05", data_id=0x10F0, length=8)
    data = STATUS_FD.encode(_zero(STATUS_FD, ForwardedCount=300, DroppedCount=2))
    assert P05_STATUS_FD.verify(P05_STATUS_FD.protect(data, 9))
    assert not P05_STATUS_FD.verify(short.protect(data, 9))


@given(
    counter=st.integers(0, 14),
    speed=st.integers(0, 0xFFFF),
    gear=st.integers(0, 7),
    bit=st.integers(0, 63),
)
def test_profile_1_protect_then_verify_and_one_flipped_bit_never_verifies(
    counter: int, speed: int, gear: int, bit: int
) -> None:
    data = bytearray(8)
    data[1] = 0x10 | gear << 5
    data[2:4] = speed.to_bytes(2, "little")
    sealed = P01_VEHINFO.protect(bytes(data), counter)
    assert P01_VEHINFO.verify(sealed)
    assert P01_VEHINFO.counter_of(sealed) == counter
    flipped = bytearray(sealed)
    flipped[bit // 8] ^= 1 << (bit % 8)
    assert not P01_VEHINFO.verify(bytes(flipped))


@given(
    counter=st.integers(0, 255),
    payload=st.binary(min_size=29, max_size=29),
    bit=st.integers(0, 255),
)
def test_profile_5_protect_then_verify_and_one_flipped_bit_never_verifies(
    counter: int, payload: bytes, bit: int
) -> None:
    sealed = P05_PT.protect(bytes(3) + payload, counter)
    assert P05_PT.verify(sealed) and P05_PT.counter_of(sealed) == counter
    flipped = bytearray(sealed)
    flipped[bit // 8] ^= 1 << (bit % 8)
    assert not P05_PT.verify(bytes(flipped))


def test_the_dbcs_come_from_the_installed_package() -> None:
    assert all(path.is_file() and path.parent.name == "data" for path in DBCS.values())
    assert STATUS_FD.frame_id == 0x18FF10F0 and STATUS_FD.is_extended and STATUS_FD.is_fd
    assert PT.is_fd and not PT.is_extended and PT.length == 32
    assert [m.cycle_time for m in (PT, STATUS_FD, VEHINFO, STATUS)] == [0.01, 0.1, 0.02, 0.1]


def test_the_routing_table_and_the_fd_diagnostics_switch() -> None:
    table = routing_table()
    assert len(table) == 32 and table[:4] == bytes([0x03, 0x00, 0x03, 0x01])
    correct = isotp_frame_options(GwBehaviour())
    assert correct == {
        "padding": 0xCC,
        "can_fd": True,
        "tx_data_length": 64,
        "bitrate_switch": True,
    }
    assert isotp_frame_options(BEHAVIOURS["classic-diagnostics"]) == {"padding": 0xCC}
    assert isotp_frame_options(BEHAVIOURS["diag-fd-no-brs"])["bitrate_switch"] is False


def test_the_simulators_identity_comes_from_the_bench() -> None:
    bench = Bench.model_validate(
        {"dut": {"vin": "WVWZZZ1JZXW000001", "serial": "GW-SERIAL-000042", "sw_version": "X1"}}
    )
    ident = gw_identity_from_bench(bench)
    assert (ident.vin, ident.serial, ident.sw_version) == (
        "WVWZZZ1JZXW000001",
        "GW-SERIAL-000042",
        "X1",
    )
    with pytest.raises(InputError, match="serial"):
        gw_identity_from_bench(Bench.model_validate({"dut": {"serial": "SHORT0000001"}}))
