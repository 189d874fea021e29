"""The fast fixed-layout UPER decoder decodes exactly what asn1tools decodes (laws)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asn1tools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.mqtt.codec import load_asn1
from harness.mqtt.uper_fixed import fixed_layout

ROOT = Path(__file__).resolve().parents[2]
ASN1 = ROOT / "dbc" / "ccv2x.asn"
SPEC = asn1tools.compile_files(str(ASN1), "uper")
PARSED = asn1tools.parse_files(str(ASN1))["CCV2X"]["types"]
BSM = fixed_layout(PARSED["BasicSafetyMessage"])


def test_the_bsm_has_a_fixed_layout_and_the_hazard_event_does_not() -> None:
    assert BSM is not None and BSM.nbytes == 23  # 177 bits
    assert fixed_layout(PARSED["HazardEvent"]) is None  # ENUMERATED with an extension


@given(st.binary(min_size=23, max_size=40))
def test_any_payload_long_enough_decodes_as_asn1tools_does(payload: bytes) -> None:
    assert BSM is not None
    assert BSM.decode(payload) == SPEC.decode("BasicSafetyMessage", payload)


def _int(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


BSM_VALUES = st.fixed_dictionaries(
    {
        "msgCnt": _int(0, 127),
        "id": st.binary(min_size=4, max_size=4),
        "secMark": _int(0, 65535),
        "lat": _int(-900000000, 900000001),
        "long": _int(-1799999999, 1800000001),
        "elev": _int(-4096, 61439),
        "speed": _int(0, 8191),
        "heading": _int(0, 28800),
        "accelLong": _int(-2000, 2001),
        "brakeApplied": st.booleans(),
        "events": st.sampled_from([b"\x00", b"\x40", b"\x80", b"\xc0"]).map(lambda b: (b, 2)),
    }
)


@given(BSM_VALUES)
def test_round_trip_through_the_module(value: dict[str, Any]) -> None:
    """encode (asn1tools, constraints checked) then the harness's decode: the same message,
    in the harness's normal form (hex id, named event bits)."""
    payload = SPEC.encode("BasicSafetyMessage", value, check_constraints=True)
    decoded = load_asn1(str(ASN1)).decode("BasicSafetyMessage", payload)
    bits = value["events"][0][0]
    assert decoded == {
        **value,
        "id": value["id"].hex().upper(),
        "events": {"hardBraking": bool(bits & 0x80), "vehDataFault": bool(bits & 0x40)},
    }


@given(BSM_VALUES)
def test_a_valid_bsm_encodes_as_asn1tools_does(value: dict[str, Any]) -> None:
    assert BSM is not None
    expected = SPEC.encode("BasicSafetyMessage", value, check_constraints=True)
    assert BSM.encode(value) == expected
    assert type(load_asn1(str(ASN1)).encode("BasicSafetyMessage", value)) is bytes


@pytest.mark.parametrize(
    ("member", "bad"),
    [
        ("speed", 8192),  # beyond its range
        ("speed", 100.0),  # not an int
        ("brakeApplied", 1),  # not a bool
        ("id", b"\x00" * 3),  # the wrong size
        ("events", (b"\x00", 3)),  # the wrong number of bits
        ("events", (b"\x20", 2)),  # a bit set beyond the size
        ("events", None),  # missing
    ],
)
def test_anything_else_is_left_to_asn1tools(member: str, bad: Any) -> None:
    """Not on the fast path: asn1tools encodes it, or raises its own error."""
    assert BSM is not None
    value = {
        "msgCnt": 1, "id": b"\x0c\x0f\xfe\xe1", "secMark": 2, "lat": 3, "long": 4, "elev": 5,
        "speed": 6, "heading": 7, "accelLong": 8, "brakeApplied": True, "events": (b"\x40", 2),
    }  # fmt: skip
    assert BSM.encode(value) == SPEC.encode("BasicSafetyMessage", value, check_constraints=True)
    if bad is None:
        del value[member]
    else:
        value[member] = bad
    assert BSM.encode(value) is None
    module = load_asn1(str(ASN1))
    try:
        expected = SPEC.encode("BasicSafetyMessage", value, check_constraints=True)
    except Exception as exc:  # asn1tools' own error, from the module's encode as well
        with pytest.raises(type(exc)):
            module.encode("BasicSafetyMessage", value)
    else:
        assert module.encode("BasicSafetyMessage", value) == expected


def test_a_short_payload_gets_asn1tools_error() -> None:
    module = load_asn1(str(ASN1))
    with pytest.raises(asn1tools.DecodeError, match="out of data"):
        module.decode("BasicSafetyMessage", bytes(22))


# -- any fixed-layout SEQUENCE, not only the BSM -----------------------------------------------
@st.composite
def _member(draw: st.DrawFn, index: int) -> str:
    kind = draw(st.sampled_from(["int", "bool", "octets", "bits"]))
    name = f"m{index}"
    if kind == "int":
        lo = draw(st.integers(-(2**40), 2**40))
        return f"{name} INTEGER ({lo}..{lo + draw(st.integers(0, 2**36))})"
    if kind == "bool":
        return f"{name} BOOLEAN"
    if kind == "octets":
        return f"{name} OCTET STRING (SIZE ({draw(st.integers(1, 6))}))"
    return f"{name} BIT STRING (SIZE ({draw(st.integers(1, 20))}))"


@st.composite
def _module(draw: st.DrawFn) -> str:
    count = draw(st.integers(1, 8))
    members = ",\n  ".join(draw(_member(i)) for i in range(count))
    return f"M DEFINITIONS AUTOMATIC TAGS ::= BEGIN\nT ::= SEQUENCE {{\n  {members}\n}}\nEND\n"


@settings(max_examples=60, deadline=None)
@given(_module(), st.data())
def test_any_fixed_layout_sequence_decodes_as_asn1tools_does(
    text: str, data: st.DataObject
) -> None:
    spec = asn1tools.compile_string(text, "uper")
    layout = fixed_layout(asn1tools.parse_string(text)["M"]["types"]["T"])
    assert layout is not None, text
    payload = data.draw(st.binary(min_size=layout.nbytes, max_size=layout.nbytes + 4))
    assert layout.decode(payload) == spec.decode("T", payload), text
    value = spec.decode("T", payload)  # of every member's type; an INTEGER may be too big
    try:
        expected = spec.encode("T", value, check_constraints=True)
    except asn1tools.ConstraintsError:
        assert layout.encode(value) is None, text
    else:
        assert layout.encode(value) == expected, text


@pytest.mark.parametrize(
    "members",
    [
        "a INTEGER (0..7), ...",
        "a INTEGER (0..7) OPTIONAL, b BOOLEAN",
        "a INTEGER (0..7) DEFAULT 3",
        "a INTEGER",
        "a OCTET STRING (SIZE (1..4))",
        "a IA5String (SIZE (4))",
        "a ENUMERATED { x, y }",
    ],
)
def test_other_shapes_are_left_to_asn1tools(members: str) -> None:
    text = f"M DEFINITIONS AUTOMATIC TAGS ::= BEGIN\nT ::= SEQUENCE {{ {members} }}\nEND\n"
    assert fixed_layout(asn1tools.parse_string(text)["M"]["types"]["T"]) is None
