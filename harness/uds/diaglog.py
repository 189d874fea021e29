"""``diag.jsonl``: every diagnostic exchange of a run, one JSON object a line, kept durably.

The frames themselves are in ``trace.blf`` (the ISO-TP link sends and receives through the
recording port); this log says what they meant: the reassembled request and response payloads,
their timestamps (on the trace's clock and 1 µs grid), addressing, NRCs and what the tester
made of it. Each line is appended and flushed at once and the file is fsynced at most every
250 ms of wall time, like the trace, so a killed run keeps what it exchanged.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO, Any

from harness.trace import FLUSH_INTERVAL

__all__ = ["DIAG_LOG_FILE", "DiagLog"]

DIAG_LOG_FILE = "diag.jsonl"


class DiagLog:
    """Append-only JSON lines, flushed per line and fsynced every 250 ms; the file is
    created with the first line (a run without diagnostics leaves none)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None
        self._closed = False
        self._last_sync = time.monotonic()
        self.lines = 0

    def write(self, entry: dict[str, Any]) -> None:
        if self._closed:
            return
        if self._fh is None:
            self._fh = self.path.open("a", encoding="utf-8")
        fh = self._fh
        fh.write(json.dumps(entry, separators=(",", ":"), sort_keys=False) + "\n")
        fh.flush()
        self.lines += 1
        self.maybe_sync()

    def maybe_sync(self) -> None:
        if self._fh is not None and time.monotonic() - self._last_sync >= FLUSH_INTERVAL:
            os.fsync(self._fh.fileno())
            self._last_sync = time.monotonic()

    def close(self) -> None:
        self._closed = True
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def __enter__(self) -> DiagLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
