"""The validation cache (harness.mqtt.valid_cache): a cached load is the same load, only
successes are kept, and a damaged or foreign cache file is ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import InputError
from harness.mqtt import valid_cache
from harness.mqtt.codec import Asn1Module, JsonCodec, UperCodec
from tests.conftest import ROOT

ASN1 = ROOT / "dbc" / "ccv2x.asn"
BSM = {
    "msgCnt": 1,
    "id": b"\x0c\x0f\xfe\xe1",
    "secMark": 100,
    "lat": 374563000,
    "long": -1221000000,
    "elev": 10,
    "speed": 100,
    "heading": 9000,
    "accelLong": 0,
    "brakeApplied": False,
    "events": (b"\x00", 2),
}
SCHEMA = {"type": "object", "required": ["seq"], "properties": {"seq": {"type": "integer"}}}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("CC_HARNESS_CACHE", str(folder))
    return folder


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.txt")) if folder.exists() else []


def test_a_cached_module_loads_and_codes_as_a_compiled_one(cache: Path) -> None:
    fresh = Asn1Module(ASN1)  # compiles, and keeps that it did
    assert fresh._spec is not None and len(_entries(cache)) == 1
    cached = Asn1Module(ASN1)
    assert cached._spec is None  # not compiled to be loaded
    assert cached.types == fresh.types
    assert cached._fixed.keys() == fresh._fixed.keys()
    assert cached._ranges == fresh._ranges and cached._bits == fresh._bits
    payload = fresh.encode("BasicSafetyMessage", BSM)
    assert cached.encode("BasicSafetyMessage", BSM) == payload  # compiled on first use
    assert UperCodec(cached, "HazardEvent").decode(b"\x00") == UperCodec(
        fresh, "HazardEvent"
    ).decode(b"\x00")


def test_a_broken_module_is_refused_every_time_and_never_kept(cache: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.asn"
    bad.write_text(
        "M DEFINITIONS ::= BEGIN T ::= SEQUENCE { a INTEGER (0..7) } T ::= BOOLEAN END\n"
    )
    for _ in range(2):
        with pytest.raises(InputError, match="defined twice"):
            Asn1Module(bad)
    assert _entries(cache) == []


@pytest.mark.parametrize(
    "damage", ["garbage {", "{'key': 'another', 'value': {}}", "__import__('os')"]
)
def test_a_damaged_or_foreign_entry_is_ignored(cache: Path, damage: str) -> None:
    Asn1Module(ASN1)
    (entry,) = _entries(cache)
    entry.write_text(damage)
    again = Asn1Module(ASN1)
    assert again._spec is not None  # compiled, as without a cache
    assert entry.read_text() != damage  # and kept again


def test_an_edited_module_is_compiled_again(cache: Path, tmp_path: Path) -> None:
    copy = tmp_path / "m.asn"
    copy.write_bytes(ASN1.read_bytes())
    Asn1Module(copy)
    copy.write_text(ASN1.read_text().replace("BasicSafetyMessage ::=", "Bsm ::=", 1))
    edited = Asn1Module(copy)
    assert edited._spec is not None
    assert "Bsm" in edited.types and "BasicSafetyMessage" not in edited.types


def test_json_schema_is_checked_until_it_passed_once(cache: Path) -> None:
    bad = {"type": "no-such-type"}
    for _ in range(2):
        with pytest.raises(Exception, match="no-such-type"):
            JsonCodec(bad)
    assert _entries(cache) == []
    first = JsonCodec(SCHEMA)
    assert first._validator is not None
    second = JsonCodec(SCHEMA)
    assert second._validator is None  # not checked again, built at first use
    for payload in (b'{"seq": 1}', b'{"seq": "x"}', b"{}", b"nope"):
        assert second.decode(payload) == first.decode(payload)


def test_the_cache_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_HARNESS_CACHE", "off")
    assert valid_cache.cache_dir() is None
    assert Asn1Module(ASN1)._spec is not None
    assert Asn1Module(ASN1)._spec is not None
    assert JsonCodec(SCHEMA)._validator is not None


def test_an_unwritable_cache_costs_nothing_but_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CC_HARNESS_CACHE", str(blocker / "sub"))
    assert Asn1Module(ASN1)._spec is not None
    assert Asn1Module(ASN1)._spec is not None
