"""The generic registry: names once, entry points loaded lazily, plug-in errors named."""

from __future__ import annotations

import pytest

from harness.errors import InputError
from harness.registry import DuplicateRegistration, Registry


def test_register_get_and_list_in_order() -> None:
    reg: Registry[int] = Registry("widget")
    reg.register("b", 2)

    @reg.register("a")
    def a() -> int:
        return 1

    assert reg.names() == ["b", "a"]
    assert reg.get("b") == 2
    assert reg.origin("a") == "harness"


def test_a_name_registered_twice_is_refused_naming_both() -> None:
    reg: Registry[int] = Registry("widget")
    reg.register("x", 1)
    with pytest.raises(DuplicateRegistration, match="widget 'x' is registered twice"):
        reg.register("x", 2)
    assert reg.get("x") == 1


def test_unknown_name_lists_the_known_ones() -> None:
    reg: Registry[int] = Registry("widget")
    reg.register("x", 1)
    with pytest.raises(InputError) as err:
        reg.get("y")
    assert "x" in str(err.value) and "'y'" in str(err.value)


def test_check_refuses_a_bad_item() -> None:
    def only_ints(name: str, item: object) -> None:
        if not isinstance(item, int):
            raise TypeError(f"{name} is not an int")

    reg: Registry[object] = Registry("widget", check=only_ints)
    with pytest.raises(TypeError):
        reg.register("s", "text")
    assert "s" not in reg
