"""Ports for tests that run in parallel (pytest-xdist): each worker draws from its own range.

A port the OS hands out (``bind(("", 0))``) is free when asked, but another worker may be
handed the same one before the test binds it, and on ``udp_multicast`` two processes on one
group and port silently share one bus (python-can binds with ``SO_REUSEADDR``). So every
xdist worker (``PYTEST_XDIST_WORKER=gwN``) takes ports from a block of its own, below the
kernel's ephemeral range (where nothing is handed out by the OS), starting at a random
offset so that two test sessions on one machine seldom meet; each port is still probed with
a plain ``bind`` (which fails while anyone holds it, ``SO_REUSEADDR`` or not) before use.
"""

from __future__ import annotations

import itertools
import os
import random
import socket

__all__ = ["free_tcp_port", "free_udp_port", "worker_index"]

FIRST_PORT = 20000  # below Linux's ephemeral range (32768-60999)
BLOCK = 500  # ports per worker: 24 workers fit below 32000


def worker_index() -> int:
    """This xdist worker's number (``gw3`` is 3); 0 outside xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = name.removeprefix("gw")
    return int(digits) % 24 if digits.isdigit() else 0


def _block() -> tuple[int, int]:
    start = FIRST_PORT + worker_index() * BLOCK
    return start, start + BLOCK


_START, _END = _block()
_NEXT = itertools.count(random.randrange(BLOCK))


def _free(kind: int, host: str) -> int:
    for _ in range(BLOCK):
        port = _START + next(_NEXT) % BLOCK
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue  # someone holds it: take the next one
            return port
    raise RuntimeError(f"no free port in {_START}..{_END - 1} (xdist worker {worker_index()})")


def free_udp_port() -> int:
    """A UDP port of this worker's block nobody holds now: a ``udp_multicast`` bus of its own."""
    return _free(socket.SOCK_DGRAM, "")


def free_tcp_port() -> int:
    """A loopback TCP port of this worker's block nobody holds now (a broker's listener)."""
    return _free(socket.SOCK_STREAM, "127.0.0.1")
