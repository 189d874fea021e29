"""Diagnostic fuzzing, what to send: seeded malformed and unexpected requests.

Sending them (one every ``interval``) and judging the answers is :mod:`harness.uds.fuzz`.

The ``fuzz_diag`` step draws its requests from its own :class:`random.Random` (the step's
``seed:``, or one derived from the run seed: :mod:`harness.fuzz`) before it sends the first, so
a seed gives the same frames in the same order at the same offsets on every run. Aimed at the
services the part's specification lists (:mod:`harness.uds.oracle`), each request is one of:

* ``unsupported``: a service the part does not have, 1..7 bytes;
* ``length``: a supported service (with a valid sub-function) one or more bytes too short or
  too long;
* ``subfunction``: a supported service with a random sub-function, or a valid one with and
  without the suppress-positive-response bit;
* ``did``: ReadDataByIdentifier of one to three DIDs, known and random ones mixed;
* ``random``: random bytes after an allowed service id;
* ``isotp`` (``raw_isotp: true``): frames no ISO-TP receiver may take for a request: an unknown
  PCI type, single frames of length 0 (also the CAN FD escape form carrying a request) or
  longer than 7 or than the frame, empty frames, a first frame no consecutive frame follows,
  consecutive frames out of sequence, first frames a single frame would have held, stray
  consecutive frames, and flow control frames nobody asked for.

Requests are sent as raw single frames (padded like the tester's), physically, functionally or
both. Requests that change the part's state for good are left out unless the profile asks
for them (``exclude:`` replaces :data:`DEFAULT_EXCLUDE`): ECUReset (a restart disturbs the
cases after), ClearDiagnosticInformation (erases confirmed DTCs, non-volatile),
WriteDataByIdentifier (non-volatile identity), CommunicationControl and ControlDTCSetting
(silence messages or DTC recording), RoutineControl, InputOutputControl, the download, upload,
transfer and memory-write services (reprogramming), DynamicallyDefineDataIdentifier,
ReadDataByPeriodicIdentifier and ResponseOnEvent (traffic that outlives the step),
AccessTimingParameter and LinkControl (timing and baud rate), and a change to the programming
session (``10 02``: a bootloader). A sendKey with a key of the part's key length is never sent
whatever ``exclude:`` says: three wrong ones lock SecurityAccess out for 10 s, which nothing
undoes. Session changes 10 01 and 10 03 are sent and undone: the step begins in a known
session (``session:``) and ends with ``10 01``, which also relocks security and drops a
pending seed. The answers are judged afterwards, from the recorded frames, by
:func:`harness.uds.judge.judge_span`; each violation becomes a finding of the step's
:class:`~harness.fuzz.FuzzRecord` naming the request.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from harness.uds.exchange import DiagIds
from harness.uds.oracle import UdsOracle, get_oracle

__all__ = [
    "DEFAULT_EXCLUDE",
    "DEFAULT_EXCLUDE_PREFIXES",
    "ISOTP_KINDS",
    "KINDS",
    "DiagFuzzPlan",
    "FuzzItem",
    "available_kinds",
    "generate",
]

DEFAULT_EXCLUDE: tuple[int, ...] = (
    0x11,  # ECUReset
    0x14,  # ClearDiagnosticInformation
    0x28,  # CommunicationControl
    0x2A,  # ReadDataByPeriodicIdentifier
    0x2C,  # DynamicallyDefineDataIdentifier
    0x2E,  # WriteDataByIdentifier
    0x2F,  # InputOutputControlByIdentifier
    0x31,  # RoutineControl
    0x34,  # RequestDownload
    0x35,  # RequestUpload
    0x36,  # TransferData
    0x37,  # RequestTransferExit
    0x38,  # RequestFileTransfer
    0x3D,  # WriteMemoryByAddress
    0x83,  # AccessTimingParameter
    0x85,  # ControlDTCSetting
    0x86,  # ResponseOnEvent
    0x87,  # LinkControl
)
DEFAULT_EXCLUDE_PREFIXES: tuple[bytes, ...] = (b"\x10\x02", b"\x10\x82")  # programming session

KINDS = ("unsupported", "length", "subfunction", "did", "random", "isotp")
_WEIGHTS = {"unsupported": 2, "length": 3, "subfunction": 3, "did": 2, "random": 1, "isotp": 3}
ISOTP_KINDS = (
    "pci",
    "sf_dl_zero",
    "sf_dl_long",
    "sf_truncated",
    "empty",
    "ff_alone",
    "ff_bad_sn",
    "ff_short",
    "cf",
    "fc",
)
_FUNCTIONAL_SHARE = 0.3  # addressing: both
_FRAME_GAP = 0.001  # s between the frames of one item (a first frame and its followers)
_PENDING = 1.5  # s a lone first frame may keep a reception open (N_Cr 1 s, and some)


@dataclass(frozen=True)
class DiagFuzzPlan:
    """A resolved ``fuzz_diag`` step."""

    count: int
    interval: float
    addressing: str  # physical, functional, both
    raw_isotp: bool
    services: tuple[int, ...] | None  # None: every service id
    exclude: tuple[int, ...]
    exclude_prefixes: tuple[bytes, ...]
    kinds: tuple[str, ...]
    session: str  # default, extended, keep: where the fuzz starts
    oracle: str
    ids: DiagIds
    padding: int | None
    p2: float
    p2_star: float
    seed: int | None  # None: derived from the run seed
    facts: UdsOracle | None = None  # the profile's oracle (None: the registered ``oracle``)
    can_fd: bool = False  # the stimuli as CAN FD frames (diagnostics.can_fd)
    bitrate_switch: bool = False  # ... with the bit rate switch

    @property
    def restores(self) -> bool:
        """Whether the step ends with 10 01 (it began in a set session, or may change it)."""
        return self.session != "keep" or self.allows(0x10)

    def allows(self, sid: int) -> bool:
        return sid not in self.exclude and (self.services is None or sid in self.services)

    @property
    def expected_duration(self) -> float:
        return self.count * self.interval

    def oracle_of(self) -> UdsOracle:
        """The oracle the stimuli aim at: the profile's facts, or the registered one."""
        return self.facts if self.facts is not None else get_oracle(self.oracle)

    def judge_oracle(self) -> UdsOracle:
        return self.oracle_of().with_timing(self.p2, self.p2_star)


@dataclass(frozen=True)
class FuzzItem:
    """One stimulus: the frames (offset in its slot, identifier, data) and what they are."""

    index: int
    kind: str
    functional: bool
    payload: bytes | None  # the request the frames carry; None for malformed ISO-TP
    frames: tuple[tuple[float, int, bytes], ...]
    note: str = ""


# -- drawing -----------------------------------------------------------------------------------
class _Draw:
    def __init__(self, plan: DiagFuzzPlan, oracle: UdsOracle, seed: int) -> None:
        self.plan = plan
        self.oracle = oracle
        self.rng = random.Random(seed)
        allowed = [s for s in range(256) if plan.allows(s)]
        self.supported = [s for s in sorted(oracle.supported) if s in allowed]
        self.unsupported = [s for s in allowed if s not in oracle.services]
        self.with_sub = [s for s in self.supported if oracle.services[s].subfunctions]
        self.allowed = allowed
        self.pending_until = -1.0  # slot time until which a physical reception may be open

    def kinds(self, wanted: Sequence[str] | None = None) -> list[str]:
        """The kinds (of ``wanted``, default the plan's) there is something to send for."""
        out = []
        for kind in self.plan.kinds if wanted is None else wanted:
            if kind == "unsupported" and not self.unsupported:
                continue
            if kind in ("length",) and not self.supported:
                continue
            if kind == "subfunction" and not self.with_sub:
                continue
            if kind == "did" and 0x22 not in self.supported:
                continue
            if kind == "random" and not self.allowed:
                continue
            if kind == "isotp" and not self.plan.raw_isotp:
                continue
            out.append(kind)
        return out

    def forbidden(self, p: bytes) -> bool:
        if not self.plan.allows(p[0]):
            return True
        if any(p.startswith(x) for x in self.plan.exclude_prefixes):
            return True
        # a sendKey of the key's length: three wrong ones lock the part out for 10 s
        sub = p[1] & 0x7F if len(p) >= 2 else 0
        send_key = p[0] == 0x27 and sub != 0 and sub % 2 == 0
        return send_key and len(p) == 2 + self.oracle.key_length

    def filler(self, sid: int, n: int) -> bytes:
        """Bytes after the service id (and sub-function) that make its usual request."""
        if sid == 0x22:
            return b"".join(self.did() for _ in range((n + 1) // 2))[:n]
        return self.rng.randbytes(n)

    def did(self) -> bytes:
        r = self.rng.random()
        if r < 0.4:
            value = self.rng.choice(sorted(self.oracle.dids))
        elif r < 0.7:
            value = 0xF100 | self.rng.randrange(256)
        else:
            value = self.rng.randrange(0x10000)
        return value.to_bytes(2, "big")

    def uds(self, kind: str) -> tuple[bytes, str]:
        rng, oracle = self.rng, self.oracle
        for _ in range(32):
            if kind == "unsupported":
                sid = rng.choice(self.unsupported)
                p = bytes([sid]) + rng.randbytes(rng.randint(0, 6))
                note = "unsupported service"
            elif kind == "length":
                sid = rng.choice(self.supported)
                svc = oracle.services[sid]
                sub = rng.choice(sorted(svc.subfunctions)) if svc.subfunctions else None
                valid = svc.valid_lengths(sub)
                n = rng.choice([k for k in range(1, 8) if k not in valid])
                head = bytes([sid]) if sub is None else bytes([sid, sub])
                p = (head + self.filler(sid, 7))[:n]
                note = f"wrong length ({n} bytes)"
            elif kind == "subfunction":
                sid = rng.choice(self.with_sub)
                svc = oracle.services[sid]
                subs = svc.subfunctions or frozenset()
                if rng.random() < 0.5:
                    sub = rng.choice(sorted(subs)) | (0x80 if rng.random() < 0.5 else 0)
                else:
                    sub = rng.randrange(256)
                base = sub & 0x7F
                lengths = svc.valid_lengths(base) if base in subs else frozenset({2})
                n = rng.choice(sorted(lengths)) if lengths else 2
                p = (bytes([sid, sub]) + self.filler(sid, 6))[:n]
                note = f"sub-function 0x{sub:02X}"
            elif kind == "did":
                p = b"\x22" + b"".join(self.did() for _ in range(rng.randint(1, 3)))
                note = "DIDs"
            else:
                sid = rng.choice(self.allowed)
                p = bytes([sid]) + rng.randbytes(rng.randint(0, 6))
                note = "random bytes"
            if not self.forbidden(p):
                return p, note
        return bytes([rng.choice(self.unsupported or self.allowed)]), "service id only"

    def single_frame(self, payload: bytes) -> bytes:
        data = bytes([len(payload)]) + payload
        if self.plan.padding is not None:
            data += bytes([self.plan.padding]) * (8 - len(data))
        return data

    def isotp(self, functional: bool, t: float) -> tuple[list[bytes], str, str]:
        """(frames, sub-kind, note) of one malformed ISO-TP stimulus."""
        rng = self.rng
        kind = rng.choice(ISOTP_KINDS)
        if kind == "cf" and not functional and t < self.pending_until:
            kind = "fc"  # a stray CF now could continue the open reception: not malformed
        pad = self.plan.padding if self.plan.padding is not None else 0xCC
        sid = rng.choice(self.allowed) if self.allowed else 0x3E
        if kind == "pci":
            data = bytes([rng.randrange(0x40, 0x100)]) + rng.randbytes(rng.randint(0, 7))
            return [data], kind, "unknown PCI type"
        if kind == "sf_dl_zero":
            if rng.random() < 0.5:
                return [b"\x00" + rng.randbytes(7)], kind, "single frame of length 0"
            inner, _ = self.uds(rng.choice(self.kinds(("did", "subfunction", "random"))))
            inner = inner[:6]
            data = bytes([0x00, len(inner)]) + inner
            return [data + bytes([pad]) * (8 - len(data))], kind, "CAN FD escape on classic CAN"
        if kind == "sf_dl_long":
            return [bytes([rng.randrange(8, 16)]) + rng.randbytes(7)], kind, "SF_DL over 7"
        if kind == "sf_truncated":
            n = rng.randint(2, 7)
            body = bytes([sid]) + rng.randbytes(6)
            return [bytes([n]) + body[: rng.randint(0, n - 1)]], kind, "SF_DL past the frame"
        if kind == "empty":
            return [b""], kind, "empty frame"
        if kind in ("ff_alone", "ff_bad_sn"):
            length = rng.randint(8, 62) if kind == "ff_alone" else rng.randint(14, 62)
            ff = bytes([0x10 | length >> 8, length & 0xFF, sid]) + rng.randbytes(5)
            if not functional:
                self.pending_until = t + _PENDING if kind == "ff_alone" else -1.0
            if kind == "ff_alone":
                return [ff], kind, "first frame, no consecutive frame"
            sn = rng.choice([0, *range(2, 16)])
            frames = [ff, bytes([0x20 | sn]) + rng.randbytes(7)]
            if rng.random() < 0.5:
                frames.append(bytes([0x20 | (sn + 1) & 0x0F]) + rng.randbytes(7))
            return frames, kind, "consecutive frame out of sequence"
        if kind == "ff_short":
            if rng.random() < 0.5:
                data = bytes([0x10, rng.randint(1, 7), sid]) + rng.randbytes(5)
                return [data], kind, "first frame of length under 8"
            length = rng.randint(8, 62)
            data = bytes([0x10, length, sid]) + rng.randbytes(rng.randint(0, 4))
            return [data], kind, "first frame with DLC under 8"
        if kind == "cf":
            data = bytes([0x20 | rng.randrange(16)]) + rng.randbytes(rng.randint(0, 7))
            return [data], kind, "consecutive frame, no reception"
        status = rng.choice([0, 1, 2, rng.randrange(16)])
        data = bytes([0x30 | status, rng.randrange(256), rng.randrange(256)])
        if rng.random() < 0.5:
            data += bytes([pad]) * 5
        return [data], "fc", "flow control nobody asked for"


def available_kinds(plan: DiagFuzzPlan) -> list[str]:
    """The plan's kinds that its services and exclusions leave something to send for."""
    return _Draw(plan, plan.oracle_of(), 0).kinds()


def generate(plan: DiagFuzzPlan, seed: int) -> list[FuzzItem]:
    """The step's stimuli, drawn from ``seed`` alone (the same seed: the same items)."""
    draw = _Draw(plan, plan.oracle_of(), seed)
    rng = draw.rng
    kinds = draw.kinds()
    weights = [_WEIGHTS[k] for k in kinds]
    ids = plan.ids
    items: list[FuzzItem] = []
    for index in range(plan.count):
        t = index * plan.interval
        kind = rng.choices(kinds, weights)[0]
        if plan.addressing == "both":
            functional = rng.random() < _FUNCTIONAL_SHARE
        else:
            functional = plan.addressing == "functional"
        can_id = ids.functional_id if functional else ids.request_id
        if kind == "isotp":
            frames, sub, note = draw.isotp(functional, t)
            items.append(
                FuzzItem(
                    index,
                    f"isotp:{sub}",
                    functional,
                    None,
                    tuple((k * _FRAME_GAP, can_id, d) for k, d in enumerate(frames)),
                    note,
                )
            )
            continue
        payload, note = draw.uds(kind)
        if not functional:
            draw.pending_until = -1.0  # a valid single frame ends any reception
        frame = ((0.0, can_id, draw.single_frame(payload)),)
        items.append(FuzzItem(index, kind, functional, payload, frame, note))
    return items
