"""Checks: pure evaluators over windows of observations, one module per family.

Importing this package registers every built-in check kind in :data:`CHECKS`; a lab's
kinds come from the ``cc_harness.checks`` entry point group (see :mod:`harness.checks.base`).
"""

from harness.checks import (
    can_e2e,
    can_signal,
    can_silence,
    can_timing,
    uds,
    uds_fuzz,
    uds_services,
    v2x,
    v2x_content,
    v2x_fuzz,
    v2x_stimuli,
)
from harness.checks.base import CHECKS, Check, CheckParams, Resolver, register

# isort: off
# registered after the one-bus kinds, so that "valid:" hints keep listing those first
from harness.checks import can_routing
from harness.checks import can_counts

# isort: on
from harness.checks.spec import CheckSpec

__all__ = [
    "CHECKS",
    "Check",
    "CheckParams",
    "CheckSpec",
    "Resolver",
    "can_counts",
    "can_e2e",
    "can_routing",
    "can_signal",
    "can_silence",
    "can_timing",
    "register",
    "uds",
    "uds_fuzz",
    "uds_services",
    "v2x",
    "v2x_content",
    "v2x_fuzz",
    "v2x_stimuli",
]
