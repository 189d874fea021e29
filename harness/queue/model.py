"""Run requests, bench capabilities, and the queue names that route one to the other (pure).

A bench declares what it has (:class:`Capabilities`: interface kind, CAN FD, how many buses);
a run request says what it needs (:class:`Needs`: an interface kind or any, FD or not, at
least so many buses). Each possible set of needs is a queue of its own
(``cc-harness.any.classic.1bus``, ``cc-harness.socketcan.fd.2bus``, ...): a request goes to
the queue its needs name, and a worker consumes every queue whose needs its bench meets.
So the task queue's own routing (Celery, one queue per capability set) is what matches runs
to benches: a run only ever reaches a bench that can carry it, and waits in its queue while
no such bench is up.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from harness.errors import InputError

__all__ = [
    "MAX_BUSES",
    "QUEUE_PREFIX",
    "Capabilities",
    "Needs",
    "RunRequest",
    "queue_for",
    "queues_served",
]

QUEUE_PREFIX = "cc-harness"
MAX_BUSES = 8  # a worker serves one queue per bus count up to its own: keep that list short
ANY = "any"
_INTERFACE = re.compile(r"^[a-z][a-z0-9_]*$")


def _interface(text: str, where: str) -> str:
    if not _INTERFACE.match(text):
        raise InputError(
            where, expected="a python-can interface name such as virtual or socketcan", got=text
        )
    return text


def _buses(text: str, where: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_BUSES:
        raise InputError(where, expected=f"a bus count from 1 to {MAX_BUSES}", got=text)
    return n


@dataclass(frozen=True)
class Capabilities:
    """What a bench has: its interface kind, whether it speaks CAN FD, how many buses."""

    interface: str
    fd: bool = False
    buses: int = 1

    def __post_init__(self) -> None:
        _interface(self.interface, "bench interface")
        _buses(str(self.buses), "--buses")

    def meets(self, needs: Needs) -> bool:
        return (
            needs.interface in (ANY, self.interface)
            and (self.fd or not needs.fd)
            and self.buses >= needs.buses
        )

    def describe(self) -> str:
        return f"{self.interface}, {'CAN FD' if self.fd else 'classic CAN'}, {self.buses} bus(es)"

    def to_json(self) -> dict[str, Any]:
        return {"interface": self.interface, "fd": self.fd, "buses": self.buses}


@dataclass(frozen=True)
class Needs:
    """What a run needs of a bench; ``interface`` ``any`` takes whichever it has."""

    interface: str = ANY
    fd: bool = False
    buses: int = 1

    @classmethod
    def parse(cls, text: str | None) -> Needs:
        """``interface=socketcan,fd,buses=2`` (each part optional; empty: anything)."""
        interface, fd, buses = ANY, False, 1
        for part in (p.strip() for p in (text or "").split(",")):
            if not part:
                continue
            key, eq, value = part.partition("=")
            if key == "fd" and not eq:
                fd = True
            elif key == "interface" and eq:
                interface = _interface(value, "--needs interface")
            elif key == "buses" and eq:
                buses = _buses(value, "--needs buses")
            else:
                raise InputError(
                    "--needs",
                    expected="comma-separated interface=NAME, fd, buses=N",
                    got=part,
                    choices=["interface=NAME", "fd", "buses=N"],
                )
        return cls(interface, fd, buses)

    def to_json(self) -> dict[str, Any]:
        return {"interface": self.interface, "fd": self.fd, "buses": self.buses}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Needs:
        return cls(str(data["interface"]), bool(data["fd"]), int(data["buses"]))


def queue_for(needs: Needs) -> str:
    """The queue a request with these needs goes to."""
    kind = "fd" if needs.fd else "classic"
    return f"{QUEUE_PREFIX}.{needs.interface}.{kind}.{needs.buses}bus"


def queues_served(caps: Capabilities) -> list[str]:
    """Every queue whose needs this bench meets: the queues its worker consumes."""
    return [
        queue_for(Needs(interface, fd, buses))
        for interface in (ANY, caps.interface)
        for fd in ((False, True) if caps.fd else (False,))
        for buses in range(1, caps.buses + 1)
    ]


@dataclass(frozen=True)
class RunRequest:
    """One run to carry out on some bench: the profile (by path, pinned by its sha256), the
    DUT, and how (real time, which cases, the fuzz seed)."""

    profile: str
    digest: str
    dut: str = "sim"
    needs: Needs = field(default_factory=Needs)
    realtime: bool = False
    cases: tuple[str, ...] = ()
    seed: int | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def queue(self) -> str:
        return queue_for(self.needs)

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "profile": self.profile,
            "digest": self.digest,
            "dut": self.dut,
            "needs": self.needs.to_json(),
            "realtime": self.realtime,
            "cases": list(self.cases),
            "seed": self.seed,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRequest:
        seed = data.get("seed")
        return cls(
            profile=str(data["profile"]),
            digest=str(data["digest"]),
            dut=str(data.get("dut", "sim")),
            needs=Needs.from_json(data["needs"]),
            realtime=bool(data.get("realtime", False)),
            cases=tuple(str(c) for c in data.get("cases", ())),
            seed=None if seed is None else int(seed),
            request_id=str(data["request_id"]),
        )
