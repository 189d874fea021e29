"""One reading policy for every file a user hands the harness.

Profiles, benches, DBCs, ASN.1 modules, keys, certificates and evidence files may come from
people the lab does not control, so every input is read the same way:

* **Regular files only.** The file is opened non-blocking (a FIFO cannot hang the open) and
  its *open descriptor* is checked with ``fstat``: FIFOs, devices (``/dev/zero``), sockets
  and directories are refused, and so is anything on ``/proc`` or ``/sys`` (whose "regular"
  files such as ``/proc/self/environ`` hold the process's secrets). A symbolic link to a
  regular file is fine; one into a special file is refused like the special file itself.
* **A size cap per kind** (:class:`InputKind`), checked before and while reading, so
  ``/dev/zero`` or a 60 MB DBC costs nothing.
* **A parse-time bound** (:func:`parse_deadline`): a parser that uses more CPU time than its
  kind allows is interrupted, in any thread, and its caller reports it as an input error.
* **Encodings real tools write** (:func:`decode_text`), tried in a fixed order; the error
  says which were tried and where the first undecodable byte sits.
* **No content in messages.** Errors name the file, the place (line, column) and what was
  expected; they never quote bytes of a file that did not parse as its kind.

Every problem is the :class:`~harness.errors.InputError` subclass the caller names (exit 2).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from harness.errors import InputError

__all__ = [
    "ASN1",
    "CERTIFICATE",
    "DBC",
    "EVIDENCE_LOG",
    "EVIDENCE_RECORD",
    "JSON_SCHEMA",
    "KEY",
    "MANIFEST",
    "SPECIAL_ROOTS",
    "YAML",
    "InputKind",
    "ParseTimeout",
    "decode_text",
    "open_input",
    "parse_deadline",
    "read_input",
    "special_place",
]

_MiB = 1 << 20


@dataclass(frozen=True)
class InputKind:
    """A kind of input file: what it is called in messages, its size cap, its parse bound."""

    name: str
    max_bytes: int
    parse_seconds: float = 20.0


YAML = InputKind("YAML", 1 * _MiB)
DBC = InputKind("DBC", 4 * _MiB)
ASN1 = InputKind("ASN.1 module", 1 * _MiB)
JSON_SCHEMA = InputKind("JSON schema", 1 * _MiB)
KEY = InputKind("key", 64 * 1024)
CERTIFICATE = InputKind("certificate", 1 * _MiB)
MANIFEST = InputKind("evidence manifest", 16 * _MiB)
EVIDENCE_RECORD = InputKind("run record", 64 * _MiB)
EVIDENCE_LOG = InputKind("evidence log", 1024 * _MiB)

SPECIAL_ROOTS = ("/proc", "/sys", "/dev")
"""Where no input file (and no evidence folder) may live: kernel and device file systems."""

_CHUNK = 1 << 20


def _device_of(path: str) -> int | None:
    try:
        return os.stat(path).st_dev
    except OSError:
        return None


_KERNEL_DEVICES = {d for d in (_device_of("/proc"), _device_of("/sys")) if d is not None}


def special_place(path: str | os.PathLike[str]) -> str | None:
    """The special file system ``path`` resolves into (``/proc``, ``/sys``, ``/dev``), or
    None for an ordinary place."""
    real = os.path.realpath(path)
    for root in SPECIAL_ROOTS:
        if real == root or real.startswith(root + "/"):
            return root
    return None


def _what(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _fail(error_cls: type[InputError], shown: str, kind: InputKind, what: str) -> InputError:
    return error_cls(f"expected a readable {kind.name} file, but got {what}", source=shown)


def open_input(
    path: str | os.PathLike[str],
    kind: InputKind,
    *,
    error_cls: type[InputError] = InputError,
    display: str | None = None,
) -> BinaryIO:
    """Open a regular file for binary reading under the policy (no size cap applied here).

    The caller owns the returned file; a refused file raises error_cls naming it.
    """
    shown = display if display is not None else os.fspath(path)
    root = special_place(path)
    if root is not None:
        raise _fail(error_cls, shown, kind, f"a file under {root} (a kernel or device file)")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise _fail(error_cls, shown, kind, "a missing file") from None
    except IsADirectoryError:
        raise _fail(error_cls, shown, kind, "a directory") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise _fail(error_cls, shown, kind, f"an unreadable file ({reason})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _fail(error_cls, shown, kind, _what(info.st_mode))
        if info.st_dev in _KERNEL_DEVICES:  # a bind mount or a link swapped in after the check
            raise _fail(error_cls, shown, kind, "a kernel file (on /proc or /sys)")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _too_big(error_cls: type[InputError], shown: str, kind: InputKind, size: str) -> InputError:
    return error_cls(f"expected at most {kind.max_bytes} bytes, but got {size}", source=shown)


def read_input(
    path: str | os.PathLike[str],
    kind: InputKind,
    *,
    error_cls: type[InputError] = InputError,
    display: str | None = None,
    max_bytes: int | None = None,
) -> bytes:
    """The bytes of a regular file, at most the kind's cap (or ``max_bytes``)."""
    shown = display if display is not None else os.fspath(path)
    cap = kind.max_bytes if max_bytes is None else max_bytes
    if cap != kind.max_bytes:
        kind = InputKind(kind.name, cap, kind.parse_seconds)
    with open_input(path, kind, error_cls=error_cls, display=shown) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > cap:
            raise _too_big(error_cls, shown, kind, f"{size} bytes")
        chunks: list[bytes] = []
        total = 0
        while total <= cap:
            chunk = fh.read(min(_CHUNK, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > cap:  # grew while we read it
            raise _too_big(error_cls, shown, kind, "more")
    return b"".join(chunks)


def _line_col(data: bytes, index: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, index) + 1
    start = data.rfind(b"\n", 0, index) + 1
    return line, index - start + 1


def decode_text(
    data: bytes,
    encodings: Sequence[str],
    kind: InputKind,
    *,
    source: str,
    error_cls: type[InputError] = InputError,
) -> tuple[str, str]:
    """``data`` decoded by the first of ``encodings`` that reads all of it, and its name.

    A UTF-8 byte order mark is dropped. When no encoding fits, the error names the tried
    encodings and the line and column of the byte that stopped the encoding that read
    furthest, never the text itself.
    """
    first: UnicodeDecodeError | None = None
    for name in encodings:
        codec = "utf-8-sig" if name.replace("_", "-").lower() in ("utf-8", "utf8") else name
        try:
            return data.decode(codec), name
        except UnicodeDecodeError as exc:
            if first is None or exc.start > first.start:
                first = exc
    assert first is not None, "decode_text needs at least one encoding"
    line, col = _line_col(data, first.start)
    tried, which = ("(each was tried)", "any of them") if len(encodings) > 1 else ("", "it")
    raise error_cls(
        f"expected a {kind.name} saved as text in {' or '.join(encodings)} {tried}".rstrip()
        + f", but byte 0x{data[first.start]:02X} is not valid in {which}",
        source=source,
        line=line,
        col=col,
    )


# -- the parse-time bound ------------------------------------------------------------------------


class ParseTimeout(BaseException):
    """Raised inside a parser that ran past its :func:`parse_deadline` (a BaseException, so
    that a parser's own ``except Exception`` cannot swallow it)."""


_WALL_FACTOR = 10  # wall-clock ceiling, as a multiple of the CPU-time bound

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
_set_async_exc.restype = ctypes.c_int


class _Watchdog:
    """Watches one thread's CPU time (so a loaded machine does not cut a parse short, while a
    runaway parser, which burns CPU, is stopped) with a wall-clock ceiling behind it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.thread_id = threading.get_ident()
        try:
            self.clock: int | None = time.pthread_getcpuclockid(self.thread_id)
        except (AttributeError, OSError):  # no per-thread CPU clocks here: wall time only
            self.clock = None
        self.start_cpu = self.cpu()
        self.wall_limit = time.monotonic() + seconds * _WALL_FACTOR
        self.lock = threading.Lock()
        self.active = True
        self.fired = False
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.watch, name="parse-deadline", daemon=True)

    def cpu(self) -> float:
        return time.clock_gettime(self.clock) if self.clock is not None else time.monotonic()

    def watch(self) -> None:
        while not self.done.is_set():
            spent = self.cpu() - self.start_cpu
            if spent >= self.seconds or time.monotonic() >= self.wall_limit:
                self.fire()
                return
            self.done.wait(min(0.25, max(0.01, self.seconds - spent)))

    def fire(self) -> None:
        with self.lock:
            if self.active:
                self.fired = True
                _set_async_exc(self.thread_id, ParseTimeout)

    def stop(self) -> bool:
        """Disarm; True when the deadline passed (a pending interruption is withdrawn)."""
        self.done.set()
        with self.lock:
            self.active = False
            fired = self.fired
        if fired:
            _set_async_exc(self.thread_id, ctypes.py_object())  # NULL: clear if still pending
        return fired


@contextlib.contextmanager
def parse_deadline(seconds: float) -> Iterator[None]:
    """Interrupt the block with :class:`ParseTimeout` once it has used ``seconds`` of CPU
    time in this thread (or run ten times that long by the wall clock).

    Works in any thread (the interruption is delivered between Python bytecodes; a single
    long C call finishes first). Callers turn ParseTimeout into an input error.
    """
    dog = _Watchdog(seconds)
    dog.thread.start()
    try:
        yield
    finally:
        if dog.stop():
            raise ParseTimeout(f"parsing took longer than {seconds:g} s")
