"""Judging a stream of diagnostic stimuli from the recorded frames alone.

A fuzz step sends well-formed and malformed requests as raw frames; what counts is what the
part made of them and what it answered, and both must be recomputable from the trace (so
``harness evaluate`` agrees). So nothing here knows the generator or its seed:

* the frames the harness sent on the request identifiers are read as an ISO 15765-2 receiver
  reads them (:class:`_Receiver`): a valid single frame is a request (and ends a reception in
  progress); a first frame starts a reception that consecutive frames in sequence complete;
  a consecutive frame out of sequence aborts it; empty frames, single frames with a length of
  0 or more than the frame carries, first frames a single frame would have held, frames with
  an unknown PCI, and anything but single frames on the functional identifier are ignored;
* the tester's own flow control frames (answering the part's multi-frame responses) are told
  from fuzzed ones: they come while the part is sending a segmented response;
* consecutive frames that follow a first frame on the same identifier join its stimulus;
  every other frame starts a stimulus of its own;
* the part's frames on the response identifier are reassembled strictly (classic CAN: a
  single frame carries 1..7 bytes, a first frame at least 8), frames that are no valid ISO-TP
  are ignored as a receiver does, and flow control frames are kept apart;
* each answer belongs to the stimulus sent last before its first frame (an answer at the very
  instant of the next stimulus still belongs to the earlier one), so a fuzz step's interval
  must exceed P2 for a correct part's answers to land in their own slot; a flow control frame
  belongs to the stimulus sent last at or before it (it may answer a first frame at once).

Each stimulus is then judged (:class:`Judged`): a request against what the oracle allows
(:mod:`harness.uds.oracle`), with the first answer within P2 (P2* after 'response pending'),
exactly one final answer, answers padded to 8 bytes (over CAN FD: to 8 or to a longer FD
data length) and no flow control where no first frame asked for one; a stimulus that makes
no request must get no answer at all.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from harness.observe import Column, FrameLog
from harness.uds.codec import decode_response, describe_request, hexs
from harness.uds.exchange import PENDING, DiagIds
from harness.uds.oracle import Expect, OracleState, UdsOracle

__all__ = ["Answer", "Judged", "Stimulus", "judge_span"]

N_CR = 1.0  # s: ISO 15765-2's consecutive frame timeout, for both sides
ISOTP_REQUIREMENT = "UDS-008"  # CC-TCU-1's; an oracle names its own (requirements.malformed)


@dataclass(frozen=True)
class Stimulus:
    """Frames the harness sent that a receiver reads as one thing: a request, or nothing."""

    index: int  # place among the span's stimuli
    can_id: int
    frames: tuple[tuple[float, bytes], ...]
    functional: bool
    request: bytes | None  # the request the frames complete (None: no valid request)
    note: str  # for a stimulus without a request: why the part must ignore it
    flow_control_due: bool  # a valid first frame: the part may answer with flow control

    @property
    def first(self) -> float:
        return self.frames[0][0]

    @property
    def last(self) -> float:
        return self.frames[-1][0]

    def describe(self) -> str:
        if self.request is not None:
            return describe_request(self.request, self.functional)
        shown = " | ".join(f"[{len(d)}] {hexs(d)}".rstrip() for _, d in self.frames[:3])
        more = f" | +{len(self.frames) - 3}" if len(self.frames) > 3 else ""
        return f"0x{self.can_id:03X} {shown}{more} ({self.note})"


@dataclass(frozen=True)
class Answer:
    """One message the part sent on the response identifier."""

    payload: bytes
    first: float
    last: float
    frames: int
    padded: bool  # every frame of it has DLC 8
    first_data: bytes

    @property
    def is_pending(self) -> bool:
        return len(self.payload) >= 3 and self.payload[0] == 0x7F and self.payload[2] == PENDING


@dataclass
class Judged:
    """A stimulus, what the oracle allowed, what came, and what is wrong with it."""

    stimulus: Stimulus
    expect: Expect
    answers: list[Answer] = field(default_factory=list)
    flow_controls: list[tuple[float, bytes]] = field(default_factory=list)  # (time, frame)
    problems: list[str] = field(default_factory=list)
    response_time: float | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def requirement(self) -> str:
        return self.expect.requirement

    @property
    def final(self) -> Answer | None:
        finals = [a for a in self.answers if not a.is_pending]
        return finals[0] if finals else None

    def got(self) -> str:
        """Everything the part sent in this stimulus's slot: its messages, then each flow
        control frame (with its bytes), so that a finding shows the offending frame."""
        shown = [decode_response(a.payload).describe(12) for a in self.answers]
        shown += [
            f"flow control frame [{len(d)}] {hexs(d)} at +{_ms(t - self.stimulus.last)}"
            for t, d in self.flow_controls
        ]
        return " then ".join(shown) if shown else "no response"

    def summary(self) -> str:
        """One line: the stimulus, what is wrong, what was allowed and what came."""
        what = self.stimulus.describe()
        if self.ok:
            return f"{what}: {self.got()}"
        return (
            f"{what}: {'; '.join(self.problems)} (expected {self.expect.describe()}: "
            f"{self.expect.reason}; got {self.got()})"
        )


# -- the harness's frames, as the part's ISO-TP receiver reads them ----------------------------
class _Receiver:
    """One receiving ISO-TP channel (the physical one; the functional takes single frames)."""

    def __init__(self, functional: bool) -> None:
        self.functional = functional
        self.buf = bytearray()
        self.need = 0
        self.seq = 0
        self.last = 0.0

    def feed(self, ts: float, data: bytes) -> tuple[bytes | None, str, bool]:
        """(completed request or None, what the frame was, whether it was a valid first frame)."""
        if self.need and ts - self.last > N_CR:
            self.need = 0  # N_Cr ran out: the reception was dropped
        if not data:
            return None, "empty frame", False
        pci, low = data[0] >> 4, data[0] & 0x0F
        if pci == 0:
            if low == 0:
                return None, "single frame with length 0", False
            if low > len(data) - 1:
                return None, f"single frame of length {low} in a {len(data)}-byte frame", False
            self.need = 0
            return bytes(data[1 : 1 + low]), "single frame", False
        if self.functional:
            return None, "functional addressing carries single frames only", False
        if pci == 1:
            if len(data) < 8:
                return None, f"first frame with DLC {len(data)}", False
            length = (low << 8) | data[1]
            if length < 8:
                return None, f"first frame of length {length} (a single frame holds it)", False
            self.buf, self.need, self.seq, self.last = bytearray(data[2:8]), length, 1, ts
            return None, f"first frame of {length} bytes", True
        if pci == 2:
            if not self.need:
                return None, "consecutive frame with no reception in progress", False
            if low != self.seq:
                self.need = 0
                return None, f"consecutive frame {low} where {self.seq} was due", False
            self.buf.extend(data[1:])
            self.seq, self.last = (self.seq + 1) & 0x0F, ts
            if len(self.buf) >= self.need:
                whole, self.need = bytes(self.buf[: self.need]), 0
                return whole, "", False
            return None, "consecutive frame", False
        if pci == 3:
            return None, "flow control from the tester, no transmission to control", False
        return None, f"unknown PCI type 0x{pci:X}", False


def _merged(log: FrameLog, t0: float, t1: float, ids: DiagIds) -> list[tuple[float, int, bytes]]:
    """The harness's frames on the request identifiers in [t0, t1). One sent at the very end
    of a window starts what comes next (on the virtual clock the tester sends its next
    request at the instant the last answer came), so it is not this span's."""
    out: list[tuple[float, int, bytes]] = []
    for can_id in (ids.request_id, ids.functional_id):
        col = ids.sent(log, can_id)
        i, j = col.span(t0, t1)
        out.extend((col.ts[k], can_id, col.data[k]) for k in range(i, j) if col.ts[k] < t1)
    out.sort(key=lambda f: f[0])
    return out


# -- the part's frames -------------------------------------------------------------------------
def _answers(
    col: Column, t0: float, t1: float
) -> tuple[list[Answer], list[tuple[float, bytes]], list[tuple[float, float]]]:
    """The part's messages, its flow control frames (time, bytes), and the spans (first frame
    to last) of its segmented answers, in [t0, t1]."""
    i, j = col.span(t0, t1)
    answers: list[Answer] = []
    flow: list[tuple[float, bytes]] = []
    spans: list[tuple[float, float]] = []
    buf = bytearray()
    need = seq = frames = 0
    start = last = 0.0
    padded = True
    first_data = b""

    def drop(until: float) -> None:
        nonlocal need
        if need:
            spans.append((start, until))
            need = 0

    for k in range(i, j):
        ts, data = col.ts[k], col.data[k]
        if not data:
            continue
        pci, low = data[0] >> 4, data[0] & 0x0F
        if need and ts - last > N_CR:
            drop(last)
        size = len(data)  # 8 padded; over CAN FD: 8 or, when longer, an FD data length
        if pci == 0 and size <= 8 and 1 <= low <= size - 1:
            drop(last)
            answers.append(Answer(bytes(data[1 : 1 + low]), ts, ts, 1, size == 8, data))
        elif pci == 0 and size > 8 and low == 0 and 1 <= data[1] <= size - 2:  # FD escape
            drop(last)
            answers.append(Answer(bytes(data[2 : 2 + data[1]]), ts, ts, 1, True, data))
        elif pci == 1 and size >= 8 and (length := _ff_length(data)) >= 8:
            drop(last)
            need, seq, frames = length, 1, 1
            head = 2 if low or data[1] else 6
            buf, start, last, padded, first_data = bytearray(data[head:]), ts, ts, True, data
        elif pci == 2 and need:
            if low != seq:
                drop(last)
                continue
            buf.extend(data[1:])
            seq, last, frames = (seq + 1) & 0x0F, ts, frames + 1
            padded = padded and size >= 8
            if len(buf) >= need:
                answers.append(Answer(bytes(buf[:need]), start, ts, frames, padded, first_data))
                drop(ts)
        elif pci == 3:
            flow.append((ts, bytes(data)))
    drop(t1)
    return answers, flow, spans


def _ff_length(data: bytes) -> int:
    """A first frame's FF_DL: 12 bits, or the 32-bit escape (0 when it is cut short)."""
    length = ((data[0] & 0x0F) << 8) | data[1]
    if length == 0 and len(data) >= 6:
        return int.from_bytes(data[2:6], "big")
    return length


def _sending(spans: list[tuple[float, float]], ts: float) -> bool:
    """Whether the part was sending a segmented answer at ``ts`` (first frame .. last)."""
    return any(a <= ts <= b for a, b in spans)


# -- stimuli -----------------------------------------------------------------------------------
def _stimuli(
    frames: list[tuple[float, int, bytes]], ids: DiagIds, segmented: list[tuple[float, float]]
) -> Iterator[Stimulus]:
    receivers = {ids.request_id: _Receiver(False), ids.functional_id: _Receiver(True)}
    group: list[tuple[float, bytes]] = []
    group_id = 0
    request: bytes | None = None
    notes: list[str] = []
    fc_due = False
    index = 0

    def close() -> Stimulus:
        note = "; ".join(dict.fromkeys(notes))
        return Stimulus(
            index, group_id, tuple(group), group_id == ids.functional_id, request, note, fc_due
        )

    for ts, can_id, data in frames:
        pci = data[0] >> 4 if data else -1
        if can_id == ids.request_id and pci == 3 and _sending(segmented, ts):
            continue  # the tester's flow control for the part's segmented answer
        joins = (
            group
            and pci == 2
            and can_id == group_id
            and group[0][1][:1]
            and group[0][1][0] >> 4 == 1
            and ts - group[-1][0] <= N_CR
        )
        if group and not joins:
            yield close()
            index += 1
            group, request, notes, fc_due = [], None, [], False
        group_id = can_id
        group.append((ts, data))
        done, note, first = receivers[can_id].feed(ts, data)
        fc_due = fc_due or first
        if done is not None and request is None:
            request = done
        elif note:
            notes.append(note)
    if group:
        yield close()


# -- judging -----------------------------------------------------------------------------------
def judge_span(
    log: FrameLog,
    t0: float,
    t1: float,
    ids: DiagIds,
    oracle: UdsOracle,
    *,
    state: OracleState | None = None,
) -> list[Judged]:
    """Every stimulus the harness sent on the request identifiers in [t0, t1], judged."""
    answers, flows, segmented = _answers(ids.answered(log), t0, t1)
    stimuli = list(_stimuli(_merged(log, t0, t1, ids), ids, segmented))
    st = state if state is not None else OracleState()
    out: list[Judged] = []
    a = f = 0
    for n, stim in enumerate(stimuli):
        end = stimuli[n + 1].first if n + 1 < len(stimuli) else t1
        while a < len(answers) and answers[a].first <= stim.first:
            a += 1
        while f < len(flows) and flows[f][0] < stim.first:
            f += 1
        mine: list[Answer] = []
        while a < len(answers) and answers[a].first <= end:
            mine.append(answers[a])
            a += 1
        fcs: list[tuple[float, bytes]] = []
        last = n + 1 == len(stimuli)
        while f < len(flows) and (flows[f][0] < end or (last and flows[f][0] <= end)):
            fcs.append(flows[f])
            f += 1
        out.append(_judge(stim, mine, fcs, oracle, st, end))
    return out


def _answers_sid(sid: int, payload: bytes) -> bool:
    if payload[:1] == b"\x7f":
        return len(payload) >= 2 and payload[1] == sid
    return bool(payload) and payload[0] == (sid + 0x40) & 0xFF


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def _unasked_flow_control(fcs: list[tuple[float, bytes]]) -> str:
    frame = fcs[0][1]
    more = f" (and {len(fcs) - 1} more)" if len(fcs) > 1 else ""
    return f"flow control {hexs(frame)}{more} where no valid first frame asked for it"


def _judge(
    stim: Stimulus,
    answers: list[Answer],
    fcs: list[tuple[float, bytes]],
    oracle: UdsOracle,
    st: OracleState,
    end: float,
) -> Judged:
    if stim.request is None:
        expect = Expect(
            oracle.requirements.malformed, f"no valid request: {stim.note}", silent=True
        )
        j = Judged(stim, expect, answers, fcs)
        if answers:
            j.problems.append("answered frames that make no valid request")
        if fcs and not stim.flow_control_due:
            j.problems.append(_unasked_flow_control(fcs))
        return j
    request = stim.request
    expect = oracle.expect(request, stim.functional, st, stim.last)
    j = Judged(stim, expect, answers, fcs)
    sid = request[0]
    foreign = [x for x in answers if not _answers_sid(sid, x.payload)]
    own = [x for x in answers if _answers_sid(sid, x.payload)]
    for x in foreign:
        j.problems.append(f"answered with {hexs(x.payload, 12)}, no answer to service 0x{sid:02X}")
    if fcs and not stim.flow_control_due:
        j.problems.append(_unasked_flow_control(fcs))
    unpadded = [x for x in answers if not x.padded]
    if unpadded:
        x = unpadded[0]
        j.problems.append(
            f"a response frame not padded to 8 bytes (answer {hexs(x.payload, 12)}, first frame "
            f"[{len(x.first_data)}] {hexs(x.first_data)})"
        )
    finals = [x for x in own if not x.is_pending]
    if own:
        j.response_time = own[0].first - stim.last
        if j.response_time > oracle.p2 + 1e-9:
            j.problems.append(
                f"first response after {_ms(j.response_time)}, P2 is {_ms(oracle.p2)}"
            )
        for prev, nxt in itertools.pairwise(own):
            if prev.is_pending and nxt.first - prev.last > oracle.p2_star + 1e-9:
                j.problems.append(f"response {_ms(nxt.first - prev.last)} after 'pending'")
    if len(finals) > 1:
        j.problems.append(f"answered {len(finals)} times")
    final = finals[0] if finals else None
    if final is None:
        if own:
            j.problems.append("only 'response pending', no final response")
        elif not expect.silent:
            j.problems.append(f"no response within {_ms(end - stim.last)}")
    elif expect.must_be_silent:
        j.problems.append("answered where no response is allowed")
    elif final.payload[0] == 0x7F:
        if len(final.payload) != 3:
            j.problems.append(f"malformed negative response {hexs(final.payload, 12)}")
        elif final.payload[2] not in expect.nrcs:
            j.problems.append(f"NRC 0x{final.payload[2]:02X} is not allowed")
    elif expect.positive is None:
        j.problems.append("a positive response is not allowed")
    else:
        problem = expect.positive.problem(final.payload)
        if problem is not None:
            j.problems.append(f"wrong positive response: {problem}")
    oracle.update(st, request, stim.last, final.payload if final is not None else None)
    return j
