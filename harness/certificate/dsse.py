"""DSSE v1 envelopes (Dead Simple Signing Envelope), signed with Ed25519.

The signature covers the pre-authentication encoding (PAE) of payload type and payload,
exactly as the DSSE specification defines it::

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

with LEN the byte length in ASCII decimal. The envelope is written in canonical form
(:func:`harness.canonical.canonical_json` plus one final newline) with standard, padded
base64, so that exactly one byte sequence is a valid certificate for a given signature:
the verifier re-serialises what it read and rejects any file that differs.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.canonical import canonical_json
from harness.certificate.keys import keyid

__all__ = [
    "PAYLOAD_TYPE",
    "b64decode_canonical",
    "b64encode",
    "envelope_bytes",
    "pae",
    "sign_envelope",
]

PAYLOAD_TYPE = "application/vnd.in-toto+json"


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of ``payload_type`` and ``body``."""
    ptype = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(body), body)


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode_canonical(text: str) -> bytes | None:
    """The bytes of standard padded base64 ``text``, or None unless ``text`` is exactly
    the encoding of those bytes (no whitespace, no URL-safe letters, zero padding bits)."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return data if b64encode(data) == text else None


def envelope_bytes(payload: bytes, payload_type: str, signatures: list[dict[str, str]]) -> bytes:
    """The canonical file form of an envelope."""
    envelope = {
        "payload": b64encode(payload),
        "payloadType": payload_type,
        "signatures": signatures,
    }
    return canonical_json(envelope) + b"\n"


def sign_envelope(
    payload: bytes, key: Ed25519PrivateKey, payload_type: str = PAYLOAD_TYPE
) -> bytes:
    """A canonical DSSE envelope of ``payload`` with one Ed25519 signature by ``key``."""
    sig = key.sign(pae(payload_type, payload))
    return envelope_bytes(
        payload, payload_type, [{"keyid": keyid(key.public_key()), "sig": b64encode(sig)}]
    )
