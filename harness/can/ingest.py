"""Live ingest: one reader thread per bus that only receives, stamps and queues.

In real time the harness's event loop also runs timers, the rest-bus, evaluation and
sometimes an in-process simulator. If it read the bus itself, a long evaluation or a burst of
work would leave the interface's receive buffer to fill up and the kernel (or the driver) to
drop frames. :class:`ThreadedBus` wraps the python-can bus the bench opened: a daemon thread
does nothing but ``recv`` from it, stamp the frames the interface left unstamped, and put
them on a queue; the event loop reads that queue through the ordinary python-can
``recv`` of the wrapper, so nothing else in the harness changes.

**Receive overruns.** Frames can still be lost where the harness cannot see them: in the
socket buffer of a ``udp_multicast`` bus (the ``drops`` column of ``/proc/net/udp``), in a
network interface's queues (``/sys/class/net/<channel>/statistics``), in python-can's own
queue, or in this reader's bounded queue. The reader polls every counter it can find every
:data:`POLL_INTERVAL` seconds and once more before a window is judged, and keeps each
increase as a :class:`~harness.record.FrameLoss` (the wall-clock span in which it happened
and how many frames). The session writes them to ``run.json`` (``receive``), and every check
whose window overlaps a loss is never a PASS (:func:`harness.record.judge_with_loss`).
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import can

from harness.record import FrameLoss, ReceiveReport

__all__ = [
    "DEFAULT_RECEIVE_BUFFER",
    "POLL_INTERVAL",
    "InterfaceCounters",
    "OverrunCounter",
    "ThreadedBus",
    "UdpSocketDrops",
    "overrun_counters",
    "set_receive_buffer",
]

POLL_INTERVAL = 0.05  # seconds between two reads of the overrun counters
QUEUE_CAPACITY = 1 << 20  # frames the reader may hold ahead of the event loop
DEFAULT_RECEIVE_BUFFER = 8 << 20  # bytes asked of the kernel for a socket-based bus
_MAX_LOSSES = 4096  # loss spans kept; later ones merge into the last
_FAILED = object()  # put on the queue when the interface failed for good


class OverrunCounter(Protocol):
    """A cumulative count of frames lost before the harness could read them."""

    @property
    def name(self) -> str: ...

    def read(self) -> int | None: ...


class UdpSocketDrops:
    """The kernel's drop count of one UDP socket (``/proc/net/udp`` and ``udp6``, by inode)."""

    def __init__(self, fd: int) -> None:
        self.inode = str(os.fstat(fd).st_ino)
        self.name = "udp socket drops (/proc/net/udp)"

    def read(self) -> int | None:
        for table in ("/proc/net/udp", "/proc/net/udp6"):
            with contextlib.suppress(OSError), open(table, encoding="ascii") as fh:
                next(fh, None)  # the header
                for line in fh:
                    fields = line.split()
                    if len(fields) >= 13 and fields[9] == self.inode:
                        return int(fields[-1])
        return None


class InterfaceCounters:
    """A network interface's receive drop counters (SocketCAN: ``can0``, ``vcan0``)."""

    FILES = ("rx_dropped", "rx_fifo_errors", "rx_over_errors")

    def __init__(self, interface: str) -> None:
        self.folder = Path("/sys/class/net") / interface / "statistics"
        self.name = f"interface {interface} rx_dropped + rx_fifo_errors + rx_over_errors"

    def read(self) -> int | None:
        total = 0
        try:
            for name in self.FILES:
                total += int((self.folder / name).read_text(encoding="ascii"))
        except (OSError, ValueError):
            return None
        return total


def _socket_fd(bus: can.BusABC) -> int | None:
    try:
        fd = bus.fileno()
    except (NotImplementedError, OSError, ValueError, AttributeError):
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None


def set_receive_buffer(bus: can.BusABC, size: int) -> int | None:
    """Ask for ``size`` bytes of socket receive buffer (beyond ``rmem_max`` when root);
    returns what the kernel granted, or None for a bus without a socket."""
    fd = _socket_fd(bus)
    if fd is None:
        return None
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return None
    with sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            if os.geteuid() == 0 and hasattr(socket, "SO_RCVBUFFORCE"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUFFORCE, size)
        except OSError:
            return None
        granted: int = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        return granted


def overrun_counters(bus: can.BusABC, interface: str, channel: object) -> list[OverrunCounter]:
    """Every overrun counter this bus reports: its UDP socket's drops, its network
    interface's counters (SocketCAN)."""
    counters: list[OverrunCounter] = []
    fd = _socket_fd(bus)
    if interface == "udp_multicast" and fd is not None:
        udp = UdpSocketDrops(fd)
        if udp.read() is not None:
            counters.append(udp)
    if interface == "socketcan" and isinstance(channel, str):
        nic = InterfaceCounters(channel)
        if nic.read() is not None:
            counters.append(nic)
    return counters


class ThreadedBus(can.BusABC):
    """A python-can bus read by a thread of its own; frames reach ``recv`` through a queue.

    ``send`` goes straight to the wrapped bus. ``shutdown`` stops the reader and shuts the
    wrapped bus down. :meth:`losses` polls the counters and returns every loss so far.
    """

    def __init__(
        self,
        inner: can.BusABC,
        counters: Sequence[OverrunCounter] = (),
        *,
        capacity: int = QUEUE_CAPACITY,
        receive_buffer: int | None = None,
    ) -> None:
        self.inner = inner
        self.channel_info = inner.channel_info
        self.counters = list(counters)
        self.capacity = capacity
        self.receive_buffer = receive_buffer
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._last = [c.read() or 0 for c in self.counters]
        self._last_poll = time.time()
        self._losses: list[FrameLoss] = []
        self.frames = 0
        self._newest = 0.0  # timestamp of the last frame queued
        self._idle_since = 0.0  # wall time when the interface last had nothing to read
        self.queue_overflows = 0
        self.recv_errors = 0
        self._stop = threading.Event()
        super().__init__(channel=inner.channel_info)
        self._thread = threading.Thread(target=self._run, name="can-reader", daemon=True)
        self._thread.start()

    # -- the reader thread -------------------------------------------------------------------
    def _run(self) -> None:
        inner = self.inner
        put = self._queue.put
        qsize = self._queue.qsize
        stop = self._stop
        next_poll = time.monotonic() + POLL_INTERVAL
        while not stop.is_set():
            try:
                msg = inner.recv(POLL_INTERVAL)
            except can.CanOperationError:
                self.recv_errors += 1  # a malformed datagram: survive it (DESIGN.md, traps)
                continue
            except (OSError, ValueError) as exc:
                if not stop.is_set():
                    put((_FAILED, exc))
                return
            if msg is None:
                self._idle_since = time.time()
            else:
                if not msg.timestamp:
                    msg.timestamp = time.time()
                self._newest = msg.timestamp
                if qsize() < self.capacity:
                    self.frames += 1
                    put(msg)
                else:
                    self.queue_overflows += 1
                    self._add_loss(msg.timestamp, msg.timestamp, 1, "harness reader queue full")
            if self.counters and time.monotonic() >= next_poll:
                self.poll()
                next_poll = time.monotonic() + POLL_INTERVAL

    def _add_loss(self, t0: float, t1: float, frames: int, source: str) -> None:
        t0, t1 = round(t0, 6), round(t1, 6)  # as run.json keeps them: offline judges alike
        with self._lock:
            losses = self._losses
            if losses:
                last = losses[-1]
                if last.source == source and (t0 <= last.t1 or len(losses) >= _MAX_LOSSES):
                    losses[-1] = FrameLoss(last.t0, max(t1, last.t1), last.frames + frames, source)
                    return
            losses.append(FrameLoss(t0, t1, frames, source))

    def poll(self) -> None:
        """Read every overrun counter; an increase is a loss since the previous poll."""
        with self._lock:
            now = time.time()
            since, self._last_poll = self._last_poll, now
            increases = []
            for k, counter in enumerate(self.counters):
                value = counter.read()
                if value is None:
                    continue
                if value > self._last[k]:
                    increases.append((value - self._last[k], counter.name))
                self._last[k] = value
        for frames, name in increases:
            self._add_loss(since, now, frames, name)

    def caught_up(self, t: float) -> bool:
        """Whether every frame stamped up to ``t`` is queued: one stamped later was read
        (interfaces deliver in order), or the interface was found empty after ``t``."""
        return self._newest > t or self._idle_since > t

    def losses(self) -> list[FrameLoss]:
        """Every loss so far, the counters read just now."""
        self.poll()
        with self._lock:
            return list(self._losses)

    def report(self) -> ReceiveReport:
        """What goes into ``run.json`` as ``receive``."""
        losses = self.losses()
        return ReceiveReport(
            reader="thread",
            frames=self.frames,
            lost=sum(loss.frames for loss in losses),
            counters=tuple(c.name for c in self.counters),
            receive_buffer=self.receive_buffer,
            losses=tuple(losses),
        )

    # -- python-can --------------------------------------------------------------------------
    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        try:
            if timeout is None:
                item = self._queue.get()
            elif timeout <= 0:
                item = self._queue.get_nowait()
            else:
                item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None, False
        if isinstance(item, tuple):
            self._queue.put(item)  # stays failed for every later call
            raise item[1]
        return item, False

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        self.inner.send(msg, timeout)

    def fileno(self) -> int:
        return -1  # readiness comes from the queue, not from a descriptor

    def shutdown(self) -> None:
        if self._is_shutdown:
            return
        self._stop.set()
        self._thread.join(timeout=2.0)
        super().shutdown()
        self.inner.shutdown()
