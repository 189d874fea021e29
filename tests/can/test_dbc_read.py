"""DBC loading a lab can trust: OEM-style files (multiplexing, extended IDs, FD, cp1252 and
Korean comments, cycle-time attributes) load; the encoding is chosen per profile and errors
say which encodings were tried and where; a lenient reading lets what cantools' strict mode
refuses through with a warning naming each relaxation; pathological files are exit 2 with
the place, never a hang or a memory blow-up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.can.dbc import load_dbc
from harness.cli import main
from harness.errors import DbcError
from harness.safeio import DBC as DBC_KIND

DATA = Path(__file__).resolve().parent / "data"
EPS = DATA / "eps-hyundai-style.dbc"
BODY = DATA / "body-dcu-cp1252.dbc"
LEGACY = DATA / "gateway-legacy-lenient.dbc"


def profile_for(
    folder: Path,
    dbc: str,
    *,
    node: str,
    ready: str,
    checks: str = "",
    restbus: str = "",
    name: str = "p.yaml",
) -> Path:
    """A small profile over ``dbc`` (a YAML value for the dbc key) observing ``ready``."""
    checks = checks or f"{{kind: cycle_time, message: {ready}, min: 1 ms, max: 2 s}}"
    path = folder / name
    path.write_text(
        f"""format: cc-harness-profile/1
profile:
  id: oem-test
  version: 0.1.0
  title: OEM-style DBC
  requirements: {{id: OEM, version: "1", ids: [R-1]}}
dbc: {dbc}
dut:
  node: {node}
  ready: {{message: {ready}}}
{restbus}
cases:
  - id: C1
    title: one window
    requirements: [R-1]
    steps:
      - observe: 1 s
        checks:
          - {checks}
""",
        encoding="utf-8",
    )
    return path


def validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    return code, " ".join(captured.out.split()), captured.err


# -- OEM-style files ---------------------------------------------------------------------------


def test_hyundai_style_utf8_korean_multiplexed_extended() -> None:
    db = load_dbc(EPS)
    assert db.encoding == "utf-8"
    assert db.relaxations == ()
    assert "조향 토크" in db.message("MDPS12")._cantools.comment
    info = db.message("MDPS_INFO")
    assert info._cantools.is_multiplexed()
    assert info.signals["Info_MotorTemp"]._cantools.multiplexer_ids == [2]
    ext = db.message("MDPS_EXT_DIAG")
    assert (ext.is_extended, ext.frame_id) == (True, 0x368)  # from the flag, not the value
    assert db.message("MDPS12").cycle_time == pytest.approx(0.010)


def test_cp1252_body_file_with_fd_and_j1939_messages() -> None:
    db = load_dbc(BODY)
    assert db.encoding == "cp1252"
    assert db.message("DCU_Status").signals["MirrorTemp"].unit == "°C"
    assert "Türsteuergeräts; Zähler" in db.message("DCU_Status")._cantools.comment
    fd = db.message("DCU_FD_Diag")
    assert (fd.is_fd, fd.length) == (True, 64)
    door = db.message("DCU_J1939_Door")
    assert (door.is_extended, door.frame_id) == (True, 0x18FF2A10)
    assert db.message("DCU_Event").cycle_time is None


def test_cycle_time_attribute_is_read_too() -> None:
    db = load_dbc(LEGACY, lenient=True)
    assert db.message("GW_Gear").cycle_time == pytest.approx(0.100)


# -- encodings ---------------------------------------------------------------------------------


def test_cp949_file_named_in_the_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dbc = tmp_path / "eps-cp949.dbc"
    dbc.write_bytes(EPS.read_text(encoding="utf-8").encode("cp949"))
    good = profile_for(
        tmp_path, "{path: eps-cp949.dbc, encoding: cp949}", node="MDPS", ready="MDPS12"
    )
    code, out, _ = validate(good, capsys)
    assert code == 0, out
    assert "조향 토크" in load_dbc(dbc, encoding="cp949").message("MDPS12")._cantools.comment


def test_wrong_encoding_names_it_and_the_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dbc = tmp_path / "eps-cp949.dbc"
    raw = EPS.read_text(encoding="utf-8").encode("cp949")
    dbc.write_bytes(raw)
    bad = profile_for(
        tmp_path, "{path: eps-cp949.dbc, encoding: utf-8}", node="MDPS", ready="MDPS12"
    )
    code, _, err = validate(bad, capsys)
    first = next(i for i, b in enumerate(raw) if b >= 0x80)
    line = raw.count(b"\n", 0, first) + 1
    col = first - raw.rfind(b"\n", 0, first)
    assert code == 2
    assert f"{bad}:7:" in err and " dbc.encoding: " in err
    assert f"line {line}, column {col}" in err
    assert "utf-8 (the encoding asked for)" in err
    assert f"byte 0x{raw[first]:02X}" in err


def test_auto_encoding_error_names_every_encoding_tried(tmp_path: Path) -> None:
    dbc = tmp_path / "bad.dbc"
    dbc.write_bytes(EPS.read_bytes() + b'CM_ "\x81\x8d\x81";\n')
    with pytest.raises(DbcError) as caught:
        load_dbc(dbc)
    text = str(caught.value)
    assert "utf-8 or cp1252 or cp949 (each was tried)" in text
    assert re.search(r"bad\.dbc:\d+:6: ", text)
    assert "encoding: NAME" in text


def test_a_named_encoding_reads_what_the_guess_gets_wrong(tmp_path: Path) -> None:
    """ "°C" in Windows-1252 is also a valid CP949 pair: only the profile can tell."""
    dbc = tmp_path / "units.dbc"
    dbc.write_bytes(
        b'VERSION ""\nBU_: A\nBO_ 100 M: 1 A\n SG_ T : 0|8@1+ (1,-40) [-40|80] "\xb0C" A\n'
    )
    assert load_dbc(dbc).message("M").signals["T"].unit != "°C"  # the guess: CP949
    assert load_dbc(dbc, encoding="cp1252").message("M").signals["T"].unit == "°C"


@pytest.mark.parametrize("name", ["klingon", "utf-16", "rot13"])
def test_unknown_or_unfit_encoding_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    p = profile_for(tmp_path, f"{{path: {EPS}, encoding: {name}}}", node="MDPS", ready="MDPS12")
    code, _, err = validate(p, capsys)
    assert code == 2
    assert "dbc.encoding" in err and "expected auto or a text encoding" in err


def test_short_and_long_dbc_keys_give_the_same_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    short = profile_for(tmp_path, str(EPS), node="MDPS", ready="MDPS12", name="a.yaml")
    long = profile_for(tmp_path, f"{{path: {EPS}}}", node="MDPS", ready="MDPS12", name="b.yaml")
    for p in (short, long):
        code, out, err = validate(p, capsys)
        assert (code, err) == (0, ""), err
        assert "valid profile oem-test" in out


# -- lenient reading ---------------------------------------------------------------------------


def test_strict_refuses_the_legacy_file_at_its_first_problem() -> None:
    with pytest.raises(DbcError) as caught:
        load_dbc(LEGACY)
    text = str(caught.value)
    assert "gateway-legacy-lenient.dbc:53:1: VAL_ for signal GearPositionOld of message GW_Gear"
    assert "lenient: true" in text


def test_lenient_reading_lists_each_relaxation_with_its_place() -> None:
    db = load_dbc(LEGACY, lenient=True)
    shown = str(LEGACY)
    assert db.relaxations == (
        f"{shown}:16: message GW_VehicleSpeed: signals VehSpeed and VehSpeed_Legacy overlap "
        "in 12 bit(s) (bits 0..11): kept",
        f"{shown}:23: message GW_WheelSpeeds: signal WheelSpeeds_Checksum (start bit 56, 8 bits)"
        " does not fit in its 6 data bytes: kept",
        f"{shown}:53: VAL_ for signal GearPositionOld of message GW_Gear, which has no such "
        "signal: left out",
        f"{shown}:54: VAL_ for signal ECM_OilPressure of message ECM_Engine, which has no such "
        "signal: left out",
    )
    assert db.message("GW_Gear").signals["GearPosition"].choices["Invalid"] == 8
    assert db.message("GW_WheelSpeeds").outside == {"WheelSpeeds_Checksum"}


def test_lenient_profile_validates_with_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strict = profile_for(tmp_path, str(LEGACY), node="GW", ready="GW_Gear", name="s.yaml")
    code, _, err = validate(strict, capsys)
    assert code == 2 and "s.yaml:7:6 dbc: DBC file" in err and "line 53, column 1" in err
    lenient = profile_for(
        tmp_path, f"{{path: {LEGACY}, lenient: true}}", node="GW", ready="GW_Gear"
    )
    code, out, err = validate(lenient, capsys)
    assert code == 0, err
    assert "valid profile" in out
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 4
    assert "VehSpeed and VehSpeed_Legacy overlap" in warnings[0]


def test_a_signal_beyond_the_frame_cannot_be_checked_or_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = f"{{path: {LEGACY}, lenient: true}}"
    check = profile_for(
        tmp_path,
        key,
        node="GW",
        ready="GW_Gear",
        checks="{kind: signal, message: GW_WheelSpeeds, signal: WheelSpeeds_Checksum, max: 9}",
        name="c.yaml",
    )
    code, _, err = validate(check, capsys)
    assert code == 2
    assert "checks[0].signal" in err and "beyond the 6 data bytes of GW_WheelSpeeds" in err
    send = profile_for(
        tmp_path,
        key,
        node="ECM",
        ready="ECM_Engine",
        restbus="restbus:\n  GW_WheelSpeeds: {}",
        name="r.yaml",
    )
    code, _, err = validate(send, capsys)
    assert code == 2
    assert "restbus.GW_WheelSpeeds" in err and "WheelSpeeds_Checksum" in err


def test_zero_length_signal_and_its_value_table(tmp_path: Path) -> None:
    dbc = tmp_path / "z.dbc"
    dbc.write_text(
        'VERSION ""\nBU_: A\nBO_ 100 M: 8 A\n SG_ Ok : 0|8@1+ (1,0) [0|255] "" A\n'
        ' SG_ Gone : 8|0@1+ (1,0) [0|0] "" A\nVAL_ 100 Gone 0 "x" ;\n'
    )
    with pytest.raises(DbcError, match=r"z\.dbc:5:1: message M: signal Gone has length 0"):
        load_dbc(dbc)
    db = load_dbc(dbc, lenient=True)
    assert list(db.message("M").signals) == ["Ok"]
    assert [r.split(": ", 1)[1] for r in db.relaxations] == [
        "message M: signal Gone of length 0: left out",
        "VAL_ for signal Gone of message M, which has no such signal: left out",
    ]


def test_duplicates_stay_errors_when_lenient(tmp_path: Path) -> None:
    dbc = tmp_path / "dup.dbc"
    dbc.write_text(
        'VERSION ""\nBU_: A\nBO_ 100 M: 8 A\n SG_ X : 0|8@1+ (1,0) [0|255] "" A\n'
        'BO_ 100 N: 8 A\n SG_ Y : 0|8@1+ (1,0) [0|255] "" A\n'
    )
    with pytest.raises(DbcError, match="messages M and N have the same frame ID 0x64"):
        load_dbc(dbc, lenient=True)


# -- pathological files ------------------------------------------------------------------------


PATHOLOGICAL = {
    "dlc": ('BO_ 100 Big: 99999999 A\n SG_ X : 0|8@1+ (1,0) [0|255] "" A\n', "4:1", "at most 64"),
    "start": ('BO_ 100 M: 8 A\n SG_ X : 999999999|8@1+ (1,0) [0|255] "" A\n', "5:1", "below 512"),
    "length": (
        'BO_ 100 M: 8 A\n SG_ X : 0|4000000@1+ (1,0) [0|1] "" A\n',
        "5:1",
        "at most 64 bits",
    ),
    "standard id": ('BO_ 4000 M: 8 A\n SG_ X : 0|8@1+ (1,0) [0|1] "" A\n', "4:1", "11 bits"),
    "extended id": ('BO_ 4294967295 M: 8 A\n SG_ X : 0|8@1+ (1,0) [0|1] "" A\n', "4:1", "29 bits"),
    "digits": ("BO_ " + "9" * 5000 + ' M: 8 A\n SG_ X : 0|8@1+ (1,0) [0|1] "" A\n', "4:1", "29"),
}


@pytest.mark.parametrize("kind", sorted(PATHOLOGICAL))
def test_pathological_layout_is_an_error_at_its_line(tmp_path: Path, kind: str) -> None:
    """Values cantools would allocate per bit for (gigabytes for a DLC of 99999999) are
    refused by the scan before cantools sees them, in strict and lenient readings alike."""
    text, where, phrase = PATHOLOGICAL[kind]
    dbc = tmp_path / "p.dbc"
    dbc.write_text('VERSION ""\n\nBU_: A\n' + text)
    for lenient in (False, True):
        with pytest.raises(DbcError) as caught:
            load_dbc(dbc, lenient=lenient)
        assert str(caught.value).startswith(f"{dbc}:{where}: ")
        assert phrase in str(caught.value)


def test_fifty_megabyte_dbc_is_exit_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A generated 50 MB DBC (valid text, one message after another) is refused by size
    before it is parsed: exit 2 naming the profile's dbc key and the file."""
    big = tmp_path / "huge.dbc"
    block = b"".join(
        f'BO_ {0x80000000 | i} Filler{i}: 8 A\n SG_ S{i} : 0|8@1+ (1,0) [0|255] "" A\n\n'.encode()
        for i in range(20000)
    )
    with big.open("wb") as fh:
        fh.write(b'VERSION ""\nBU_: A\n')
        while fh.tell() < 50 << 20:
            fh.write(block)
    p = profile_for(tmp_path, "huge.dbc", node="A", ready="Filler0")
    code, _, err = validate(p, capsys)
    assert code == 2
    assert f"{p}:7:6 dbc: DBC file huge.dbc" in err
    assert f"expected at most {DBC_KIND.max_bytes} bytes, but got {big.stat().st_size}" in err
