"""UDS exchanges read back from the frame log: ISO-TP reassembly without a bus.

The tester side sends and receives ISO-TP live (:mod:`harness.uds.link`), but the checks judge
what the log recorded, so that a run re-evaluated from its trace gives the same verdicts. Here
every frame of a window on the request identifiers (harness side) and on the response
identifier (DUT side) is reassembled into whole messages (:class:`Transfer`), with the
timestamp of the frame that started each and of the frame that completed it; flow control
frames are skipped, and frames that are no valid ISO-TP (an empty single frame, a consecutive
frame out of sequence) are ignored, as ISO 15765-2 has a receiver do.

:func:`exchanges` pairs each request with the responses to it: those of its service (a
positive response ``SID + 0x40`` or a negative ``7F SID``) that started after the request was
complete, and no later than the next request started. On the virtual clock a response and
the next request can share an instant (the tester sends as soon as the answer is in): the
answer then belongs to the earlier request, never to the one sent at its very instant.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.observe import FLAG_BRS, FLAG_FD, Column, FrameLog

__all__ = [
    "ADDRESSING_MODES",
    "FRAME_FORMATS",
    "DiagIds",
    "Exchange",
    "Transfer",
    "addressed",
    "answer_frames",
    "exchanges",
    "format_of",
    "normal_fixed_ids",
    "transfers",
    "wrong_format",
]

PENDING = 0x78  # requestCorrectlyReceived-ResponsePending


ADDRESSING_MODES = ("normal_11", "normal_29", "normal_fixed_29", "extended")
FRAME_FORMATS = ("any", "classic", "fd", "fd_brs")
"""What the part's diagnostic frames must be: not judged, classic CAN, CAN FD (with or
without BRS), CAN FD with the bit rate switch."""


@dataclass(frozen=True)
class DiagIds:
    """Where requests and responses travel, in one ISO-TP addressing mode (ISO 15765-2).

    ``mode`` is ``normal_11`` (the default), ``normal_29`` (29-bit identifiers given
    explicitly), ``normal_fixed_29`` (29-bit ``0x18DA<TA><SA>`` physical and
    ``0x18DB<TA><SA>`` functional; the identifiers here are already the resolved ones, see
    :func:`normal_fixed_ids`) or ``extended`` (11-bit identifiers; the first byte of every
    frame is the target address: ``target_address`` on physical requests,
    ``functional_address`` on functional ones, ``source_address`` (the tester's) on the
    part's frames). Whether identifiers are 29-bit comes from the mode, never from their value.
    """

    request_id: int = 0x7E0  # physical
    functional_id: int = 0x7DF
    response_id: int = 0x7E8
    mode: str = "normal_11"
    target_address: int | None = None  # extended: N_TA byte of physical requests
    functional_address: int | None = None  # extended: N_TA byte of functional requests
    source_address: int | None = None  # extended: N_TA byte of the part's frames (tester)

    @property
    def extended_id(self) -> bool:
        """29-bit identifiers (declared by the mode)."""
        return self.mode in ("normal_29", "normal_fixed_29")

    @property
    def prefixed(self) -> bool:
        """Extended addressing: every frame's first byte is an address, not ISO-TP."""
        return self.mode == "extended"

    def prefix_of(self, can_id: int) -> int | None:
        """The address byte frames on ``can_id`` carry (None: not extended addressing)."""
        if not self.prefixed:
            return None
        if can_id == self.response_id:
            return self.source_address
        if can_id == self.functional_id:
            return self.functional_address
        return self.target_address

    def describe(self) -> str:
        """The addressing in words, for messages naming it."""
        width = 29 if self.extended_id else 11
        ids = (
            f"{width}-bit request 0x{self.request_id:X}, functional 0x{self.functional_id:X}, "
            f"response 0x{self.response_id:X}"
        )
        if self.prefixed:
            ids += (
                f"; address bytes TA 0x{self.target_address or 0:02X}, functional "
                f"0x{self.functional_address or 0:02X}, SA 0x{self.source_address or 0:02X}"
            )
        return f"{self.mode} addressing ({ids})"

    def sent(self, log: FrameLog, can_id: int) -> Column:
        """The harness's frames on a request identifier, as ISO-TP sees them."""
        return addressed(log.tx_of(can_id), self.prefix_of(can_id))

    def answered(self, log: FrameLog) -> Column:
        """The part's frames on the response identifier, as ISO-TP sees them."""
        return addressed(log.rx_of(self.response_id), self.prefix_of(self.response_id))


def normal_fixed_ids(
    target: int, source: int, functional_target: int = 0x33, priority: int = 6
) -> tuple[int, int, int]:
    """(physical, functional, response) identifiers of ISO 15765-4 style normal fixed
    addressing from the part's address ``target`` and the tester's ``source``."""
    base = (priority & 0x7) << 26
    physical = base | 0xDA0000 | (target << 8) | source
    functional = base | 0xDB0000 | (functional_target << 8) | source
    response = base | 0xDA0000 | (source << 8) | target
    return physical, functional, response


def addressed(col: Column, prefix: int | None) -> Column:
    """The frames of a column as ISO-TP sees them: with extended addressing only those whose
    address byte is ``prefix``, without it (unchanged when ``prefix`` is None)."""
    if prefix is None:
        return col
    keep = [k for k, d in enumerate(col.data) if d and d[0] == prefix]
    return Column([col.ts[k] for k in keep], [col.data[k][1:] for k in keep])


@dataclass(frozen=True)
class Transfer:
    """One ISO-TP message: its payload, identifier and the times of its first and last frame."""

    can_id: int
    payload: bytes
    first: float
    last: float
    frames: int = 1

    @property
    def is_negative(self) -> bool:
        return len(self.payload) >= 3 and self.payload[0] == 0x7F

    @property
    def nrc(self) -> int | None:
        return self.payload[2] if self.is_negative else None

    @property
    def is_pending(self) -> bool:
        return self.nrc == PENDING


def transfers(col: Column, t0: float, t1: float, can_id: int) -> list[Transfer]:
    """The ISO-TP messages whose frames lie in [t0, t1] on one identifier's column."""
    i, j = col.span(t0, t1)
    out: list[Transfer] = []
    buf = bytearray()
    need = 0
    seq = 0
    start = 0.0
    count = 0
    for k in range(i, j):
        data = col.data[k]
        ts = col.ts[k]
        if not data:
            continue
        kind = data[0] >> 4
        if kind == 0:  # single frame (escape form for CAN FD lengths)
            n = data[0] & 0x0F
            body = data[1 : 1 + n]
            if n == 0 and len(data) > 8:  # the escape only in a frame over 8 bytes (FD)
                n = data[1]
                body = data[2 : 2 + n]
            if n and len(body) == n:  # a valid single frame ends any reception in progress
                need = 0
                out.append(Transfer(can_id, bytes(body), ts, ts, 1))
        elif kind == 1 and len(data) >= 2:  # first frame
            need = ((data[0] & 0x0F) << 8) | data[1]
            body = data[2:]
            if need == 0 and len(data) >= 6:
                need = int.from_bytes(data[2:6], "big")
                body = data[6:]
            buf = bytearray(body)
            seq, start, count = 1, ts, 1
        elif kind == 2 and need:  # consecutive frame
            if data[0] & 0x0F != seq:
                need = 0  # out of sequence: the message is lost
                continue
            buf.extend(data[1:])
            seq = (seq + 1) & 0x0F
            count += 1
            if len(buf) >= need:
                out.append(Transfer(can_id, bytes(buf[:need]), start, ts, count))
                need = 0
        # kind 3 (flow control) and anything else: not part of a message
    return out


@dataclass(frozen=True)
class Exchange:
    """A request and the responses of its service that answered it."""

    request: Transfer
    functional: bool
    responses: tuple[Transfer, ...]

    @property
    def sid(self) -> int:
        return self.request.payload[0]

    @property
    def final(self) -> Transfer | None:
        """The last response that is not 'response pending' (None: no final answer)."""
        for r in reversed(self.responses):
            if not r.is_pending:
                return r
        return None


def _answers(sid: int, payload: bytes) -> bool:
    if not payload:
        return False
    if payload[0] == 0x7F:
        return len(payload) >= 2 and payload[1] == sid
    return payload[0] == (sid + 0x40) & 0xFF


def exchanges(log: FrameLog, t0: float, t1: float, ids: DiagIds) -> list[Exchange]:
    """Every request the harness sent in [t0, t1], with the responses to it in that span."""
    phys, func = ids.request_id, ids.functional_id
    requests = [(t, False) for t in transfers(ids.sent(log, phys), t0, t1, phys)] + [
        (t, True) for t in transfers(ids.sent(log, func), t0, t1, func)
    ]
    requests.sort(key=lambda r: r[0].first)
    answers = transfers(ids.answered(log), t0, t1, ids.response_id)
    out: list[Exchange] = []
    for n, (req, functional) in enumerate(requests):
        if not req.payload:
            continue
        until = requests[n + 1][0].first if n + 1 < len(requests) else float("inf")
        mine = tuple(
            r
            for r in answers
            if req.last < r.first <= until and _answers(req.payload[0], r.payload)
        )
        out.append(Exchange(req, functional, mine))
    return out


def format_of(flags: int) -> str:
    """A frame's format in words, from its FLAG_* bits."""
    if not flags & FLAG_FD:
        return "classic CAN"
    return "CAN FD with BRS" if flags & FLAG_BRS else "CAN FD without BRS"


def answer_frames(
    log: FrameLog, ids: DiagIds, t0: float, t1: float
) -> list[tuple[float, bytes, int]]:
    """The part's frames on the response identifier in [t0, t1]: (timestamp, data, FLAG_*
    bits as the frame had them)."""
    col = log.rx_of(ids.response_id)
    i, j = col.span(t0, t1)
    if i == j:
        return []
    a, b = log.rx_all.span(t0, t1)
    rx_ids, rx_flags = log.rx_ids[a:b], log.rx_flags[a:b]
    flags = [f for n, f in enumerate(rx_flags) if rx_ids[n] == ids.response_id]
    return list(zip(col.ts[i:j], col.data[i:j], flags, strict=True))


def wrong_format(
    frames: list[tuple[float, bytes, int]], wanted: str
) -> tuple[float, bytes, int] | None:
    """The first frame that is not of format ``wanted`` (one of :data:`FRAME_FORMATS`)."""
    if wanted == "any":
        return None
    for frame in frames:
        flags = frame[2]
        fd, brs = bool(flags & FLAG_FD), bool(flags & FLAG_BRS)
        if (wanted == "classic" and fd) or (wanted != "classic" and not fd):
            return frame
        if wanted == "fd_brs" and not brs:
            return frame
    return None
