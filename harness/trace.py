"""Durable writing: the BLF trace of every frame, and files replaced atomically.

The trace is python-can's BLF writer with small containers, flushed to the OS at least every
250 ms of wall time (and fsynced by a thread of its own, :class:`BackgroundSync`), so a run
that is killed leaves a trace python-can can still read, missing at most the last flush
interval. JSON and byte files are written to a temporary file in the same folder, fsynced,
then renamed over the old one: a reader sees the old file or the new one, never half of one.

This is the bottom layer of evidence: the adapters (CAN port, MQTT log, diagnostic log)
write through it, and :func:`read_trace` reads a trace back for offline evaluation; the
bundle, its manifest and its verification are :mod:`harness.evidence`.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import struct
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import InputError
from harness.observe import FLAG_BRS, FLAG_ESI, FLAG_EXTENDED, FLAG_FD, FrameLog
from harness.safeio import EVIDENCE_LOG, open_input

if TYPE_CHECKING:
    import can

__all__ = [
    "FLUSH_INTERVAL",
    "BackgroundSync",
    "BackgroundWriter",
    "TraceWriter",
    "read_trace",
    "read_trace_channels",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

FLUSH_INTERVAL = 0.25

# A classic frame's BLF object as python-can writes it (can.io.blf: OBJ_HEADER_BASE_STRUCT,
# OBJ_HEADER_V1_STRUCT, CAN_MSG_STRUCT and their constants), packed in one go.
_CLASSIC_OBJECT = struct.Struct("<4sHHLL" + "LHHQ" + "HBBL8s")
_OBJ_HEADERS = 32  # base header + V1 header
_CAN_MESSAGE = 1
_TIME_ONE_NANS = 0x00000002
_DIR = 0x1
_CAN_MSG_EXT = 0x80000000
_CONTAINER = 4096  # bytes of frames per BLF container; small keeps a killed run's loss small


def write_json_atomic(path: Path, data: Any, *, compact: bool = False) -> None:
    """Write ``data`` as JSON to ``path`` atomically (temp file, fsync, rename).

    Indented for people to read; ``compact`` (one line, C encoder: about a sixth of the
    time) for a file rewritten often, such as ``run.json`` after every case.
    """
    text = json.dumps(data, separators=(",", ":")) if compact else json.dumps(data, indent=2)
    write_text_atomic(path, text)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` and a newline to ``path`` atomically (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.write("\n")
            fh.flush()
            os.fchmod(fh.fileno(), 0o644)  # mkstemp makes 0600; evidence is for others to read
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class BackgroundWriter:
    """:func:`write_text_atomic` on a thread of its own, so that the run does not wait for
    the disk (its fsyncs) after every case of a simulated run.

    ``submit(path, text)`` returns at once; the files are written in the order submitted,
    and a file submitted again before its turn is written once, with the newest text (what
    a reader would have seen replaced within moments anyway). ``wait()`` returns when all
    that was submitted is written, and raises what writing raised; ``close()`` waits and
    ends the thread.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Path, int] | None] = queue.Queue()
        self._latest: dict[Path, tuple[int, str]] = {}
        self._lock = threading.Lock()
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, path: Path, text: str) -> None:
        with self._lock:
            self._seq += 1
            self._latest[path] = (self._seq, text)
            seq = self._seq
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="evidence-json", daemon=True)
            self._thread.start()
        self._queue.put((path, seq))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                path, seq = item
                with self._lock:
                    latest = self._latest.get(path)
                if latest is None or latest[0] != seq or self._error is not None:
                    continue  # a newer text of the file comes later in the queue
                write_text_atomic(path, latest[1])
            except BaseException as exc:  # handed to the run at wait()
                self._error = exc
            finally:
                self._queue.task_done()

    def wait(self) -> None:
        if self._thread is not None:
            self._queue.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        try:
            self.wait()
        finally:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join()
                self._thread = None


class BackgroundSync:
    """``fsync`` off the hot path: a thread of its own syncs what was flushed.

    ``later(fd)`` hands the thread a duplicate of ``fd`` (so closing the file never lets it
    sync a reused descriptor) and returns at once: the data is already with the OS, which
    is what a killed process needs; the sync for a power loss follows within moments.
    ``wait()`` returns when every sync asked so far is done (before a file is sealed).
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def later(self, fd: int) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="evidence-fsync", daemon=True)
            self._thread.start()
        self._queue.put(os.dup(fd))

    def _run(self) -> None:
        while True:
            fd = self._queue.get()
            try:
                if fd is None:
                    return
                with contextlib.suppress(OSError):
                    os.fsync(fd)
                os.close(fd)
            finally:
                self._queue.task_done()

    def wait(self) -> None:
        self._queue.join()

    def close(self) -> None:
        """Wait for every pending sync and stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None


class TraceWriter:
    """A BLF trace that stays readable if the process dies (flushed every 250 ms)."""

    def __init__(self, path: Path, channel: int = 1) -> None:
        self.path = path
        import can  # here, not at the top: `harness --help` does not load python-can

        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = can.BLFWriter(str(path), channel=channel, max_container_size=_CONTAINER)
        self._channel = channel
        self._sync = BackgroundSync()
        self._last_flush = time.monotonic()
        self.frames = 0
        self.first_timestamp: float | None = None  # BLF keeps the start only to the ms
        self._closed = False
        self._pending: list[tuple[float, int, bytes, bool, bool, int]] = []  # see write_frame

    def write(self, msg: can.Message) -> None:
        """Append a frame; flushes when the last flush is 250 ms old (checked every 64)."""
        if self._pending:
            self._pack_pending()  # the frames before it first: the trace keeps their order
        if self.first_timestamp is None:
            self.first_timestamp = msg.timestamp
        self._writer.on_message_received(msg)
        self.frames += 1
        if not self.frames & 63:
            self.maybe_flush()

    def write_frame(
        self, ts: float, can_id: int, data: bytes, *, rx: bool, extended: bool, bus: int = 0
    ) -> None:
        """Append a classic frame without building a ``can.Message`` (the hot path). ``bus``
        is the named bus's index in the plan: BLF channel ``bus + 1`` (python-can's reader
        gives ``msg.channel == bus``).

        The frame is only noted here; it is packed into BLF objects with those noted before
        it when the trace is next flushed (at most 250 ms of wall time later, which is when
        it would reach the file anyway), in one tight loop: the same bytes python-can's
        writer makes of the frames one by one (tests/can/test_trace_fast.py holds them equal).
        """
        self.frame(ts, can_id, data, rx, extended, bus)

    def frame(
        self, ts: float, can_id: int, data: bytes, rx: bool, extended: bool, bus: int = 0
    ) -> None:
        """:meth:`write_frame` with positional arguments (the CAN port's call per frame)."""
        if len(data) <= 8:
            if self.first_timestamp is None:
                self.first_timestamp = ts
            self._pending.append((ts, can_id, data, rx, extended, bus))
            self.frames += 1
            if not self.frames & 63:
                self.maybe_flush()
            return
        import can

        self.write(
            can.Message(
                timestamp=ts,
                arbitration_id=can_id,
                is_extended_id=extended,
                data=data,
                dlc=len(data),
                is_rx=rx,
                channel=bus if bus else None,
                check=False,
            )
        )

    def _pack_pending(self) -> None:
        """Pack the noted classic frames into the writer's buffer, as python-can would have
        one at a time (``on_message_received`` then ``_add_object``: object header, V1 header
        and CAN message, here in one struct), cutting containers at the same bytes."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        w = self._writer
        start = w.start_timestamp
        if start is None:  # python-can keeps the start to the ms, as BLF does
            start = w.start_timestamp = int(pending[0][0] * 1000) / 1000
        pack = _CLASSIC_OBJECT.pack
        size = _CLASSIC_OBJECT.size
        channel = self._channel
        limit = w.max_container_size
        buffer = w._buffer
        filled = w._buffer_size
        for ts, can_id, data, rx, extended, bus in pending:
            ns = int((ts - start) * 1e9)
            buffer.append(
                pack(
                    b"LOBJ",
                    _OBJ_HEADERS,
                    1,
                    size,
                    _CAN_MESSAGE,
                    _TIME_ONE_NANS,
                    0,
                    0,
                    ns if ns > 0 else 0,
                    channel + bus,
                    0 if rx else _DIR,
                    len(data),
                    can_id | _CAN_MSG_EXT if extended else can_id,
                    data,
                )
            )
            filled += size
            if filled >= limit:  # where python-can's _add_object flushes a container
                w._buffer_size = filled
                w._flush()
                buffer = w._buffer
                filled = w._buffer_size
        w._buffer_size = filled
        w.object_count += len(pending)
        w.stop_timestamp = pending[-1][0]

    def maybe_flush(self) -> None:
        """Flush when the last flush is 250 ms of wall time old (cheap to call often)."""
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL:
            self.flush()

    def flush(self) -> None:
        if self._closed:
            return
        self._pack_pending()
        self._writer._flush()  # BLFWriter has no public flush: write the pending container
        fh = self._writer.file
        fh.flush()
        self._sync.later(fh.fileno())
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if not self._closed:
            self._pack_pending()
            self._closed = True
            self._sync.close()
            self._writer.stop()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_bytes_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# -- reading trace.blf back ------------------------------------------------------------------------
def read_trace(path: Path, origin: float | None) -> tuple[FrameLog, int]:
    """The FrameLog of a BLF trace, on the live run's time base; also the frame count.

    ``origin`` is the run's ``trace_origin``. Without it, the BLF's own (ms-accurate) start
    time is used, which may move frames by a microsecond against the live run.
    """
    logs, frames = _read(path, origin, split=False)
    return logs.get(0, FrameLog()), frames


def read_trace_channels(path: Path, origin: float | None) -> tuple[dict[int, FrameLog], int]:
    """As :func:`read_trace`, one FrameLog per channel: a several-bus run's bus ``i`` is
    python-can's ``msg.channel == i`` (BLF channel ``i + 1``); also the frame count."""
    return _read(path, origin, split=True)


def _read(path: Path, origin: float | None, *, split: bool) -> tuple[dict[int, FrameLog], int]:
    import can  # here, not at import: writing JSON must not pay for python-can

    if not path.exists():
        raise InputError(f"no trace at {path}", expected="the run's trace.blf")
    logs: dict[int, FrameLog] = {0: FrameLog()}
    frames = 0
    handle = open_input(path, EVIDENCE_LOG)  # a regular file: a FIFO must not hang the reader
    try:
        reader = can.BLFReader(handle)
    except Exception as exc:
        handle.close()  # python-can raises several kinds for a broken header
        raise InputError(f"{path}: not a readable BLF trace ({exc})") from None
    with reader:
        if origin is not None:
            # Offsets from the file start (exact to the ns), not ms-accurate absolute times.
            reader.start_timestamp = 0.0
        first: float | None = None
        try:
            for msg in reader:
                if msg.is_error_frame or msg.is_remote_frame:
                    continue
                offset = msg.timestamp
                if first is None:
                    first = offset
                ts = origin + (offset - first) if origin is not None else offset
                data = bytes(msg.data)
                channel = msg.channel if split and isinstance(msg.channel, int) else 0
                log = logs.get(channel)
                if log is None:
                    log = logs[channel] = FrameLog()
                flags = FLAG_EXTENDED if msg.is_extended_id else 0
                if msg.is_fd:
                    flags |= FLAG_FD | (FLAG_BRS if msg.bitrate_switch else 0)
                    flags |= FLAG_ESI if msg.error_state_indicator else 0
                if msg.is_rx:
                    log.add_rx(ts, msg.arbitration_id, data, flags)
                else:
                    log.add_tx(ts, msg.arbitration_id, data, flags)
                frames += 1
                if not frames & 0x3FFF:
                    for each in logs.values():  # hours of trace in bounded memory
                        each.spill_large()
        except Exception as exc:
            raise InputError(f"{path}: trace unreadable after {frames} frames ({exc})") from None
    return logs, frames
