"""No single-byte change to a real certificate verifies.

Every byte position is changed twice: its low bit flipped, and replaced by another character
of the same kind (another base64 letter inside base64, another hex digit inside the keyid,
a letter elsewhere), so that the JSON usually still parses and the deeper checks are the
ones that have to catch it.
"""

from __future__ import annotations

import datetime as dt
import string
import time

from harness.certificate.verify import verify_certificate
from harness.errors import VerificationError
from tests.certificate.conftest import CertifiedRun, Keys

_B64 = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
_HEX = "0123456789abcdef"


def _same_kind(byte: int) -> int:
    char = chr(byte)
    for alphabet in (_HEX, _B64):
        if char in alphabet:
            return ord(alphabet[(alphabet.index(char) + 1) % len(alphabet)])
    return ord("A") if char != "A" else ord("B")


def variants(data: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    for i, byte in enumerate(data):
        for new in (byte ^ 0x01, _same_kind(byte)):
            assert new != byte
            out.append((i, data[:i] + bytes([new]) + data[i + 1 :]))
    return out


def test_the_original_verifies(
    certified: CertifiedRun, keys: Keys, verify_now: dt.datetime
) -> None:
    verify_certificate(certified.cert, keys.public, now=verify_now)


def test_no_single_byte_mutation_verifies(
    certified: CertifiedRun, keys: Keys, verify_now: dt.datetime
) -> None:
    data = certified.cert
    mutated = variants(data)
    assert len(mutated) == 2 * len(data) > 2000
    start = time.perf_counter()
    accepted: list[int] = []
    reasons: set[str] = set()
    for position, variant in mutated:
        try:
            verify_certificate(variant, keys.public, now=verify_now, evidence=certified.evidence)
        except VerificationError as exc:
            reasons.add(str(exc).split(":")[0][:40])
        else:
            accepted.append(position)
    elapsed = time.perf_counter() - start
    assert not accepted, f"mutations at byte(s) {accepted} still verify"
    assert elapsed < 30, f"{len(mutated)} verifications took {elapsed:.1f} s"
    # the mutations reach many different checks, not only the JSON parser
    assert len(reasons) >= 5, reasons
