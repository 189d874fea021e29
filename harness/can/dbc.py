"""The DBC, loaded with cantools, plus fast per-signal decoders for the hot path.

cantools decodes a whole message per call; checks usually need one signal of one message
across thousands of frames. :class:`SignalCodec` compiles a little-endian signal into a
shift-and-mask over ``int.from_bytes`` (big-endian signals fall back to cantools), which is
what lets the harness evaluate frames faster than a plain cantools loop decodes them.
"""

from __future__ import annotations

import codecs
import contextlib
import difflib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cantools
import cantools.database

from harness.can.dbc_lint import LENIENT_HINT, layout_problems, outside_frame, scan_text
from harness.can.e2e import E2EProtection
from harness.errors import DbcError
from harness.safeio import DBC as DBC_INPUT
from harness.safeio import ParseTimeout, decode_text, parse_deadline, read_input

__all__ = [
    "CLASSIC_MAX_DATA",
    "CYCLE_TIME_ATTRIBUTES",
    "DBC_ENCODINGS",
    "CanDatabase",
    "MessageCodec",
    "SignalCodec",
    "classic_misfit",
    "load_dbc",
]

# Every bus the harness drives is classic CAN: the port, the rest-bus, the BLF trace and the
# bus-load arithmetic all assume it. A DBC may still hold CAN FD messages a profile never uses.
CLASSIC_MAX_DATA = 8


@dataclass(frozen=True)
class SignalCodec:
    """One signal: decode raw/physical values from payload bytes quickly."""

    name: str
    start: int
    length: int
    signed: bool
    scale: float
    offset: float
    little_endian: bool
    choices: Mapping[str, int]  # value-table name -> raw value
    unit: str
    minimum: float | None
    maximum: float | None
    _cantools: Any = field(repr=False, compare=False, default=None)
    _message: Any = field(repr=False, compare=False, default=None)

    @property
    def mask(self) -> int:
        return (1 << self.length) - 1

    @property
    def needed_bytes(self) -> int:
        return (self.start + self.length + 7) // 8 if self.little_endian else 0

    def raw(self, data: bytes | bytearray) -> int | None:
        """Raw integer value, or None when the payload is too short to hold the signal."""
        if self.little_endian:
            if len(data) < self.needed_bytes:
                return None
            value = (int.from_bytes(data, "little") >> self.start) & self.mask
            if self.signed and value >> (self.length - 1):
                value -= 1 << self.length
            return value
        try:
            decoded = self._message.decode(bytes(data), decode_choices=False, scaling=False)
        except Exception:
            return None
        return int(decoded[self.name])

    def physical(self, data: bytes | bytearray) -> float | None:
        raw = self.raw(data)
        return None if raw is None else raw * self.scale + self.offset

    def to_raw(self, value: float | int | str) -> int:
        """Physical value or value-table name to the raw integer."""
        if isinstance(value, str):
            return self.choices[value]
        return round((value - self.offset) / self.scale)

    def choice_name(self, raw: int) -> str | None:
        for name, number in self.choices.items():
            if number == raw:
                return name
        return None


@dataclass(frozen=True)
class MessageCodec:
    """One message of the DBC: identity, layout, cycle time, signals and E2E layout."""

    name: str
    frame_id: int
    is_extended: bool
    length: int
    cycle_time: float | None  # seconds, from GenMsgCycleTime (or CycleTime)
    senders: tuple[str, ...]
    signals: Mapping[str, SignalCodec]
    _cantools: Any = field(repr=False, compare=False, default=None)
    outside: frozenset[str] = frozenset()  # signals beyond the frame (a lenient reading only)
    is_fd: bool = False

    def signal(self, name: str) -> SignalCodec:
        return self.signals[name]

    def encode(self, values: Mapping[str, float | int | str]) -> bytes:
        """Encode physical values (value-table names allowed) with cantools, strictly."""
        data: bytes = self._cantools.encode(dict(values), scaling=True, strict=True)
        return data

    def decode(self, data: bytes | bytearray) -> dict[str, float | int | str]:
        decoded: dict[str, float | int | str] = self._cantools.decode(
            bytes(data), decode_choices=True, scaling=True
        )
        return decoded

    def e2e(self, counter: str, crc: str, data_id: int | None = None) -> E2EProtection:
        """CC-TCU-1's E2E layout from the named counter and CRC signals (the simulator's; a
        profile names its scheme instead, see :mod:`harness.can.e2e`)."""
        ctr = self.signals[counter]
        crc_sig = self.signals[crc]
        if crc_sig.length != 8 or crc_sig.start % 8 or not crc_sig.little_endian:
            raise DbcError(
                f"message {self.name}: CRC signal {crc}",
                expected="an 8-bit byte-aligned little-endian signal",
                got=f"start {crc_sig.start}, length {crc_sig.length}",
            )
        return E2EProtection(
            data_id=self.frame_id if data_id is None else data_id,
            counter_start=ctr.start,
            counter_length=ctr.length,
            crc_byte=crc_sig.start // 8,
            size=self.length,
        )


CYCLE_TIME_ATTRIBUTES = ("GenMsgCycleTime", "CycleTime")
"""Message attributes that give the cycle time in ms, in the order they are looked at."""


def _cycle_ms(msg: Any) -> float | None:
    """The message's cycle time in ms: cantools' (GenMsgCycleTime), else a CycleTime
    attribute as some OEM tools write it; None for 0 or none."""
    if msg.cycle_time:
        return float(msg.cycle_time)
    attributes = getattr(getattr(msg, "dbc", None), "attributes", None) or {}
    for name in CYCLE_TIME_ATTRIBUTES[1:]:
        attribute = attributes.get(name)
        value = getattr(attribute, "value", None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    return None


class CanDatabase:
    """A loaded DBC with lookup by name and identifier and helpful errors.

    ``relaxations`` lists what a lenient reading let through (one line each, naming the
    place); ``encoding`` is the text encoding the file was read in.
    """

    def __init__(
        self,
        db: Any,
        source: str,
        digest_source: bytes = b"",
        *,
        relaxations: tuple[str, ...] = (),
        encoding: str = "ascii",
        lenient: bool = False,
    ) -> None:
        self.source = source
        self.text = digest_source
        self.relaxations = relaxations
        self.encoding = encoding
        self.lenient = lenient
        self._db = db
        self.messages: dict[str, MessageCodec] = {}
        self.by_id: dict[int, MessageCodec] = {}
        bitrate = None
        try:
            bitrate = int(db.dbc.attributes["Baudrate"].value)
        except Exception:
            bitrate = None
        self.bitrate: int | None = bitrate
        for msg in db.messages:
            signals: dict[str, SignalCodec] = {}
            for sig in msg.signals:
                choices = {str(v): int(k) for k, v in (sig.choices or {}).items()}
                signals[sig.name] = SignalCodec(
                    name=sig.name,
                    start=sig.start,
                    length=sig.length,
                    signed=sig.is_signed,
                    scale=float(sig.scale),
                    offset=float(sig.offset),
                    little_endian=sig.byte_order == "little_endian",
                    choices=choices,
                    unit=sig.unit or "",
                    minimum=sig.minimum,
                    maximum=sig.maximum,
                    _cantools=sig,
                    _message=msg,
                )
            cycle = _cycle_ms(msg)
            codec = MessageCodec(
                name=msg.name,
                frame_id=msg.frame_id,
                is_extended=msg.is_extended_frame,
                length=msg.length,
                cycle_time=None if cycle is None else cycle / 1000.0,
                senders=tuple(msg.senders or ()),
                signals=signals,
                _cantools=msg,
                outside=frozenset(outside_frame(msg)) if lenient else frozenset(),
                is_fd=bool(getattr(msg, "is_fd", False)),
            )
            self.messages[msg.name] = codec
            self.by_id[msg.frame_id] = codec

    def message(self, name: str) -> MessageCodec:
        try:
            return self.messages[name]
        except KeyError:
            raise DbcError(
                f"no message {name!r} in {self.source}",
                choices=sorted(self.messages),
            ) from None

    def suggest_message(self, name: str) -> list[str]:
        return difflib.get_close_matches(name, self.messages, n=3)

    def nodes(self) -> list[str]:
        return [node.name for node in self._db.nodes]


def classic_misfit(msg: MessageCodec) -> str | None:
    """Why a classic CAN bus cannot carry ``msg`` (a CAN FD message), or None when it can."""
    fd = bool(getattr(msg._cantools, "is_fd", False))
    if msg.length <= CLASSIC_MAX_DATA and not fd:
        return None
    return (
        f"message {msg.name} (0x{msg.frame_id:03X}) is a CAN FD frame of {msg.length} data "
        "bytes, which the profile's classic CAN bus cannot carry (at most "
        f"{CLASSIC_MAX_DATA} data bytes per frame, no FD format; declare a CAN FD bus with "
        "`bus: {fd: true, bitrate: ..., data_bitrate: ...}`); expected a classic "
        f"CAN message, but got {msg.name} with {msg.length} bytes"
        + (" (VFrameFormat CAN FD)" if fd else "")
    )


DBC_ENCODINGS = ("utf-8", "cp1252", "cp949")
"""What DBC tools write: UTF-8, Windows-1252 (CANdb++ in Western Europe), CP949 (Korea)."""

_SYNTAX_AT = re.compile(r"line (\d+), column (\d+)")


AUTO = "auto"
"""The encoding setting that guesses among :data:`DBC_ENCODINGS`."""


def check_encoding(name: str) -> str:
    """``name`` when it is ``auto`` or a text encoding Python knows that writes ASCII as
    ASCII (every DBC keyword is ASCII); else ValueError saying what is expected."""
    if name == AUTO:
        return name
    try:
        info = codecs.lookup(name)
    except LookupError:
        info = None
    if info is None or not getattr(info, "_is_text_encoding", True) or _not_ascii(name):
        raise ValueError(
            f"expected auto or a text encoding that keeps ASCII as it is, such as "
            f"{', '.join(DBC_ENCODINGS)}, latin-1, cp932 or gb18030"
        )
    return name


def _not_ascii(name: str) -> bool:
    try:
        return "BO_ SG_ 09".encode(name) != b"BO_ SG_ 09"
    except (UnicodeError, LookupError):
        return True


_SET_IT = "; name the file's encoding in the profile: dbc: {path: ..., encoding: NAME}"


def _decode_dbc(raw: bytes, shown: str, encoding: str = AUTO) -> tuple[str, str]:
    """The DBC's text and the encoding it was read in.

    ``auto``: UTF-8 first; then CP949 for a file whose every non-ASCII byte is 0xA1 or above
    (Hangul in KS X 1001), before Windows-1252, which reads almost any byte; then CP949 in
    its whole range. A named encoding is the only one tried. The error names the encodings
    tried and the line and column of the byte that stopped them."""
    if encoding != AUTO:
        try:
            text, _ = decode_text(raw, (encoding,), DBC_INPUT, source=shown, error_cls=DbcError)
        except DbcError as exc:
            detail = (exc.detail or "").replace(
                f"in {encoding},", f"in {encoding} (the encoding asked for),", 1
            )
            raise DbcError(detail, source=shown, line=exc.line, col=exc.col) from None
        return text, encoding
    if raw.isascii():
        return raw.decode("ascii"), "ascii"
    with contextlib.suppress(UnicodeDecodeError):
        return raw.decode("utf-8-sig"), "utf-8"
    if all(b >= 0xA1 for b in raw if b >= 0x80):
        with contextlib.suppress(UnicodeDecodeError):
            return raw.decode("cp949"), "cp949"
    try:
        return decode_text(raw, DBC_ENCODINGS, DBC_INPUT, source=shown, error_cls=DbcError)
    except DbcError as exc:
        raise DbcError(
            (exc.detail or "") + _SET_IT, source=shown, line=exc.line, col=exc.col
        ) from None


def _cantools_problem(exc: Exception, shown: str) -> DbcError:
    """cantools' complaint without the file's content: a syntax error keeps only its line and
    column (the text around it may be anything, such as a secret file given as the DBC)."""
    text = str(exc)
    where = _SYNTAX_AT.search(text)
    if "Invalid syntax" in text or where is not None:
        return DbcError(
            "not a valid DBC: invalid syntax",
            source=shown,
            line=int(where.group(1)) if where else None,
            col=int(where.group(2)) if where else None,
        )
    first = text.splitlines()[0] if text else type(exc).__name__
    first = re.sub(r'^DBC: "(.*)"$', r"\1", first)
    return DbcError(f"not a valid DBC: {first[:200]}", source=shown)


def _duplicates(db: Any, text: str, shown: str) -> None:
    """Two messages on one frame ID, or one name defined twice, is an error naming both
    (cantools keeps the last one and only logs a warning)."""
    seen_ids: dict[tuple[int, bool], str] = {}
    seen_names: set[str] = set()
    for msg in db.messages:
        key = (msg.frame_id, bool(msg.is_extended_frame))
        if msg.name in seen_names:
            raise DbcError(
                f"message name {msg.name} is defined twice{_lines(text, msg.name)}; "
                "expected one BO_ per message name",
                source=shown,
            )
        seen_names.add(msg.name)
        if key in seen_ids:
            raise DbcError(
                f"messages {seen_ids[key]} and {msg.name} have the same frame ID "
                f"0x{msg.frame_id:X}{_lines(text, seen_ids[key], msg.name)}; expected one "
                "message per frame ID",
                source=shown,
            )
        seen_ids[key] = msg.name
        names = [sig.name for sig in msg.signals]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise DbcError(
                f"message {msg.name} defines signal {twice[0]} twice; expected one SG_ per "
                "signal name in a message",
                source=shown,
            )


def _lines(text: str, *names: str) -> str:
    found: list[int] = []
    for name in dict.fromkeys(names):
        pattern = re.compile(rf"^\s*BO_\s+\d+\s+{re.escape(name)}\s*:", re.MULTILINE)
        found.extend(text.count("\n", 0, m.start()) + 1 for m in pattern.finditer(text))
    return f" (BO_ at lines {', '.join(map(str, sorted(found)))})" if len(found) > 1 else ""


def load_dbc(
    path: str | os.PathLike[str],
    display: str | None = None,
    *,
    deadline: float | None = None,
    encoding: str = AUTO,
    lenient: bool = False,
) -> CanDatabase:
    """Load a DBC, read under :mod:`harness.safeio`'s policy: a regular file of at most
    4 MiB, in ``encoding`` (``auto``: UTF-8, CP949 or Windows-1252, see :func:`_decode_dbc`),
    parsed within ``deadline`` seconds of CPU time (default 20).

    Strictly by default: overlapping signals, signals beyond the frame, value tables of
    undefined signals, zero-length signals (:mod:`harness.can.dbc_lint`), two messages on
    one frame ID or under one name are errors naming the line. ``lenient`` lets the first
    four through, each listed in the result's ``relaxations``; the duplicates stay errors."""
    shown = display or str(path)
    raw = read_input(path, DBC_INPUT, error_cls=DbcError, display=shown)
    text, used = _decode_dbc(raw, shown, encoding)
    limit = DBC_INPUT.parse_seconds if deadline is None else deadline
    logger = logging.getLogger("cantools")
    level = logger.level
    logger.setLevel(logging.ERROR)  # its warnings print parts of the file; we check ourselves
    try:
        with parse_deadline(limit):
            scan = scan_text(text, shown, lenient=lenient)
            db: Any = cantools.database.load_string(scan.text, database_format="dbc", strict=False)
            found = scan.relaxations + _layout(db, scan.message_lines, shown, lenient)
    except ParseTimeout:
        raise DbcError(
            f"expected a DBC that parses within {limit:g} s of CPU time, but parsing took longer",
            source=shown,
        ) from None
    except RecursionError:
        raise DbcError("not a valid DBC: nested too deeply", source=shown) from None
    except DbcError:
        raise
    except Exception as exc:  # cantools raises several unrelated types for a bad file
        raise _cantools_problem(exc, shown) from None
    finally:
        logger.setLevel(level)
    if not db.messages:
        raise DbcError("the DBC defines no messages", source=shown, expected="BO_ entries")
    _duplicates(db, text, shown)
    relaxations = tuple(f"{shown}:{line}: {what}" for line, what in sorted(found))
    return CanDatabase(db, shown, raw, relaxations=relaxations, encoding=used, lenient=lenient)


def _layout(db: Any, lines: Mapping[str, int], shown: str, lenient: bool) -> list[tuple[int, str]]:
    """Each message's layout problems: the first is an error in a strict reading, all are
    relaxations (kept as they are) in a lenient one, as (line of the BO_, what)."""
    found: list[tuple[int, str]] = []
    for msg in db.messages:
        for what, _signals in layout_problems(msg):
            line = lines.get(msg.name)
            if not lenient:
                raise DbcError(
                    f"{what}; expected signals that fit the frame without overlapping"
                    + LENIENT_HINT,
                    source=shown,
                    line=line,
                )
            found.append((line or 0, f"{what}: kept"))
    return found
