"""Seed-to-key algorithms for SecurityAccess (0x27), by name.

Every part has its own algorithm, and a lab's are often confidential: the registry holds the
built-in one (``cc-tcu-1``, from reference-tcu.md UDS-004) and loads a lab's own lazily from the
``cc_harness.seed_key`` entry point group the first time a name is not known. A lab package
declares, in its ``pyproject.toml``::

    [project.entry-points."cc_harness.seed_key"]
    acme-bcm-2 = "acme_keys:bcm2_key"

where ``acme_keys.bcm2_key(seed: bytes, level: int) -> bytes`` returns the key. A profile then
names it: ``security_access: {level: 1, algorithm: acme-bcm-2}``. A name registered twice (in
code, or in code and an entry point) is an error, never a silent override.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from harness.errors import InputError
from harness.registry import Registry

__all__ = [
    "ENTRY_POINT_GROUP",
    "SEED_KEYS",
    "SEED_KEY_ALGORITHMS",
    "SeedKey",
    "algorithm_names",
    "cc_tcu_1_key",
    "get_algorithm",
    "make_key",
    "register_algorithm",
]

ENTRY_POINT_GROUP = "cc_harness.seed_key"

SeedKey = Callable[[bytes, int], bytes]
"""``(seed, level) -> key``: ``level`` is the odd requestSeed sub-function (0x01, 0x03...)."""


def _callable(name: str, item: object) -> None:
    if not callable(item):
        raise InputError(
            f"seed-to-key algorithm {name!r} cannot be registered: {item!r} is not callable",
            expected="a function (seed: bytes, level: int) -> bytes",
        )


SEED_KEYS: Registry[SeedKey] = Registry("seed-to-key algorithm", ENTRY_POINT_GROUP, check=_callable)
"""Every seed-to-key algorithm by name: built-ins and the ``cc_harness.seed_key`` group."""

SEED_KEY_ALGORITHMS = SEED_KEYS  # the name before registries; read it with get/names/in

F = TypeVar("F", bound=SeedKey)


def register_algorithm(name: str) -> Callable[[F], F]:
    """Decorator: register a seed-to-key function under ``name``; twice is an error."""
    return SEED_KEYS.register(name)


CC_TCU_1_MASK = 0xA5C3F00F


@register_algorithm("cc-tcu-1")
def cc_tcu_1_key(seed: bytes, level: int = 1) -> bytes:
    """CC-TCU-1: rotate-left-32(seed XOR 0xA5C3F00F, 7), big-endian (11 22 33 44 -> 70 E1 A5 DA)."""
    if len(seed) != 4:
        raise ValueError(f"the cc-tcu-1 algorithm takes a 4-byte seed, got {len(seed)} bytes")
    x = int.from_bytes(seed, "big") ^ CC_TCU_1_MASK
    x = ((x << 7) | (x >> 25)) & 0xFFFFFFFF
    return x.to_bytes(4, "big")


def algorithm_names() -> list[str]:
    """Every known algorithm name, lab entry points included."""
    return sorted(SEED_KEYS.names())


def get_algorithm(name: str) -> SeedKey:
    """The algorithm ``name``; an unknown name is an InputError listing the known ones."""
    return SEED_KEYS.get(name)


def make_key(algorithm: str, seed: bytes, level: int, mode: str) -> bytes:
    """The key for ``seed`` by ``algorithm``; ``mode`` "wrong" inverts it (a negative test)."""
    key = get_algorithm(algorithm)(seed, level)
    return bytes(b ^ 0xFF for b in key) if mode == "wrong" else key
