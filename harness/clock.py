"""One clock for all timing, and the event loop that runs on it.

A certification run is a set of timers (rest-bus cycles, the simulator's own cycles, noise
generators) and bus readers. :class:`EventLoop` runs both on a :class:`Clock`:

* :class:`VirtualClock`: simulated time. The loop jumps from one timer to the next, and
  delivers every frame sent at a given instant before the next timer fires. Nothing waits,
  so minutes of bus time run in well under a second, and every run gives the same result.
* :class:`RealClock`: wall-clock time (``time.time()``, the same base python-can interfaces
  stamp received frames with). The loop sleeps in ``bus.recv(timeout)`` until the next timer.

Nothing else in the harness calls ``time.time()`` or ``time.sleep()`` for test timing.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import logging
import sys
import time
from collections.abc import Callable, Sized
from dataclasses import dataclass, field
from typing import Protocol

import can

from harness.errors import InterfaceError

__all__ = [
    "SIM_UTC_EPOCH",
    "Clock",
    "EventLoop",
    "RealClock",
    "Timer",
    "VirtualClock",
    "freeze_collector",
    "short_switch_interval",
    "utc_offset",
]

# On the virtual clock, UTC is this instant (2026-01-01T00:00:00Z) plus virtual time: the
# harness's MQTT side and the simulated DUT stamp V2X messages with the same UTC.
SIM_UTC_EPOCH = 1_767_225_600.0

log = logging.getLogger(__name__)


class Clock(Protocol):
    """The time source every part of a run shares."""

    simulated: bool

    def now(self) -> float: ...


class VirtualClock:
    """Simulated time, advanced only by the event loop."""

    simulated = True

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance_to(self, t: float) -> None:
        if t > self._now:
            self._now = t


class RealClock:
    """Wall-clock time on the same base as python-can's interface timestamps."""

    simulated = False

    def now(self) -> float:
        return time.time()


@dataclass(order=True, slots=True)
class Timer:
    """A callback due at ``when``; :meth:`cancel` keeps it from firing."""

    when: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


FrameHandler = Callable[[can.Message], None]


def _queue_of(bus: can.BusABC) -> Sized | None:
    """The frames a bus has queued, when it shows them (``pending_queue``), else None."""
    queue: Sized | None = getattr(bus, "pending_queue", None)
    return queue


class EventLoop:
    """Timers and bus readers on one clock, run by :meth:`run_until`.

    Each bus has exactly one reader here (python-can allows one consumer per bus), and the
    loop dispatches every received frame to the handlers registered for it. A
    ``CanOperationError`` from ``recv`` (a malformed ``udp_multicast`` datagram, say) is
    logged and survived rather than ending the loop.

    In real time a bus that always has a frame ready (a DUT flooding it) must not starve the
    timers (rest-bus cycles, deadlines, trace flushes) nor ``until``: each turn of the loop
    dispatches at most :attr:`MAX_FRAMES_PER_TURN` frames before it looks at the clock again.
    On the virtual clock every frame sent at an instant is still delivered before the next
    timer fires (only the loop's own timers send there, so the backlog is finite).
    """

    MAX_FRAMES_PER_TURN = 256

    def __init__(self, clock: VirtualClock | RealClock) -> None:
        self.clock = clock
        # loop.now() is the clock's own now(), without a call in between (asked per frame)
        self.now: Callable[[], float] = clock.now
        # (when, seq, timer): the heap orders by tuple comparison (in C), as Timer orders
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._readers: list[tuple[can.BusABC, list[FrameHandler]]] = []
        # per reader: how to take its next queued frame without waiting, and the queue that
        # says "none" without a call when the bus shows it (the simulated one; see _drain)
        self._pollers: list[
            tuple[Callable[[], can.Message | None], list[FrameHandler], Sized | None]
        ] = []
        self._stopping = False
        self.recv_errors = 0
        self.idle_hooks: list[Callable[[], None]] = []
        # The longest a real-time turn blocks in bus.recv(): work that arrives from outside
        # the buses (MQTT messages queued by paho's thread for an idle hook) waits this long
        # at worst, so the MQTT client lowers it (harness.mqtt.client).
        self.max_wait = 0.05
        self._virtual_run: tuple[float, Callable[[], bool] | None] | None = None  # see run_inline

    # -- timers ------------------------------------------------------------------------------
    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        seq = next(self._seq)
        timer = Timer(when, seq, callback)
        heapq.heappush(self._timers, (when, seq, timer))
        return timer

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(self.clock.now() + delay, callback)

    def every(
        self, period: float, callback: Callable[[], None], *, first: float | None = None
    ) -> PeriodicTask:
        """Call ``callback`` every ``period`` seconds on a fixed schedule (no drift)."""
        task = PeriodicTask(self, period, callback)
        task.start(self.clock.now() if first is None else first)
        return task

    # -- readers -----------------------------------------------------------------------------
    def add_reader(self, bus: can.BusABC, handler: FrameHandler) -> None:
        for known, handlers in self._readers:
            if known is bus:
                handlers.append(handler)
                return
        self._readers.append((bus, [handler]))
        self._pollers = [(self._poller(b), h, _queue_of(b)) for b, h in self._readers]

    def remove_bus(self, bus: can.BusABC) -> None:
        self._readers = [(b, h) for b, h in self._readers if b is not bus]
        self._pollers = [(self._poller(b), h, _queue_of(b)) for b, h in self._readers]

    def _poller(self, bus: can.BusABC) -> Callable[[], can.Message | None]:
        # A bus that can say "nothing queued" cheaply (the simulated one) is not asked
        # through python-can's recv(0) several times per frame.
        poll: Callable[[], can.Message | None] | None = getattr(bus, "poll_nowait", None)
        if poll is not None:
            return poll
        return lambda: self._recv(bus, 0.0)

    def _recv(self, bus: can.BusABC, timeout: float) -> can.Message | None:
        try:
            return bus.recv(timeout)
        except can.CanOperationError as exc:
            self.recv_errors += 1
            log.warning("ignored a bad frame on %s: %s", bus.channel_info, exc)
            return None
        except (OSError, ValueError) as exc:
            raise InterfaceError(f"bus {bus.channel_info} failed while receiving: {exc}") from exc

    def _drain(self, limit: int | None = None) -> bool:
        """Dispatch the frames already waiting, at most ``limit`` of them; True if any was."""
        got = False
        progress = True
        left = limit
        while progress:
            progress = False
            for poll, handlers, queue in self._pollers:
                if queue is not None and not queue:
                    continue  # nothing queued: poll() would say None
                msg = poll()
                while msg is not None:
                    got = progress = True
                    for handler in handlers:
                        handler(msg)
                    if left is not None:
                        left -= 1
                        if left <= 0:
                            return True
                    msg = poll()
        return got

    def drain(self) -> bool:
        """Dispatch every frame already waiting in the buses (before a real-time window is
        judged: a frame the interface stamped inside it may still sit in the socket); True if
        there was any."""
        return self._drain()

    # -- running -----------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask a running :meth:`run_until` (possibly in another thread) to return soon."""
        self._stopping = True

    @property
    def stopping(self) -> bool:
        return self._stopping

    def _pop_due(self, limit: float) -> Timer | None:
        timers = self._timers
        while timers and timers[0][2].cancelled:
            heapq.heappop(timers)
        if timers and timers[0][0] <= limit:
            return heapq.heappop(timers)[2]
        return None

    def run_until(self, t: float, until: Callable[[], bool] | None = None) -> bool:
        """Run timers and readers until time ``t``, or until ``until()`` turns true.

        Returns True when ``until`` ended the run early.
        """
        if isinstance(self.clock, VirtualClock):
            return self._run_virtual(t, until)
        return self._run_real(t, until)

    def run_for(self, duration: float, until: Callable[[], bool] | None = None) -> bool:
        return self.run_until(self.clock.now() + duration, until)

    def run_inline(self, when: float) -> bool:
        """May a callback that would now schedule itself at ``when`` run that turn at once?

        Only on the virtual clock, inside :meth:`run_until`, and only when the loop would do
        exactly that next: the frames queued are delivered first (as after any callback),
        ``until`` is still false, ``when`` is within the run, and no other timer is due at or
        before ``when``. Then the clock moves to ``when`` and True is returned: the caller
        does its next turn in its own loop, without a timer (a fuzzer's frames). Otherwise
        False, and the caller schedules itself as usual. In real time always False.
        """
        run = self._virtual_run
        if run is None or self._stopping:
            return False
        t, until = run
        if when > t:
            return False
        self._drain()
        timers = self._timers
        while timers and timers[0][2].cancelled:
            heapq.heappop(timers)
        if timers and timers[0][0] <= when:
            return False
        if until is not None and until():
            return False
        clock = self.clock
        assert isinstance(clock, VirtualClock)
        if when > clock._now:
            clock._now = when
        return True

    def _run_virtual(self, t: float, until: Callable[[], bool] | None) -> bool:
        clock = self.clock
        assert isinstance(clock, VirtualClock)
        timers = self._timers
        pop = heapq.heappop
        outer, self._virtual_run = self._virtual_run, (t, until)
        try:
            self._drain()
            while not self._stopping:  # _pop_due and advance_to inline: every frame's loop
                if until is not None and until():
                    return True
                while timers and timers[0][2].cancelled:
                    pop(timers)
                if not timers or timers[0][0] > t:
                    break
                when, _, timer = pop(timers)
                if when > clock._now:
                    clock._now = when
                timer.callback()
                self._drain()
        finally:
            self._virtual_run = outer
        clock.advance_to(t)
        return until is not None and until()

    def _run_real(self, t: float, until: Callable[[], bool] | None) -> bool:
        clock = self.clock
        single = self._readers[0] if len(self._readers) == 1 else None
        while not self._stopping:
            if until is not None and until():
                return True
            now = clock.now()
            timer = self._pop_due(now)
            if timer is not None:
                timer.callback()
                continue
            if now >= t:
                break
            next_due = self._timers[0][0] if self._timers else t
            wait = max(0.0, min(t, next_due) - now)
            wait = min(wait, self.max_wait)  # stay responsive to stop(), until(), hooks
            for hook in self.idle_hooks:
                hook()
            if single is not None:
                bus, handlers = single
                msg = self._recv(bus, wait)
                if msg is not None:
                    for handler in handlers:
                        handler(msg)
                    self._drain(self.MAX_FRAMES_PER_TURN)
            elif self._readers:
                if not self._drain(self.MAX_FRAMES_PER_TURN):
                    time.sleep(min(wait, 0.0005))
            else:
                time.sleep(wait)
        return until is not None and until()


def utc_offset(loop: EventLoop) -> float:
    """Seconds to add to the loop's time to get UTC (0 in real time)."""
    return SIM_UTC_EPOCH if loop.clock.simulated else 0.0


def freeze_collector() -> Callable[[], None]:
    """Keep the cyclic garbage collector's full passes short for a real-time run.

    A full (generation 2) collection stops every thread of the process while it scans every
    container object: after a profile, its DBC and its ASN.1 module are loaded that is about
    100,000 objects and a pause near 100 ms (measured), long enough to push a 100 ms message
    out of its window and look like the part's fault. This collects once, then moves every
    object alive now to the collector's permanent generation (``gc.freeze``), so later passes
    scan only what the run itself creates. Returns the undo (``gc.unfreeze``), for the end of
    the run; reference counting frees frozen objects as usual, only cycles among them wait.
    """
    gc.collect()
    gc.freeze()
    return gc.unfreeze


REALTIME_SWITCH_INTERVAL = 0.0005  # seconds; CPython's default is 0.005


def short_switch_interval() -> Callable[[], None]:
    """Let another thread of the process take the interpreter lock after 0.5 ms instead of
    5 ms, for a real-time run; returns the undo.

    A thread stamps a frame it sends, then sends it; when a busy thread (trace writing,
    evaluation) holds the lock in between, the frame leaves up to one switch interval after
    its stamp. Measured: routed copies of CC-GW-1 5.1 ms "late" on 5 of 288 frames, each
    the harness's own send held back (the part's own process was idle).
    """
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, REALTIME_SWITCH_INTERVAL))
    return lambda: sys.setswitchinterval(before)


class PeriodicTask:
    """A fixed-rate schedule: fires at start, start+period, ... until cancelled."""

    def __init__(self, loop: EventLoop, period: float, callback: Callable[[], None]) -> None:
        if period <= 0:
            raise ValueError("period must be positive")
        self.loop = loop
        self.period = period
        self.callback = callback
        self._timer: Timer | None = None
        self._origin = 0.0
        self._count = 0

    def start(self, first: float) -> None:
        self.cancel()
        self._origin = first
        self._count = 0
        self._timer = self.loop.call_at(first, self._fire)

    def _fire(self) -> None:
        # origin + n * period, not repeated addition: no drift over long virtual runs
        self._count += 1
        due = self._origin + self._count * self.period
        now = self.loop.now()
        if due < now - self.period:  # far behind (real time): skip, do not burst
            self._origin, self._count = now + self.period, 0
            due = self._origin
        self._timer = self.loop.call_at(due, self._fire)
        self.callback()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def set_period(self, period: float, *, restart_at: float | None = None) -> None:
        """Change the period; the next firing moves to ``restart_at`` when given."""
        self.period = period
        if restart_at is not None:
            self.start(restart_at)

    @property
    def active(self) -> bool:
        return self._timer is not None
