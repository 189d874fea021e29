"""The built-in reference CC-TCU-1 and its deliberately faulty variants."""

from harness.sim.tcu import IgnitionState, ReferenceTcu, TcuIdentity
from harness.sim.variants import VARIANTS, Variant, get_variant, register_variant

__all__ = [
    "VARIANTS",
    "IgnitionState",
    "ReferenceTcu",
    "TcuIdentity",
    "Variant",
    "get_variant",
    "register_variant",
]
