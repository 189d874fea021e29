"""Remote commands (CMD-001..CMD-005): build, sign and verify, including the wrong ones.

A command is JSON ``{"cmd", "seq", "nonce", "ts", "mac"}`` where ``mac`` is HMAC-SHA256 with
the PSK over the UTF-8 string ``cmd|seq|nonce|ts`` (decimal integers), as the reference page
defines it. :class:`CommandSigner` builds valid ones and the deliberately faulty ones a
profile asks for; :func:`verify_command` is the TCU's side of the same contract, returning the
reason of a rejection in the page's order (malformed, unknown-cmd, bad-mac, stale, replay).
Nonces come from a seeded generator, so a simulated run sends the same bytes every time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "COMMAND_IDS",
    "MAX_PAYLOAD",
    "CommandSigner",
    "SignedCommand",
    "VerifyResult",
    "command_mac",
    "verify_command",
]

COMMAND_IDS = {"horn": 1, "flash": 2, "lock": 3, "unlock": 4}
MAX_PAYLOAD = 1024
STALE_AFTER_MS = 30_000
_NONCE = re.compile(r"[0-9A-Fa-f]{32}\Z")
_MAC = re.compile(r"[0-9A-Fa-f]{64}\Z")


def command_mac(psk: bytes, cmd: str, seq: int, nonce: str, ts: int) -> str:
    """HMAC-SHA256 (hex) over ``cmd|seq|nonce|ts``."""
    text = f"{cmd}|{seq}|{nonce}|{ts}"
    return hmac.new(psk, text.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignedCommand:
    payload: bytes
    seq: int | None  # the seq the ack must echo (-1 when it cannot)
    nonce: str | None
    fault: str


class CommandSigner:
    """Builds commands with the PSK; remembers the last valid nonce for ``replay``."""

    def __init__(self, psk: bytes, seed: int = 0) -> None:
        self._psk = psk
        self._rng = random.Random(seed)
        self.last_nonce: str | None = None

    def __repr__(self) -> str:  # the key never shows
        return "CommandSigner(psk=<hidden>)"

    def mac(self, cmd: str, seq: int, nonce: str, ts_ms: int) -> str:
        """The mac of a valid command with these fields (the fuzzer mutates signed ones)."""
        return command_mac(self._psk, cmd, seq, nonce, ts_ms)

    def new_nonce(self) -> str:
        return self._rng.getrandbits(128).to_bytes(16, "big").hex()

    def build(self, cmd: str, seq: int, ts_ms: int, fault: str = "none") -> SignedCommand:
        nonce = self.new_nonce()
        if fault == "replay":
            nonce = self.last_nonce or nonce
        if fault == "stale":
            ts_ms -= 60_000
        if fault == "bad_nonce":
            nonce = nonce[:31]
        mac = command_mac(self._psk, cmd, seq, nonce, ts_ms)
        if fault == "bad_mac":
            mac = mac[:-1] + ("0" if mac[-1] != "0" else "1")
        body: dict[str, Any] = {"cmd": cmd, "seq": seq, "nonce": nonce, "ts": ts_ms, "mac": mac}
        expect_seq: int | None = seq
        if fault == "missing_seq":
            del body["seq"]
            expect_seq = -1
        payload = json.dumps(body, separators=(",", ":")).encode()
        if fault == "malformed":
            payload = payload[:-1]  # the closing brace cut off: not JSON
            expect_seq = -1
        if fault == "oversize":
            body["pad"] = "x" * (MAX_PAYLOAD + 16)
            payload = json.dumps(body, separators=(",", ":")).encode()
            expect_seq = -1
        if fault == "none":
            self.last_nonce = nonce
        return SignedCommand(payload, expect_seq, nonce, fault)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    seq: int
    reason: str | None = None
    cmd: str | None = None
    nonce_key: str | None = None  # lower-case nonce, for replay memory

    def ack(self) -> bytes:
        body: dict[str, Any] = {"seq": self.seq, "result": "ok" if self.ok else "rejected"}
        if not self.ok:
            body["reason"] = self.reason
        return json.dumps(body, separators=(",", ":")).encode()


def _not_json(name: str) -> Any:
    """NaN, Infinity and -Infinity: Python's json reads them, RFC 8259 JSON has no such thing."""
    raise ValueError(f"{name} is not JSON")


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def verify_command(
    payload: bytes,
    psk: bytes,
    now_ms: int,
    seen_nonce: Callable[[str], bool],
    *,
    check_mac: bool = True,
    check_stale: bool = True,
    check_replay: bool = True,
    max_payload: int | None = MAX_PAYLOAD,
    allow_nonfinite: bool = False,
) -> VerifyResult:
    """The TCU's decision on one command payload (the switches make faulty variants).

    ``allow_nonfinite`` reads NaN, Infinity and -Infinity as numbers (an extension RFC 8259
    permits a parser): they are then not integers, so the command is still ``malformed``, but
    its ack echoes an integer ``seq``.
    """
    if max_payload is not None and len(payload) > max_payload:
        return VerifyResult(False, -1, "malformed")
    try:
        constant = float if allow_nonfinite else _not_json
        body = json.loads(payload.decode("utf-8"), parse_constant=constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return VerifyResult(False, -1, "malformed")
    if not isinstance(body, dict):
        return VerifyResult(False, -1, "malformed")
    seq = body.get("seq")
    echo = seq if isinstance(seq, int) and _int(seq) else -1
    cmd, nonce, ts, mac = (body.get(k) for k in ("cmd", "nonce", "ts", "mac"))
    if not (
        isinstance(seq, int)
        and _int(seq)
        and 0 <= seq < 2**31
        and isinstance(cmd, str)
        and isinstance(nonce, str)
        and _NONCE.match(nonce) is not None
        and isinstance(ts, int)
        and _int(ts)
        and isinstance(mac, str)
        and _MAC.match(mac) is not None
    ):
        return VerifyResult(False, echo, "malformed")
    if cmd not in COMMAND_IDS:
        return VerifyResult(False, seq, "unknown-cmd", cmd)
    if check_mac and not hmac.compare_digest(command_mac(psk, cmd, seq, nonce, ts), mac.lower()):
        return VerifyResult(False, seq, "bad-mac", cmd)
    if check_stale and abs(ts - now_ms) > STALE_AFTER_MS:
        return VerifyResult(False, seq, "stale", cmd)
    key = nonce.lower()
    if check_replay and seen_nonce(key):
        return VerifyResult(False, seq, "replay", cmd)
    return VerifyResult(True, seq, None, cmd, key)
