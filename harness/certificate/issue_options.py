"""The options of issuing a certificate (``--key``, ``--issuer-level``, ``--validity``).

Kept apart from :mod:`harness.certificate.issue` and importing nothing heavy: ``harness
--help`` and ``harness certify --help`` build them without loading the statement, the
evidence bundle or the run record (start-up time, issue 13).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.bundle_names import CERTIFICATE_FILE
from harness.options import Option, add_to_argparse

__all__ = [
    "DEFAULT_VALIDITY_DAYS",
    "ISSUER_LEVELS",
    "ISSUE_GROUP",
    "ISSUE_OPTIONS",
    "MAX_VALIDITY_DAYS",
    "add_issue_options",
]

ISSUER_LEVELS = ("supplier", "lab")

DEFAULT_VALIDITY_DAYS = 365
MAX_VALIDITY_DAYS = 3650


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of days, but got '{text}'"
        ) from None
    if not 1 <= days <= MAX_VALIDITY_DAYS:
        raise argparse.ArgumentTypeError(f"expected 1..{MAX_VALIDITY_DAYS} days, but got {days}")
    return days


ISSUE_OPTIONS = (
    Option(
        ("--key",),
        "key",
        {
            "type": Path,
            "metavar": "PRIVATE_KEY",
            "help": "Ed25519 private key (from 'harness keys generate'): sign a certificate "
            f"{CERTIFICATE_FILE} into the evidence folder when the run passes",
        },
    ),
    Option(
        ("--issuer-level",),
        "issuer_level",
        {
            "choices": ISSUER_LEVELS,
            "default": "supplier",
            "help": "who issues it: a supplier's self-test (default) or an accredited lab",
        },
    ),
    Option(
        ("--validity",),
        "validity",
        {
            "type": _days,
            "default": DEFAULT_VALIDITY_DAYS,
            "metavar": "DAYS",
            "help": f"days until the certificate expires (default {DEFAULT_VALIDITY_DAYS})",
        },
    ),
)
"""``--key``, ``--issuer-level``, ``--validity``: on ``harness certify`` and in pytest."""

ISSUE_GROUP = "certificate (issued only when every mandatory case passes)"


def add_issue_options(parser: argparse.ArgumentParser) -> None:
    """``--key``, ``--issuer-level`` and ``--validity`` on ``harness certify``."""
    add_to_argparse(parser.add_argument_group(ISSUE_GROUP), ISSUE_OPTIONS)
