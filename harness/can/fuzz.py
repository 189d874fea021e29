"""CAN fuzzing: frames on chosen identifiers with DLCs 0..8 and payloads, at a set rate.

One generator serves two profile steps. ``noise`` is background traffic (independent seeded
draws at a bus load, the step returns at once). ``fuzz_can`` sweeps every (identifier, DLC)
pair, in ascending or seeded order, or draws at random, at a rate or bus load, and blocks until
it is done so that its checks cover the fuzzing window. Either way the part's own timing and
liveness checks see the bus as it was under fuzz.

A ``watch`` makes the generator a liveness monitor too (during the fuzz and for one
``silence`` after its last frame): when the watched message (the DUT's cyclic status) stays
away longer than ``silence``, the step records a finding with the fuzz
frames sent between the watched message's last frame and the cycle after it: the trigger is
among them. With the step's seed (recorded in ``run.json``) the same frames go out in the same
order at the same offsets, so the finding replays exactly.
"""

from __future__ import annotations

import itertools
import random
import statistics
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import can

from harness.can.port import CanPort
from harness.clock import EventLoop, Timer
from harness.errors import InterfaceError
from harness.fuzz import FuzzRecord
from harness.observe import FD_LENGTHS, fd_frame_bits, frame_bits

__all__ = ["CanFuzzPlan", "CanFuzzer", "FuzzWatchPlan"]

SUSPECTS_LISTED = 512  # frames written out per finding; the range covers the rest
_HISTORY = 8192  # recent fuzz frames kept to name suspects (index, time, id, data)
_EARLY = 0.005  # s: a part may go silent a little after the frame that trips it
_MAX_LAG = 0.050  # s: a real-time loop this far behind the schedule restarts it from now


@dataclass(frozen=True)
class FuzzWatchPlan:
    name: str
    frame_id: int
    silence: float


@dataclass(frozen=True)
class CanFuzzPlan:
    """A resolved ``noise`` or ``fuzz_can`` step (identifiers already expanded)."""

    ids: tuple[int, ...]
    dlcs: tuple[int, ...]
    payload: str  # random, zeros, ones
    order: str  # sweep, shuffled, random
    rate: float | None  # frames per second, or
    load_percent: float | None  # the fuzz frames' own bus load
    duration: float | None  # None: one pass over every pair (sweep and shuffled)
    seed: int | None  # None: derived from the run seed
    watch: FuzzWatchPlan | None = None
    fd: bool = False  # CAN FD frames; dlcs are DLC codes (9..15: 12..64 bytes)
    brs: bool = False  # with the bit rate switch
    fast_ratio: float = 1.0  # nominal over data bit rate (a data-phase bit in nominal bits)
    bus: str = "can"  # the named bus it is sent on (harness.plan.DEFAULT_BUS: the only one)

    def length(self, dlc: int) -> int:
        """Data bytes of a frame with DLC code ``dlc``."""
        return FD_LENGTHS[dlc] if self.fd else dlc

    def bits(self, can_id: int, dlc: int) -> float:
        """Worst-case length of a fuzz frame in nominal bit times (harness.observe model)."""
        if not self.fd:
            return frame_bits(can_id, dlc)
        nominal, fast = fd_frame_bits(self.length(dlc), extended=can_id > 0x7FF, brs=self.brs)
        return nominal + fast * self.fast_ratio

    @property
    def pairs(self) -> int:
        return len(self.ids) * len(self.dlcs)

    def expected_duration(self, bitrate: int) -> float:
        """About how long the step runs: its ``for``, or one pass at its rate."""
        if self.duration is not None:
            return self.duration
        if self.rate is not None:
            return self.pairs / self.rate
        assert self.load_percent is not None
        mean_bits = sum(self.bits(0x7FF, d) for d in self.dlcs) / len(self.dlcs)
        return self.pairs * mean_bits / (bitrate * self.load_percent / 100.0)


class CanFuzzer:
    """Sends the frames of one plan on the loop's clock; records into ``record``."""

    def __init__(
        self,
        loop: EventLoop,
        port: CanPort,
        plan: CanFuzzPlan,
        bitrate: int,
        seed: int,
        record: FuzzRecord | None = None,
    ) -> None:
        self.loop = loop
        self.port = port
        self.plan = plan
        self.bitrate = bitrate
        self.rng = random.Random(seed)
        self.record = record
        self._timer: Timer | None = None
        self._until: float | None = None
        self._pairs: Iterator[tuple[int, int]] = iter(())
        self.sent = 0
        self.passes = 0
        self.send_errors = 0
        self.done = False
        self._history: deque[tuple[int, float, int, bytes]] = deque(maxlen=_HISTORY)
        self._started = 0.0
        self._reported_gap_from: float | None = None
        self._due: float | None = None  # when the next frame is due
        # The hot path of a fuzz run, like the rest-bus's: one can.Message refilled for every
        # frame (the bus copies or serialises what it sends), the gap of each DLC computed
        # once. Same draws, same frames, same schedule as building each anew.
        self._message = can.Message(is_fd=plan.fd, bitrate_switch=plan.brs, check=False)
        self._gaps: dict[tuple[bool, int], float] = {}

    # -- the stimulus ------------------------------------------------------------------------
    def start(self) -> None:
        self._started = self.loop.now()
        if self.plan.duration is not None:
            self._until = self._started + self.plan.duration
        if self.plan.order != "random":
            self._pairs = self._one_pass()
        self._next()

    def _one_pass(self) -> Iterator[tuple[int, int]]:
        pairs = [(i, d) for i in self.plan.ids for d in self.plan.dlcs]
        if self.plan.order == "shuffled":
            self.rng.shuffle(pairs)
        self.passes += 1
        return iter(pairs)

    def _pick(self) -> tuple[int, int] | None:
        rng = self.rng
        if self.plan.order == "random":  # the draws of the 'noise' step, in its order
            return rng.choice(self.plan.ids), rng.choice(self.plan.dlcs)
        pair = next(self._pairs, None)
        if pair is None and self._until is not None:  # 'for' outlasts a pass: another one
            self._pairs = self._one_pass()
            pair = next(self._pairs, None)
        return pair

    def _gap(self, can_id: int, dlc: int) -> float:
        """Seconds from this frame to the next: the rate's, or the frame's share of the load."""
        plan = self.plan
        if plan.rate is not None:
            return 1.0 / plan.rate
        key = (can_id > 0x7FF, dlc)
        gap = self._gaps.get(key)
        if gap is None:
            assert plan.load_percent is not None
            gap = plan.bits(can_id, dlc) / (self.bitrate * plan.load_percent / 100.0)
            self._gaps[key] = gap
        return gap

    def _next(self) -> None:
        # Each turn sends one frame and schedules the next. On the virtual clock, when the
        # loop would run nothing else before the next frame, the turn is taken at once
        # (EventLoop.run_inline): the same frames at the same instants, without a timer each.
        while self._turn() and not self.done:  # done: cancelled by what a frame set off
            pass

    def _turn(self) -> bool:
        """One frame; True when the next turn is due now (taken inline), else scheduled."""
        now = self.loop.now()
        if self.plan.watch is not None:
            self._watch(now)
        pair = None if self._until is not None and now >= self._until else self._pick()
        if pair is None:
            self._last_watch()
            return False
        can_id, dlc = pair
        plan = self.plan
        size = FD_LENGTHS[dlc] if plan.fd else dlc
        if plan.payload == "zeros":
            data = bytes(size)
        elif plan.payload == "ones":
            data = b"\xff" * size
        else:
            data = self.rng.randbytes(size)
        msg = self._message
        msg.arbitration_id = can_id
        msg.is_extended_id = can_id > 0x7FF
        msg.data = bytearray(data)
        msg.dlc = size
        try:
            ts = self.port.send(msg)
            self._history.append((self.sent, ts, can_id, data))
            self.sent += 1
        except InterfaceError:  # a full transmit queue under load: count it, keep going
            self.send_errors += 1
        gap = self._gap(can_id, dlc)
        # On a schedule, not "gap after this send": in real time the sending itself takes
        # time, and a sweep would stretch. A loop that fell far behind drops the backlog
        # rather than burst it out.
        due = self._due + gap if self._due is not None else now + gap
        if due < now - _MAX_LAG:
            due = now + gap
        self._due = due
        if self.loop.run_inline(due):
            return True
        self._timer = self.loop.call_at(due, self._next)
        return False

    def _last_watch(self) -> None:
        """After the last frame, watch one more ``silence``: the last frames may trip it."""
        watch = self.plan.watch
        if watch is None or self.record is None:
            self._finish(self.loop.now())
            return

        def final() -> None:
            now = self.loop.now()
            self._watch(now)
            self._finish(now)

        self._timer = self.loop.call_later(watch.silence + 1e-6, final)

    def _finish(self, now: float) -> None:
        self.done = True
        self._timer = None
        if self.record is not None:
            self.record.ended = now
            self.record.sent = self.sent
            self.record.details.update(
                {"order": self.plan.order, "passes": self.passes, "pairs": self.plan.pairs}
            )
            if self.send_errors:
                self.record.details["send_errors"] = self.send_errors

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.done:
            self._finish(self.loop.now())

    # -- the liveness monitor ----------------------------------------------------------------
    def _watch(self, now: float) -> None:
        watch = self.plan.watch
        if watch is None or self.record is None:
            return
        seen = self.port.log.rx_of(watch.frame_id).ts
        last = seen[-1] if seen else self._started
        if now - last <= watch.silence or self._reported_gap_from == last:
            return
        self._reported_gap_from = last
        self.record.add_finding(self._finding(watch, seen, last, now))

    def _finding(
        self, watch: FuzzWatchPlan, seen: list[float], last: float, now: float
    ) -> dict[str, Any]:
        recent = seen[-11:]
        intervals = [b - a for a, b in itertools.pairwise(recent)]
        cycle = statistics.median(intervals) if intervals else watch.silence
        lo, hi = last - _EARLY, last + cycle
        suspects = [h for h in self._history if lo < h[1] <= hi]
        listed = [  # one line a frame, as a candump-like text: '#index time id [dlc] data'
            f"#{i} {t:.6f} 0x{cid:03X} [{len(d)}] {d.hex(' ').upper()}".rstrip()
            for i, t, cid, d in suspects[:SUSPECTS_LISTED]
        ]
        if suspects:
            first, final = suspects[0][0], suspects[-1][0]
            ids = sorted({f"0x{h[2]:03X}" for h in suspects})
            dlcs = sorted({len(h[3]) for h in suspects})
            where = (
                f"{len(suspects)} fuzz frame(s) #{first}..#{final} were sent in the "
                f"{cycle * 1000:.0f} ms after its last frame (identifiers "
                f"{', '.join(ids[:6])}{', ...' if len(ids) > 6 else ''}; DLC "
                f"{', '.join(map(str, dlcs))})"
            )
        else:
            first = final = -1
            where = "no fuzz frame was sent in the cycle after its last frame"
        return {
            "summary": (
                f"{watch.name} silent for more than {watch.silence * 1000:.0f} ms from "
                f"t={last:.6f} s (step offset {last - self._started:.6f} s); {where}"
            ),
            "message": watch.name,
            "silent_since": round(last, 6),
            "offset": round(last - self._started, 6),
            "detected": round(now, 6),
            "suspect_range": [first, final],
            "suspects": listed,
        }
