"""What a lab needs to know about a DBC before and after cantools reads it.

Real OEM files break cantools in ways that name no place, or cost without bound:

* **Before parsing**, a linear scan of the text (strings and ``//`` comments blanked, so line
  numbers stay true) refuses what would make cantools allocate per bit without limit or fail
  without a line: a ``BO_`` with more data bytes than a CAN FD frame holds, an identifier too
  wide for its format, a ``SG_`` whose start or length lies beyond 64 bytes. It also finds what
  cantools refuses in every mode though the rest of the file is fine: value tables (``VAL_``)
  and value types (``SIG_VALTYPE_``) of signals the file does not define, and signals of
  length 0.
* **After parsing**, the layout of every message: overlapping signals (except signals in
  different branches of one multiplexer) and signals beyond the frame, which cantools' strict
  mode refuses at the first one, without a line.

Strict reading makes each finding a :class:`~harness.errors.DbcError` naming the line. Lenient
reading (a profile's ``dbc: {lenient: true}``, ``harness init --lenient``) relaxes the findings
a lab can live with: the stray ``VAL_``/``SIG_VALTYPE_`` and zero-length ``SG_`` are blanked
out, overlaps and signals beyond the frame are kept; each relaxation is one warning naming the
line, the message and the signal. What no reading can make sense of stays an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import DbcError

__all__ = [
    "INDEPENDENT",
    "LENIENT_HINT",
    "MAX_DATA",
    "MAX_SIGNAL_BITS",
    "Scan",
    "layout_problems",
    "outside_frame",
    "scan_text",
    "signal_bits",
]

MAX_DATA = 64
"""Most data bytes of any CAN frame (CAN FD)."""
MAX_SIGNAL_BITS = 64
"""Longest signal the DBC format has."""
INDEPENDENT = "VECTOR__INDEPENDENT_SIG_MSG"
"""CANdb++'s pseudo-message holding signals of no message; cantools drops it."""

_EXTENDED = 0x80000000
_NOISE = re.compile(r'//[^\n]*|"(?:\\"|[^"])*?"')
_STATEMENT = re.compile(
    r"^[ \t]*+(?:"
    r"(?P<bo>BO_)[ \t]++(?P<bo_id>\d++)[ \t]++(?P<bo_name>\w++)[ \t]*+:[ \t]*+(?P<dlc>\d++)"
    r"|(?P<sg>SG_)[ \t]++(?P<sg_name>\w++)(?:[ \t]++(?P<mux>\w++))?[ \t]*+:"
    r"[ \t]*+(?P<start>\d++)[ \t]*+\|[ \t]*+(?P<length>\d++)"
    r"|(?P<val>VAL_|SIG_VALTYPE_)[ \t]++(?P<val_id>\d++)[ \t]++(?P<val_sig>\w++)"
    r")",
    re.MULTILINE,
)


def _blank(match: re.Match[str]) -> str:
    text = match.group()
    if text.startswith("//"):
        return " " * len(text)
    return '"' + re.sub(r"[^\n]", " ", text[1:-1]) + '"'


@dataclass
class Scan:
    """The text cantools gets (lenient blanks filled in) and what was relaxed on the way."""

    text: str
    relaxations: list[tuple[int, str]] = field(default_factory=list)  # (line, what)
    message_lines: dict[str, int] = field(default_factory=dict)


class _Lines:
    """Line and column of positions met in increasing order, in linear time overall."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1

    def __call__(self, index: int) -> tuple[int, int]:
        if index < self.pos:  # out of order (rare): count from the start
            self.pos, self.line = 0, 1
        self.line += self.text.count("\n", self.pos, index)
        self.pos = index
        return self.line, index - (self.text.rfind("\n", 0, index) + 1) + 1


def _number(match: re.Match[str], group: str, limit: int) -> int:
    """A decimal field, at most ``limit`` (a longer digit string is past any limit)."""
    digits = match.group(group)
    return limit + 1 if len(digits) > 12 else int(digits)


def scan_text(text: str, shown: str, *, lenient: bool) -> Scan:
    """Check the bounds of every ``BO_``/``SG_`` and the references of every ``VAL_`` and
    ``SIG_VALTYPE_``; in lenient mode blank out the statements cantools would refuse."""
    masked = _NOISE.sub(_blank, text)
    where = _Lines(masked)
    scan = Scan(text)
    defined: set[tuple[int, str]] = set()
    names: dict[int, str] = {}
    drop: list[tuple[int, int]] = []
    later: list[re.Match[str]] = []
    current: tuple[int, str] | None = None

    def error(match: re.Match[str], what: str) -> DbcError:
        line, col = where(match.start())
        return DbcError(what, source=shown, line=line, col=col)

    for m in _STATEMENT.finditer(masked):
        if m.group("bo"):
            raw_id = _number(m, "bo_id", 0xFFFFFFFF)
            name = m.group("bo_name")
            names[raw_id] = name
            scan.message_lines.setdefault(name, where(m.start())[0])
            current = (raw_id, name)
            if name == INDEPENDENT:
                continue
            _check_identifier(m, raw_id, name, error)
            dlc = _number(m, "dlc", MAX_DATA)
            if dlc > MAX_DATA:
                raise error(
                    m,
                    f"message {name} declares {m.group('dlc')[:20]} data bytes; expected at most "
                    f"{MAX_DATA} (a CAN FD frame)",
                )
        elif m.group("sg"):
            sig = m.group("sg_name")
            if current is None:
                raise error(m, f"signal {sig} comes before any message; expected SG_ after a BO_")
            raw_id, msg = current
            start = _number(m, "start", 8 * MAX_DATA)
            length = _number(m, "length", MAX_SIGNAL_BITS)
            if msg != INDEPENDENT and (start >= 8 * MAX_DATA or length > MAX_SIGNAL_BITS):
                raise error(
                    m,
                    f"message {msg}: signal {sig} at bit {m.group('start')[:20]} with "
                    f"{m.group('length')[:20]} bits; expected a start bit below {8 * MAX_DATA} "
                    f"and at most {MAX_SIGNAL_BITS} bits (a signal of a CAN FD frame)",
                )
            if length == 0:
                if not lenient:
                    raise error(
                        m,
                        f"message {msg}: signal {sig} has length 0; expected at least 1 bit"
                        + LENIENT_HINT,
                    )
                drop.append(_line_span(masked, m.start()))
                line = where(m.start())[0]
                scan.relaxations.append(
                    (line, f"message {msg}: signal {sig} of length 0: left out")
                )
                continue
            defined.add((raw_id, sig))
        else:
            later.append(m)
    for m in later:
        raw_id = _number(m, "val_id", 0xFFFFFFFF)
        sig = m.group("val_sig")
        end = masked.find(";", m.end())
        span = (m.start(), len(masked) if end < 0 else end + 1)
        if names.get(raw_id) == INDEPENDENT:  # cantools drops the pseudo-message, not these
            drop.append(span)
            continue
        if (raw_id, sig) in defined:
            continue
        keyword = m.group("val")
        owner = names.get(raw_id)
        what = (
            f"{keyword} for signal {sig} of message {owner}, which has no such signal"
            if owner is not None
            else f"{keyword} for signal {sig} of frame ID {raw_id}, which no BO_ defines"
        )
        if not lenient:
            raise error(m, f"{what}; expected {keyword} entries of defined signals" + LENIENT_HINT)
        drop.append(span)
        scan.relaxations.append((where(m.start())[0], f"{what}: left out"))
    if drop:
        scan.text = _blank_spans(text, drop)
    return scan


LENIENT_HINT = (
    " (lenient: true under the profile's dbc key, or harness init --lenient, reads it with a "
    "warning)"
)


def _check_identifier(match: re.Match[str], raw_id: int, name: str, error: Any) -> None:
    if raw_id > 0xFFFFFFFF or (raw_id & _EXTENDED and raw_id & 0x7FFFFFFF > 0x1FFFFFFF):
        raise error(
            match,
            f"message {name}: identifier {match.group('bo_id')[:20]} is wider than 29 bits; "
            "expected an extended identifier as 0x80000000 + ID (at most 0x9FFFFFFF)",
        )
    if not raw_id & _EXTENDED and raw_id > 0x7FF:
        raise error(
            match,
            f"message {name}: identifier {raw_id} (0x{raw_id:X}) is wider than 11 bits but not "
            "marked extended; expected a standard identifier up to 0x7FF, or an extended one "
            f"written as 0x80000000 + ID ({_EXTENDED | raw_id})",
        )


def _line_span(text: str, index: int) -> tuple[int, int]:
    end = text.find("\n", index)
    return index, len(text) if end < 0 else end


def _blank_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    parts: list[str] = []
    pos = 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        parts.append(text[pos:start])
        parts.append(re.sub(r"[^\n]", " ", text[start:end]))
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


# -- layout ---------------------------------------------------------------------------------------


def signal_bits(sig: Any) -> range | list[int]:
    """The bits a cantools signal occupies, numbered as the payload's little-endian integer
    (bit b is bit b % 8 of byte b // 8)."""
    if sig.byte_order == "little_endian":
        return range(sig.start, sig.start + sig.length)
    # Motorola: the start bit is the most significant one; the signal runs towards byte 0's
    # end in "MSB first" order, where position j is bit 7 - j % 8 of byte j // 8.
    first = 8 * (sig.start // 8) + 7 - sig.start % 8
    return [8 * (j // 8) + 7 - j % 8 for j in range(first, first + sig.length)]


def outside_frame(message: Any) -> list[str]:
    """Signals of a cantools message that do not fit in its data bytes."""
    size = 8 * message.length
    return [sig.name for sig in message.signals if any(b >= size for b in signal_bits(sig))]


def _branches(message: Any, sig: Any) -> dict[str, frozenset[int]]:
    """Each multiplexer above ``sig`` and the selector values under which ``sig`` exists."""
    chain: dict[str, frozenset[int]] = {}
    seen = 0
    while sig.multiplexer_signal is not None and seen < 16:
        chain[sig.multiplexer_signal] = frozenset(sig.multiplexer_ids or ())
        try:
            sig = message.get_signal_by_name(sig.multiplexer_signal)
        except KeyError:
            break
        seen += 1
    return chain


def _exclusive(a: dict[str, frozenset[int]], b: dict[str, frozenset[int]]) -> bool:
    """Two signals never in one frame: some multiplexer selects them by different values."""
    return any(name in b and not ids & b[name] for name, ids in a.items())


def layout_problems(message: Any) -> list[tuple[str, Sequence[str]]]:
    """Overlapping signals and signals beyond the frame of a cantools message, as
    (description, signal names), the same findings cantools' strict mode refuses."""
    problems: list[tuple[str, Sequence[str]]] = []
    size = 8 * message.length
    for name in outside_frame(message):
        sig = message.get_signal_by_name(name)
        problems.append(
            (
                f"message {message.name}: signal {name} (start bit {sig.start}, {sig.length} "
                f"bits) does not fit in its {message.length} data bytes",
                (name,),
            )
        )
    owners: dict[int, list[Any]] = {}
    chains = {sig.name: _branches(message, sig) for sig in message.signals}
    pairs: dict[tuple[str, str], list[int]] = {}
    for sig in message.signals:
        for bit in signal_bits(sig):
            if bit >= size:
                continue
            for other in owners.setdefault(bit, []):
                if not _exclusive(chains[sig.name], chains[other.name]):
                    pairs.setdefault((other.name, sig.name), []).append(bit)
            owners[bit].append(sig)
    for (first, second), bits in pairs.items():
        problems.append(
            (
                f"message {message.name}: signals {first} and {second} overlap in "
                f"{len(bits)} bit(s) (bits {min(bits)}..{max(bits)})",
                (first, second),
            )
        )
    return problems
