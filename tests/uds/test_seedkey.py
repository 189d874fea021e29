"""Seed-to-key algorithms: the built-in CC-TCU-1 one, the registry, a lab's entry point."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import pytest

from harness.errors import InputError
from harness.uds import seedkey
from harness.uds.seedkey import cc_tcu_1_key, get_algorithm, register_algorithm


def test_cc_tcu_1_check_value() -> None:
    # reference-tcu.md UDS-004: seed 11 22 33 44 gives key 70 E1 A5 DA
    assert cc_tcu_1_key(bytes.fromhex("11223344")) == bytes.fromhex("70E1A5DA")
    assert get_algorithm("cc-tcu-1") is cc_tcu_1_key


def test_cc_tcu_1_is_rotate_left_7_of_seed_xor_mask() -> None:
    for seed in (b"\x00\x00\x00\x01", b"\xa5\xc3\xf0\x0f", b"\xff\xff\xff\xff"):
        x = int.from_bytes(seed, "big") ^ 0xA5C3F00F
        want = ((x << 7) | (x >> 25)) & 0xFFFFFFFF
        assert cc_tcu_1_key(seed) == want.to_bytes(4, "big")


def test_wrong_seed_length_is_refused() -> None:
    with pytest.raises(ValueError, match="4-byte seed"):
        cc_tcu_1_key(b"\x01\x02")


def test_a_name_registered_twice_is_an_error() -> None:
    with pytest.raises(InputError, match="registered twice"):
        register_algorithm("cc-tcu-1")(cc_tcu_1_key)


def test_unknown_algorithm_names_the_known_ones() -> None:
    with pytest.raises(InputError) as info:
        get_algorithm("acme-unknown")
    assert "cc-tcu-1" in str(info.value) and "cc_harness.seed_key" in str(info.value)


def test_a_lab_algorithm_comes_from_the_entry_point_group(monkeypatch: pytest.MonkeyPatch) -> None:
    def lab_key(seed: bytes, level: int) -> bytes:
        return bytes(b ^ level for b in seed)

    ep = metadata.EntryPoint(
        "acme-bcm-2", "tests.uds.test_seedkey:LAB_KEY", seedkey.ENTRY_POINT_GROUP
    )
    calls: list[Any] = []

    def entry_points(**kw: Any) -> list[metadata.EntryPoint]:
        calls.append(kw)
        return [ep] if kw.get("group") == seedkey.ENTRY_POINT_GROUP else []

    global LAB_KEY
    LAB_KEY = lab_key
    monkeypatch.setattr(metadata, "entry_points", entry_points)
    try:
        seedkey.SEED_KEYS.reload_entry_points()
        calls.clear()
        assert get_algorithm("cc-tcu-1") is cc_tcu_1_key
        fn = get_algorithm("acme-bcm-2")
        assert fn(b"\x10\x20", 3) == b"\x13\x23"
        assert "acme-bcm-2" in seedkey.algorithm_names()
        assert seedkey.SEED_KEYS.origin("acme-bcm-2").startswith("entry point acme-bcm-2")
        assert not calls  # loaded once, lazily
        with pytest.raises(InputError, match="registered twice"):
            register_algorithm("acme-bcm-2")(lab_key)  # a lab's name is taken like a built-in
    finally:
        monkeypatch.undo()
        seedkey.SEED_KEYS.reload_entry_points()
    assert "acme-bcm-2" not in seedkey.algorithm_names()


LAB_KEY: Any = None
