"""Durable evidence: the BLF trace of every frame, and JSON records written atomically.

The trace is python-can's BLF writer with small containers, flushed to the OS at least every
250 ms of wall time (and fsynced), so a run that is killed leaves a trace python-can can still
read, missing at most the last flush interval. JSON files are written to a temporary file in
the same folder, fsynced, then renamed over the old one: a reader sees the old file or the new
one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import can

__all__ = ["FLUSH_INTERVAL", "TraceWriter", "write_json_atomic"]

FLUSH_INTERVAL = 0.25
_CONTAINER = 4096  # bytes of frames per BLF container; small keeps a killed run's loss small


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=False)
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


class TraceWriter:
    """A BLF trace that stays readable if the process dies (flushed every 250 ms)."""

    def __init__(self, path: Path, channel: int = 1) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = can.BLFWriter(str(path), channel=channel, max_container_size=_CONTAINER)
        self._last_flush = time.monotonic()
        self.frames = 0
        self.first_timestamp: float | None = None  # BLF keeps the start only to the ms
        self._closed = False

    def write(self, msg: can.Message) -> None:
        """Append a frame; flushes when the last flush is 250 ms old (checked every 64)."""
        if self.first_timestamp is None:
            self.first_timestamp = msg.timestamp
        self._writer.on_message_received(msg)
        self.frames += 1
        if not self.frames & 63:
            self.maybe_flush()

    def write_frame(self, ts: float, can_id: int, data: bytes, *, rx: bool, extended: bool) -> None:
        self.write(
            can.Message(
                timestamp=ts,
                arbitration_id=can_id,
                is_extended_id=extended,
                data=data,
                dlc=len(data),
                is_rx=rx,
                check=False,
            )
        )

    def maybe_flush(self) -> None:
        """Flush when the last flush is 250 ms of wall time old (cheap to call often)."""
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL:
            self.flush()

    def flush(self) -> None:
        if self._closed:
            return
        self._writer._flush()  # BLFWriter has no public flush: write the pending container
        fh = self._writer.file
        fh.flush()
        os.fsync(fh.fileno())
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._writer.stop()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
