"""Certificates: a signed, offline-verifiable statement that a part passed a profile.

A certificate is an in-toto Statement v1 (:mod:`.statement`) whose subject is the DUT and
whose predicate names the profile, DBC, harness, bench, per-requirement verdicts and the
evidence manifest's digest; it travels in a DSSE envelope (:mod:`.dsse`) signed with
Ed25519 (:mod:`.keys`). :mod:`.issue` signs one at the end of a passing run;
:mod:`.verify` checks one strictly, with or without its evidence folder; :mod:`.cli` adds
``harness keys generate`` and ``harness verify``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.certificate.dsse import PAYLOAD_TYPE, pae, sign_envelope
    from harness.certificate.issue import Issuer, issue_certificate, why_no_certificate
    from harness.certificate.keys import (
        generate_key_pair,
        keyid,
        load_private_key,
        load_public_key,
    )
    from harness.certificate.statement import PREDICATE_TYPE, STATEMENT_TYPE, build_statement
    from harness.certificate.verify import Verified, verify_certificate, verify_evidence

# Each name from the module that defines it, imported on first use: importing the package
# (as `harness --help` does for the command's options) does not load cryptography.
_HOME = {
    "PAYLOAD_TYPE": "dsse",
    "pae": "dsse",
    "sign_envelope": "dsse",
    "Issuer": "issue",
    "issue_certificate": "issue",
    "why_no_certificate": "issue",
    "generate_key_pair": "keys",
    "keyid": "keys",
    "load_private_key": "keys",
    "load_public_key": "keys",
    "PREDICATE_TYPE": "statement",
    "STATEMENT_TYPE": "statement",
    "build_statement": "statement",
    "Verified": "verify",
    "verify_certificate": "verify",
    "verify_evidence": "verify",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)


__all__ = [
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "Issuer",
    "Verified",
    "build_statement",
    "generate_key_pair",
    "issue_certificate",
    "keyid",
    "load_private_key",
    "load_public_key",
    "pae",
    "sign_envelope",
    "verify_certificate",
    "verify_evidence",
    "why_no_certificate",
]
