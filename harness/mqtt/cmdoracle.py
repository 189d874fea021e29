"""The expected ack of a remote command that must be rejected, from the reference page alone.

CMD-005 and the order rule decide the ack of a malformed command without the key: a payload
over 1024 bytes, one that is not JSON, not a JSON object, or has a field missing or mistyped
(``seq`` an integer 0..2^31-1, ``cmd`` a string, ``nonce`` 32 hex digits, ``ts`` an integer,
``mac`` 64 hex digits) is rejected ``malformed``; a well-formed one whose ``cmd`` is none of
horn, flash, lock, unlock is rejected ``unknown-cmd``. The ack echoes ``seq`` when it is an
integer and is -1 when the payload is over 1024 bytes or ``seq`` is missing or not an integer.
Anything else is a well-formed command, whose ack depends on the key, the clock and the nonce
memory (bad-mac, stale, replay or ok): :func:`expected_ack` does not judge those.

This is deliberately a second implementation, not the simulator's
(:func:`harness.mqtt.commands.verify_command`): its own strict JSON parser (RFC 8259: no NaN,
no comments, no trailing commas, no leading zeros, no raw control characters in strings)
and its own field rules, so that a mistake in one does not hide in the other.

Where the JSON standard leaves a payload to the parser, the oracle tries every reading it
allows and judges the payload only when they all give the same ack: a byte order mark (may be
skipped or refused), bytes that are not UTF-8 (refused, or read as U+FFFD), duplicate member
names (refused, first or last wins), an unpaired ``\\uD800`` escape (refused or kept), and a
number written with a fraction or exponent whose value is whole (``5.0``, ``1e2``: an integer
to some parsers, not to others), and the extensions ``NaN``, ``Infinity`` and ``-Infinity``
(RFC 8259 section 9 lets a parser accept them: refused, or read as numbers that are not
integers). A payload whose readings disagree on the result or the reason, or that some
reading takes for a well-formed command, is *ambiguous*: the fuzzer does not send it and the
corpus does not hold it. A payload every reading rejects for the same reason but whose
readings echo different ``seq`` values (``{"seq":5,"ts":NaN,...}``: -1 when NaN makes it no
JSON, 5 when NaN is a number) is decided with each of those ``seq`` values permitted
(:attr:`Expected.seqs`); the generator sends only payloads with a single answer.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["COMMANDS", "MAX_PAYLOAD", "Expected", "Verdict", "expected_ack", "judge_payload"]

MAX_PAYLOAD = 1024
COMMANDS = frozenset({"horn", "flash", "lock", "unlock"})
SEQ_LIMIT = 2**31
_HEX = frozenset("0123456789abcdefABCDEF")
_WS = " \t\n\r"
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_DIGITS = frozenset("0123456789")
_HUGE = 10**1001  # stands for a whole number too large to write out (1e100000)


@dataclass(frozen=True)
class Expected:
    """The ack a rejected command must get: ``{"seq", "result": "rejected", "reason"}``."""

    reason: str  # malformed or unknown-cmd
    seq: int  # the seq under the strict reading (RFC 8259 without extensions)
    why: str  # what makes it so, for people
    also: tuple[int, ...] = ()  # further seq values other permitted readings echo

    @property
    def seqs(self) -> tuple[int, ...]:
        """Every permitted ``seq``, the strict reading's first."""
        return (self.seq, *self.also)

    @property
    def unanimous(self) -> bool:
        """True when every reading gives this one ack."""
        return not self.also

    def as_dict(self) -> dict[str, Any]:
        seq: int | list[int] = self.seq if self.unanimous else list(self.seqs)
        return {"seq": seq, "result": "rejected", "reason": self.reason}

    def describe(self) -> str:
        return f"rejected/{self.reason} seq {' or '.join(str(s) for s in self.seqs)}"


@dataclass(frozen=True)
class Verdict:
    """The oracle's answer: an :class:`Expected` ack, or why it cannot say."""

    expected: Expected | None
    undecided: str | None = None  # "well-formed ..." or "ambiguous: ..."


# -- a strict JSON parser with switchable readings ----------------------------------------------
@dataclass(frozen=True)
class _Reading:
    bom: str = "refuse"  # or "skip"
    utf8: str = "refuse"  # or "replace"
    duplicates: str = "refuse"  # or "first", "last"
    surrogates: str = "refuse"  # or "keep"
    whole_floats: str = "float"  # or "integer"
    nonfinite: str = "refuse"  # or "accept": NaN, Infinity, -Infinity as (non-integer) numbers


_NONFINITE = ("NaN", "Infinity", "-Infinity")

_CHOICES = {
    "bom": ("refuse", "skip"),
    "utf8": ("refuse", "replace"),
    "duplicates": ("refuse", "first", "last"),
    "surrogates": ("refuse", "keep"),
    "whole_floats": ("float", "integer"),
    "nonfinite": ("refuse", "accept"),
}


class _NotJson(Exception):
    pass


@dataclass(frozen=True)
class _Number:
    token: str  # as written

    @property
    def is_integer_token(self) -> bool:
        return not any(c in self.token for c in ".eEIN")  # NaN, Infinity: numbers, not integers


class _Parser:
    """RFC 8259 over a decoded text; notes in ``seen`` which open questions it met."""

    def __init__(self, text: str, reading: _Reading, seen: set[str]) -> None:
        self.s = text
        self.i = 0
        self.r = reading
        self.seen = seen

    def fail(self, what: str) -> _NotJson:
        return _NotJson(f"{what} at character {self.i}")

    def ws(self) -> None:
        s, i = self.s, self.i
        while i < len(s) and s[i] in _WS:
            i += 1
        self.i = i

    def document(self) -> Any:
        self.ws()
        value = self.value()
        self.ws()
        if self.i != len(self.s):
            raise self.fail("text after the JSON value")
        return value

    def value(self) -> Any:
        # Iterative over containers: a 1024-byte payload nests 512 deep at most, and the
        # oracle must not depend on how deep the caller's stack already is.
        stack: list[tuple[str, Any, str | None]] = []  # (kind, items, pending key)
        while True:
            self.ws()
            if self.i >= len(self.s):
                raise self.fail("unexpected end")
            c = self.s[self.i]
            if c == "{":
                self.i += 1
                self.ws()
                if self.i < len(self.s) and self.s[self.i] == "}":
                    self.i += 1
                    item: Any = {}
                else:
                    stack.append(("object", [], self.key()))
                    continue
            elif c == "[":
                self.i += 1
                self.ws()
                if self.i < len(self.s) and self.s[self.i] == "]":
                    self.i += 1
                    item = []
                else:
                    stack.append(("array", [], None))
                    continue
            else:
                item = self.scalar()
            # one value complete: add it to its container, close containers that end here
            while True:
                if not stack:
                    return item
                kind, items, key = stack[-1]
                items.append((key, item) if kind == "object" else item)
                self.ws()
                if self.i >= len(self.s):
                    raise self.fail("unexpected end")
                c = self.s[self.i]
                self.i += 1
                if c == ",":
                    if kind == "object":
                        stack[-1] = (kind, items, self.key())
                    break
                if (kind, c) == ("object", "}"):
                    stack.pop()
                    item = self.members(items)
                    continue
                if (kind, c) == ("array", "]"):
                    stack.pop()
                    item = items
                    continue
                self.i -= 1
                raise self.fail(f"unexpected {c!r} in an {kind}")

    def key(self) -> str:
        self.ws()
        if self.i >= len(self.s) or self.s[self.i] != '"':
            raise self.fail("expected a member name")
        name = self.string()
        self.ws()
        if self.i >= len(self.s) or self.s[self.i] != ":":
            raise self.fail("expected ':'")
        self.i += 1
        return name

    def members(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in pairs:
            if name in out:
                self.seen.add("duplicates")
                if self.r.duplicates == "refuse":
                    raise self.fail(f"duplicate member {name!r}")
                if self.r.duplicates == "first":
                    continue
            out[name] = value
        return out

    def scalar(self) -> Any:
        s, i = self.s, self.i
        c = s[i]
        if c == '"':
            return self.string()
        for word, value in (("true", True), ("false", False), ("null", None)):
            if s.startswith(word, i):
                self.i = i + len(word)
                return value
        for word in _NONFINITE:
            if s.startswith(word, i):
                self.seen.add("nonfinite")
                if self.r.nonfinite == "refuse":
                    raise self.fail(f"{word} (not JSON)")
                self.i = i + len(word)
                return _Number(word)
        if c == "-" or c in _DIGITS:
            return self.number()
        raise self.fail(f"unexpected {c!r}")

    def number(self) -> _Number:
        s, start = self.s, self.i
        i = start
        if i < len(s) and s[i] == "-":
            i += 1
        if i < len(s) and s[i] == "0":
            i += 1
        elif i < len(s) and s[i] in _DIGITS:
            while i < len(s) and s[i] in _DIGITS:
                i += 1
        else:
            self.i = i
            raise self.fail("a number without digits")
        if i < len(s) and s[i] == ".":
            i += 1
            if i >= len(s) or s[i] not in _DIGITS:
                self.i = i
                raise self.fail("a fraction without digits")
            while i < len(s) and s[i] in _DIGITS:
                i += 1
        if i < len(s) and s[i] in "eE":
            i += 1
            if i < len(s) and s[i] in "+-":
                i += 1
            if i >= len(s) or s[i] not in _DIGITS:
                self.i = i
                raise self.fail("an exponent without digits")
            while i < len(s) and s[i] in _DIGITS:
                i += 1
        self.i = i
        return _Number(s[start:i])

    def string(self) -> str:
        s = self.s
        i = self.i + 1
        out: list[str] = []
        while True:
            if i >= len(s):
                self.i = i
                raise self.fail("an unterminated string")
            c = s[i]
            if c == '"':
                self.i = i + 1
                return "".join(out)
            if c < " ":
                self.i = i
                raise self.fail("a control character in a string")
            if c != "\\":
                out.append(c)
                i += 1
                continue
            esc = s[i + 1 : i + 2]
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                i += 2
                continue
            if esc != "u":
                self.i = i
                raise self.fail("a bad escape")
            code = self.hex4(i + 2)
            i += 6
            if 0xD800 <= code <= 0xDBFF and s[i : i + 2] == "\\u":
                low = self.hex4(i + 2)
                if 0xDC00 <= low <= 0xDFFF:
                    out.append(chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)))
                    i += 6
                    continue
            if 0xD800 <= code <= 0xDFFF:
                self.seen.add("surrogates")
                if self.r.surrogates == "refuse":
                    self.i = i
                    raise self.fail("an unpaired surrogate escape")
            out.append(chr(code))

    def hex4(self, at: int) -> int:
        digits = self.s[at : at + 4]
        if len(digits) != 4 or not all(d in _HEX for d in digits):
            self.i = at
            raise self.fail("a \\u escape without 4 hex digits")
        return int(digits, 16)


def _parse(payload: bytes, reading: _Reading, seen: set[str]) -> Any:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        seen.add("utf8")
        if reading.utf8 == "refuse":
            raise _NotJson("not UTF-8") from None
        text = payload.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        seen.add("bom")
        if reading.bom == "refuse":
            raise _NotJson("a byte order mark")
        text = text[1:]
    return _Parser(text, reading, seen).document()


# -- the page's rules ------------------------------------------------------------------------------
def _integer(value: Any, reading: _Reading, seen: set[str]) -> int | None:
    """The value as a JSON integer, or None (a string, a fraction, true, ...)."""
    if not isinstance(value, _Number):
        return None
    if value.is_integer_token:
        return int(value.token)
    if value.token in _NONFINITE:
        return None
    try:
        number = Decimal(value.token)
    except InvalidOperation:  # pragma: no cover - the parser admits only valid tokens
        return None
    if number != number.to_integral_value():
        return None
    seen.add("whole_floats")
    if reading.whole_floats == "float":
        return None
    return int(number) if number.adjusted() <= 1000 else _HUGE


def _hex(value: Any, digits: int) -> bool:
    return isinstance(value, str) and len(value) == digits and all(c in _HEX for c in value)


def _show(value: Any) -> str:
    if isinstance(value, _Number):
        return value.token if len(value.token) <= 24 else value.token[:21] + "..."
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _judge(payload: bytes, reading: _Reading, seen: set[str]) -> tuple[str, int, str] | None:
    """(reason, seq, why) for one reading; None for a well-formed command with a known cmd."""
    if len(payload) > MAX_PAYLOAD:
        return "malformed", -1, f"{len(payload)} bytes, over {MAX_PAYLOAD}"
    try:
        body = _parse(payload, reading, seen)
    except _NotJson as exc:
        return "malformed", -1, f"not JSON: {exc}"
    if not isinstance(body, dict):
        return "malformed", -1, f"not a JSON object but {_show(body)}"
    seq = _integer(body.get("seq"), reading, seen)
    echo = -1 if seq is None else seq
    wrong: list[str] = []
    for name in ("cmd", "seq", "nonce", "ts", "mac"):
        if name not in body:
            wrong.append(f"{name} missing")
    if "seq" in body:
        if seq is None:
            wrong.append(f"seq {_show(body['seq'])} is not an integer")
        elif not 0 <= seq < SEQ_LIMIT:
            wrong.append(f"seq {seq} is outside 0..2^31-1")
    if "cmd" in body and not isinstance(body["cmd"], str):
        wrong.append(f"cmd is {_show(body['cmd'])}, not a string")
    for name, digits in (("nonce", 32), ("mac", 64)):
        if name in body and not _hex(body[name], digits):
            wrong.append(f"{name} is not {digits} hex digits")
    if "ts" in body and _integer(body["ts"], reading, seen) is None:
        wrong.append(f"ts {_show(body['ts'])} is not an integer")
    if wrong:
        return "malformed", echo, "; ".join(wrong)
    if body["cmd"] not in COMMANDS:
        cmd = body["cmd"]
        return "unknown-cmd", echo, f"cmd {cmd[:24]!r} is not horn, flash, lock or unlock"
    return None


def judge_payload(payload: bytes) -> Verdict:
    """The ack ``payload`` must get, under every reading the JSON standard allows."""
    seen: set[str] = set()
    first = _judge(payload, _Reading(), seen)
    outcomes = {first[:2] if first else None}
    tried: set[str] = set()
    while seen - tried:  # a new open question: try every combination of the ones met so far
        tried = set(seen)
        names = sorted(tried)
        for combo in itertools.product(*(_CHOICES[n] for n in names)):
            reading = _Reading(**dict(zip(names, combo, strict=True)))
            got = _judge(payload, reading, seen)
            outcomes.add(got[:2] if got else None)
    if first is None and outcomes == {None}:
        return Verdict(None, "a well-formed command: its ack depends on the key, clock and nonces")
    reasons = {o[0] if o else None for o in outcomes}
    if first is None or len(reasons) > 1:
        return Verdict(
            None,
            f"ambiguous: the JSON standard leaves {', '.join(sorted(seen))} "
            "to the parser, and the readings give different acks",
        )
    reason, seq, why = first
    also = tuple(sorted({o[1] for o in outcomes if o is not None} - {seq}))
    return Verdict(Expected(reason, seq, why, also))


def expected_ack(payload: bytes) -> Expected | None:
    """The ack of a payload that must be rejected, or None when the page does not decide it
    without the key (a well-formed command) or the JSON standard leaves it open."""
    return judge_payload(payload).expected
