"""The e2e_crc and alive_counter checks through the schemes: CC-GW-1's E2E check values
(shared/reference-gw.md, "E2E protection"), frames the ``autosar-e2e`` library protects pass
and corrupted ones fail for every AUTOSAR profile, and the alive-counter check on its own
catches a 4-bit counter that repeats or skips."""

from __future__ import annotations

from typing import Any

import pytest
from e2e import p01, p02, p04, p05, p06, p07, p11
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.can.dbc import CanDatabase
from harness.can.e2e import Protection
from harness.checks import CHECKS, Check, Resolver
from harness.errors import ProfileError
from harness.observe import FrameLog, Window
from harness.record import Verdict
from tests.can.helpers import GW_DBC, OEM_DBC, load_text_dbc, protection


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> CanDatabase:
    return load_text_dbc(tmp_path_factory.mktemp("gw"), "gw.dbc", GW_DBC)


@pytest.fixture(scope="module")
def oem(tmp_path_factory: pytest.TempPathFactory) -> CanDatabase:
    return load_text_dbc(tmp_path_factory.mktemp("oem"), "oem.dbc", OEM_DBC)


class _Resolver(Resolver):
    """Check-time resolution without the classic-CAN guard (PT_Status is a 32-byte FD frame,
    which this round's bench does not carry; the scheme and check work on its bytes)."""

    def message(self, field: str, name: str) -> Any:
        return self.db.messages[name]


def make(db: CanDatabase, e2e: dict[str, Protection], spec: dict[str, Any]) -> Check:
    def error(path: Any, **kw: Any) -> ProfileError:
        return ProfileError(path=str(path), **kw)

    cls = CHECKS[spec["kind"]]
    return cls(cls.Params.model_validate(spec), _Resolver(db, e2e, [], error, ("check",), []))


def run(check: Check, frame_id: int, frames: list[bytes]) -> Any:
    log = FrameLog()
    for i, data in enumerate(frames):
        log.add_rx(0.01 * i, frame_id, data)
    return check.evaluate(Window(0.0, 0.01 * len(frames) + 1, log, {}, 500_000))


# -- the contract's check values -------------------------------------------------------------

CONTRACT = [
    (
        "BODY_VehInfo",
        "autosar_p01",
        0x0210,
        3,
        {"SpeedValid": 1, "Gear": "D", "VehicleSpeed": 100.0},
        "23 73 E8 03 00 00 00 00",
    ),
    ("GW_Status", "autosar_p01", 0x01F0, 0, {"ForwardedCount": 5}, "B6 00 05 00 00 00 00 00"),
    (
        "PT_Status",
        "autosar_p05",
        0x00C0,
        7,
        {"VehicleSpeed": 100.0, "Gear": "D", "EngineState": "RUNNING"},
        "6B E8 07 10 27 13" + " 00" * 26,
    ),
]


@pytest.mark.parametrize("case", CONTRACT, ids=lambda c: c[0])
def test_contract_check_values_hold(gw: CanDatabase, case: tuple[Any, ...]) -> None:
    name, scheme, data_id, counter, values, expected = case
    msg = gw.message(name)
    prot = protection(gw, name, scheme, data_id=data_id)
    signals = {s: 0 for s in msg.signals} | values
    sealed = prot.protect(msg.encode(signals), counter)
    assert sealed.hex(" ").upper() == expected
    assert prot.counter_of(sealed) == counter
    crc = make(gw, {name: prot}, {"kind": "e2e_crc", "message": name})
    assert run(crc, msg.frame_id, [sealed]).verdict is Verdict.PASS
    wrong = protection(gw, name, scheme, data_id=data_id + 1)  # another Data ID
    assert not wrong.verify(sealed)


def test_profile_1_counter_wraps_at_14_and_a_15_is_caught(gw: CanDatabase) -> None:
    """GW-005: 0..14 then 0; 15 is never sent (the faulty variant that sends it fails)."""
    prot = protection(gw, "GW_Status", "autosar_p01", data_id=0x01F0)
    frames = [prot.protect(bytes(8), k % 15) for k in range(40)]
    alive = make(gw, {"GW_Status": prot}, {"kind": "alive_counter", "message": "GW_Status"})
    crc = make(gw, {"GW_Status": prot}, {"kind": "e2e_crc", "message": "GW_Status"})
    assert run(alive, 0x1F0, frames).verdict is Verdict.PASS
    assert run(crc, 0x1F0, frames).verdict is Verdict.PASS
    sixteen = [prot.protect(bytes(8), k % 16) for k in range(40)]  # sends 15 after 14
    result = run(alive, 0x1F0, sixteen)
    assert result.verdict is Verdict.FAIL and "counter 15 after 14, expected 0" in (
        result.offender.detail
    )
    # the library refuses a counter of 15 even with a right CRC: so does the CRC check
    result = run(crc, 0x1F0, sixteen)
    assert result.verdict is Verdict.FAIL and result.measurements["violations"] == 2
    assert "refuses the frame" in result.offender.detail


def test_profile_5_crc_over_the_wrong_length_is_caught(gw: CanDatabase) -> None:
    right = protection(gw, "PT_Status", "autosar_p05", data_id=0x00C0)
    short = protection(gw, "PT_Status", "autosar_p05", data_id=0x00C0, length=31)
    payload = bytes(range(32))
    frames = [short.protect(payload, k) for k in range(5)]
    crc = make(gw, {"PT_Status": right}, {"kind": "e2e_crc", "message": "PT_Status"})
    result = run(crc, 0x0C0, frames)
    assert result.verdict is Verdict.FAIL and result.measurements["violations"] == 5
    assert result.limits["data_id"] == "0x00C0" and result.limits["scheme"] == "autosar_p05"


# -- every AUTOSAR profile: the library protects, the harness checks --------------------------

LIB = {
    "autosar_p01": ("SHORT_8", {"data_id": 0x0601}, p01.e2e_p01_protect, 0x0601),
    "autosar_p02": (
        "SHORT_8",
        {"data_id_list": list(range(16))},
        p02.e2e_p02_protect,
        bytes(range(16)),
    ),
    "autosar_p04": ("LONG_24", {"data_id": 0x0A0B0C0D}, p04.e2e_p04_protect, 0x0A0B0C0D),
    "autosar_p05": ("PT_Status", {"data_id": 0x00C0}, p05.e2e_p05_protect, 0x00C0),
    "autosar_p06": ("SHORT_8", {"data_id": 0x0601}, p06.e2e_p06_protect, 0x0601),
    "autosar_p07": ("LONG_24", {"data_id": 0x11223344}, p07.e2e_p07_protect, 0x11223344),
    "autosar_p11": ("SHORT_8", {"data_id": 0x0601}, p11.e2e_p11_protect, 0x0601),
}


@pytest.mark.parametrize("scheme", sorted(LIB))
@settings(max_examples=40, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), steps=st.integers(1, 20), flip=st.data())
def test_a_frame_the_library_protects_passes_and_a_corrupted_one_fails(
    gw: CanDatabase, scheme: str, seed: bytes, steps: int, flip: st.DataObject
) -> None:
    name, params, lib_protect, data_id = LIB[scheme]
    msg = gw.message(name)
    prot = protection(gw, name, scheme, **params)
    buf = bytearray(seed[: msg.length])
    if scheme in ("autosar_p01", "autosar_p11"):
        buf[1] &= 0xF0  # a counter the profile allows (0..14)
    frames = []
    for _ in range(steps):  # the library steps its counter itself
        lib_protect(buf, data_id)
        frames.append(bytes(buf))
    crc = make(gw, {name: prot}, {"kind": "e2e_crc", "message": name})
    assert run(crc, msg.frame_id, frames).verdict is Verdict.PASS
    if steps >= 2:
        alive = make(gw, {name: prot}, {"kind": "alive_counter", "message": name})
        assert run(alive, msg.frame_id, frames).verdict is Verdict.PASS
    covered = sorted(set(prot.covers()) | set(prot.checksum.bytes_touched()))
    index = flip.draw(st.sampled_from(covered))
    bad = bytearray(frames[-1])
    bad[index] ^= 1 << flip.draw(st.integers(0, 7))
    result = run(crc, msg.frame_id, [*frames[:-1], bytes(bad)])
    assert result.verdict is Verdict.FAIL and result.measurements["violations"] == 1


# -- the alive counter on its own -------------------------------------------------------------


def counters_of(values: list[int], prot: Protection) -> list[bytes]:
    return [prot.protect(bytes(8), v) for v in values]


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(0, 15),
    n=st.integers(3, 40),
    at=st.integers(1, 39),
    fault=st.sampled_from(["repeat", "skip"]),
)
def test_standalone_alive_counter_catches_a_4_bit_counter_that_repeats_or_skips(
    oem: CanDatabase, start: int, n: int, at: int, fault: str
) -> None:
    """WHL-style: no E2E declared for SCC12; the check names the 4-bit counter signal."""
    plain = protection(oem, "SCC12", "counter_only", counter="CR_VSM_Alive")
    values = [(start + k) % 16 for k in range(n)]
    spec = {"kind": "alive_counter", "message": "SCC12", "signal": "CR_VSM_Alive"}
    check = make(oem, {}, spec)
    assert check.describe() == "SCC12 alive counter +1 mod 16"
    assert run(check, 0x421, counters_of(values, plain)).verdict is Verdict.PASS
    k = at % (n - 1) + 1
    bad = list(values)
    bad[k] = bad[k - 1] if fault == "repeat" else (bad[k] + 1) % 16
    for m in range(k + 1, n):
        bad[m] = (bad[m - 1] + 1) % 16
    result = run(check, 0x421, counters_of(bad, plain))
    assert result.verdict is Verdict.FAIL and result.measurements["violations"] == 1
    assert result.offender.timestamp == pytest.approx(0.01 * k)


def test_alive_counter_any_range_step_and_position(oem: CanDatabase) -> None:
    """A 2-bit counter inside byte 1; a Motorola nibble; a range 1..14 stepping by 3."""
    whl = protection(oem, "WHL_SPD11", "counter_only", counter="WHL_SPD_AliveCounter")
    frames = counters_of([k % 4 for k in range(12)], whl)
    spec = {"kind": "alive_counter", "message": "WHL_SPD11"}
    assert run(make(oem, {"WHL_SPD11": whl}, spec), 902, frames).verdict is Verdict.PASS
    mdps = protection(oem, "MDPS12", "counter_only", counter="CF_Mdps_MsgCount2")
    frames = counters_of([k % 16 for k in range(20)], mdps)
    assert [f[2] & 0x0F for f in frames[:3]] == [0, 1, 2]  # the low nibble of byte 2
    spec = {"kind": "alive_counter", "message": "MDPS12", "signal": "CF_Mdps_MsgCount2"}
    assert run(make(oem, {}, spec), 897, frames).verdict is Verdict.PASS
    lkas = protection(
        oem,
        "LKAS11",
        "counter_only",
        counter="CF_Lkas_MsgCount",
        counter_min=1,
        counter_max=14,
        counter_step=3,
    )
    seq = [1]
    for _ in range(20):
        seq.append(lkas.alive.next(seq[-1]))
    assert seq[:7] == [1, 4, 7, 10, 13, 2, 5]
    check = make(oem, {"LKAS11": lkas}, {"kind": "alive_counter", "message": "LKAS11"})
    assert run(check, 832, counters_of(seq, lkas)).verdict is Verdict.PASS
    plus_one = make(
        oem, {"LKAS11": lkas}, {"kind": "alive_counter", "message": "LKAS11", "step": 1}
    )
    assert run(plus_one, 832, counters_of(seq, lkas)).verdict is Verdict.FAIL


def test_alive_counter_refuses_what_it_cannot_check(oem: CanDatabase) -> None:
    with pytest.raises(ProfileError, match="no E2E protection declared"):
        make(oem, {}, {"kind": "alive_counter", "message": "SCC12"})
    with pytest.raises(ProfileError, match="no such signal"):
        make(oem, {}, {"kind": "alive_counter", "message": "SCC12", "signal": "Alive"})
    with pytest.raises(ProfileError, match="counter range"):
        spec = {"kind": "alive_counter", "message": "SCC12", "signal": "CR_VSM_Alive", "max": 16}
        make(oem, {}, spec)
    only = {
        "WHL_SPD11": protection(oem, "WHL_SPD11", "counter_only", counter="WHL_SPD_AliveCounter")
    }
    with pytest.raises(ProfileError, match="has no checksum"):
        make(oem, only, {"kind": "e2e_crc", "message": "WHL_SPD11"})


def test_e2e_crc_names_a_4_bit_checksum_in_its_own_words(oem: CanDatabase) -> None:
    scc = protection(
        oem,
        "SCC12",
        "nibble_sum",
        checksum="CR_VSM_ChkSum",
        counter="CR_VSM_Alive",
        final="negate",
    )
    check = make(oem, {"SCC12": scc}, {"kind": "e2e_crc", "message": "SCC12"})
    assert check.describe() == "SCC12 checksum (nibble-sum, 4 bits)"
    frames = counters_of(list(range(10)), scc)
    assert run(check, 0x421, frames).verdict is Verdict.PASS
    frames[4] = scc.corrupt(frames[4])
    result = run(check, 0x421, frames)
    assert result.verdict is Verdict.FAIL and result.summary == "1 bad checksum(s) in 10 frames"
    assert result.offender.detail.startswith("checksum 0x") and ", expected 0x" in (
        result.offender.detail
    )
