"""A commented starting profile for a supplier's part, written from its DBC (``harness init``).

From the messages the node sends: one case per cyclic message (a ``cycle_time`` check at the
DBC's cycle time +-10 %, and ``signal`` range checks from the DBC's min/max where they are
narrower than what the signal can carry, so each check can fail), one case for the bus
(``allowed_ids``: every identifier the node sends; ``bus_load``: twice the load its cycle
times give, at least 1 %). The bus is classic CAN, or CAN FD when the DBC has FD messages
(:mod:`harness.profile.scaffold_bus`: its bit rates from the DBC's attributes); FD messages
get their cases like classic ones. As comments: E2E suggestions from signal names (counter,
checksum, CRC) and a rest-bus of the messages the node receives.

The text is built here, pure; :mod:`harness.init_cli` loads the DBC and writes it.
The output validates as written (the tests hold it to that).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from harness.can.dbc import AUTO, CanDatabase, MessageCodec, SignalCodec, classic_misfit
from harness.errors import DbcError
from harness.profile.scaffold_bus import ScaffoldBus, scaffold_bus

__all__ = ["CYCLE_TOLERANCE", "ROUNDING", "ScaffoldOptions", "scaffold"]

CYCLE_TOLERANCE = 0.10
"""Cycle-time window around the DBC's cycle time, as a fraction of it."""
MAX_CASE_ID = 64
ROUNDING = 1e-6
"""Range limits are widened by this fraction of a signal's step, so that a value exactly
at a DBC limit is not failed by floating-point rounding (far less than one step)."""
_COUNTER = re.compile(r"alive|counter|cnt|ctr|msgcount|rolling|seqn", re.IGNORECASE)
_CHECKSUM = re.compile(r"crc|checksum|chksum|chks|cksum|parity|(^|_)cs($|_)", re.IGNORECASE)
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_YAML11_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


@dataclass(frozen=True)
class ScaffoldOptions:
    node: str
    dbc_ref: str  # the DBC's path as the profile names it (relative to the profile)
    encoding: str = AUTO
    lenient: bool = False
    bus: str | None = None


def _q(text: str) -> str:
    """A YAML scalar: plain where the strict loader reads it as this text, else quoted."""
    if _PLAIN.match(text) and text.lower() not in _YAML11_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)


def _num(value: float) -> str:
    """A number the strict YAML loader reads as one: fixed point, no exponent."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.12f}".rstrip("0").rstrip(".")


def _ms(seconds: float) -> str:
    if seconds >= 1.0 and round(seconds, 9).is_integer():
        return f"{round(seconds):d} s"
    return f"{round(seconds * 1000, 6):g} ms"


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._").lower()
    return slug or "part"


def _hex(msg: MessageCodec) -> str:
    return f"0x{msg.frame_id:0{8 if msg.is_extended else 3}X}"


def _cyclic(msg: MessageCodec) -> bool:
    """A cycle time and a send type (if any) that says cyclic without a condition."""
    if not msg.cycle_time:
        return False
    send = getattr(msg._cantools, "send_type", None)
    if send is None:
        return True
    text = str(send).lower()
    return "cyclic" in text and "ifactive" not in text


def _muxed(sig: SignalCodec) -> bool:
    return getattr(sig._cantools, "multiplexer_signal", None) is not None


def _range(sig: SignalCodec) -> tuple[float, float] | str:
    """(min, max) for a range check, or why the signal gets none."""
    lo, hi = sig.minimum, sig.maximum
    if lo is None or hi is None or (lo == 0 and hi == 0):
        return "no range in the DBC"
    if lo > hi:
        return f"its DBC range [{lo:g}|{hi:g}] is empty"
    if _muxed(sig):
        return "multiplexed (the check reads every frame)"
    if getattr(sig._cantools, "is_float", False):
        return "a float signal"
    raw_lo = -(1 << (sig.length - 1)) if sig.signed else 0
    raw_hi = (1 << (sig.length - 1)) - 1 if sig.signed else (1 << sig.length) - 1
    ends = (raw_lo * sig.scale + sig.offset, raw_hi * sig.scale + sig.offset)
    eps = abs(sig.scale) * ROUNDING  # raw * scale + offset in floating point, at a limit
    if lo - eps <= min(ends) and hi + eps >= max(ends):
        return f"[{lo:g}|{hi:g}] covers every value it can carry"
    return lo - eps, hi + eps


def _name(text: str) -> str:
    """``text`` as a profile name (case and requirement IDs: letters, digits, ``._-``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).lstrip("._-") or "M"


def _case_id(prefix: str, name: str, used: set[str]) -> str:
    base = _name(f"{prefix}{name}")[:MAX_CASE_ID]
    case_id, n = base, 2
    while case_id in used:
        suffix = f"-{n}"
        case_id, n = base[: MAX_CASE_ID - len(suffix)] + suffix, n + 1
    used.add(case_id)
    return case_id


def _e2e_guess(msg: MessageCodec) -> tuple[list[str], list[str]]:
    names = list(msg.signals)
    checksums = [n for n in names if _CHECKSUM.search(n)]
    counters = [n for n in names if _COUNTER.search(n) and n not in checksums]
    return counters, checksums


def _describe(sig: SignalCodec) -> str:
    where = f"bit {sig.start}, {sig.length} bit{'s' if sig.length != 1 else ''}"
    return f"{sig.name} ({where}{'' if sig.little_endian else ', big-endian'})"


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, *lines: str) -> None:
        self.lines.extend(lines)

    def comment(self, text: str, indent: str = "") -> None:
        self.lines.append(f"{indent}# {text}".rstrip())


def scaffold(db: CanDatabase, options: ScaffoldOptions) -> str:
    """The starting profile for ``options.node`` of ``db``, as YAML text with comments."""
    node = options.node
    if node not in db.nodes():
        raise DbcError(
            f"no node {node} in {db.source}",
            expected="a node (BU_) of the DBC",
            got=node,
            choices=db.nodes(),
        )
    bus = scaffold_bus(db)
    sent = [m for m in db.messages.values() if node in m.senders]
    cyclic = sorted((m for m in sent if _cyclic(m)), key=lambda m: (m.cycle_time, m.frame_id))
    ready = cyclic[0] if cyclic else (sent[0] if sent else None)
    if ready is None:
        raise DbcError(
            f"node {node} sends no message in {db.source}",
            expected="a node that sends at least one message (the profile's ready message: "
            "the part is up when it is seen)",
        )
    received = [
        m
        for m in db.messages.values()
        if node not in m.senders
        and any(node in (s._cantools.receivers or ()) for s in m.signals.values())
    ]
    used: set[str] = set()
    requirements: list[str] = []
    w = _Writer()
    _header(w, db, options, sent)
    body = _Writer()
    for msg in sorted(sent, key=lambda m: (m.is_extended, m.frame_id)):
        if not _cyclic(msg):
            body.comment(
                f"{msg.name} ({_hex(msg)}): {_why_not_cyclic(msg)}; no cycle_time case", "  "
            )
            body("")
            continue
        reqs = _message_case(body, msg, used)
        requirements.extend(reqs)
    bus_reqs = _bus_case(body, bus, sent, cyclic, used)
    requirements.extend(bus_reqs)
    _meta(w, bus, options, requirements)
    _dut(w, node, ready)
    _e2e(w, sent, received)
    _restbus(w, received)
    w("cases:")
    w(*body.lines)
    while w.lines and not w.lines[-1]:
        w.lines.pop()
    return "\n".join(w.lines) + "\n"


def _header(w: _Writer, db: CanDatabase, o: ScaffoldOptions, sent: list[MessageCodec]) -> None:
    w.comment(f"Starting profile for node {o.node} of {o.dbc_ref}, written by `harness init`.")
    w.comment("Every value comes from the DBC: check each against the part's specification.")
    w.comment("The requirement IDs are placeholders for the ones of your specification.")
    w.comment("`harness validate FILE` checks it; `harness certify FILE` runs it.")
    if o.bus:
        w.comment(
            f"Bus: {o.bus} (the bench says which interface it is; a part on several buses "
            "declares them in buses:, README: Named buses)."
        )
    w.comment(
        f"{o.node} sends {len(sent)} message(s) in the DBC"
        + (f"; read leniently: {len(db.relaxations)} relaxation(s)" if db.relaxations else "")
    )
    for relaxed in db.relaxations:
        w.comment(f"  {relaxed}")
    w("format: cc-harness-profile/1", "")


def _meta(w: _Writer, bus: ScaffoldBus, o: ScaffoldOptions, requirements: list[str]) -> None:
    stem = re.sub(r"\.dbc$", "", o.dbc_ref.replace("\\", "/").rsplit("/", 1)[-1], flags=re.I)
    w("profile:")
    w(f"  id: {_q(_slug(f'{o.node}-{stem}'))}")
    w("  version: 0.1.0")
    on_bus = f" on bus {o.bus}" if o.bus else ""
    w(f"  title: {_q(f'{o.node} from {stem}{on_bus} (generated starting profile)')}")
    w("  requirements:")
    w(f"    id: {_q(_slug(o.node).upper() + '-REQ')}  # your requirement set")
    w('    version: "0.1"')
    w("    ids:")
    for req in requirements:
        w(f"      - {_q(req)}")
    w("")
    if o.encoding == AUTO and not o.lenient:
        w(f"dbc: {_q(o.dbc_ref)}")
    else:
        w("dbc:")
        w(f"  path: {_q(o.dbc_ref)}")
        if o.encoding != AUTO:
            w(f"  encoding: {_q(o.encoding)}")
        if o.lenient:
            w("  lenient: true  # the DBC needs it; `harness validate` lists each relaxation")
    w(*bus.lines)


def _dut(w: _Writer, node: str, ready: MessageCodec) -> None:
    cycle = ready.cycle_time or 0.0
    w("dut:")
    w(f"  node: {_q(node)}")
    w("  ready:")
    w(f"    message: {_q(ready.name)}  # the first message the part sends once it is up")
    w(f"    timeout: {_ms(max(2.0, 3 * cycle))}")
    if 3 * cycle > 5.0:
        w(f"    lost_after: {_ms(3 * cycle)}")
    w("")


def _e2e(w: _Writer, sent: list[MessageCodec], received: list[MessageCodec]) -> None:
    found = []
    for msg, role in [(m, "sends") for m in sent] + [(m, "receives") for m in received]:
        counters, checksums = _e2e_guess(msg)
        if counters or checksums:
            found.append((msg, role, counters, checksums))
    if not found:
        w.comment("E2E: no signal of these messages is named like a counter or a checksum.")
        w("")
        return
    w.comment("E2E suggestions, from signal names only: the scheme is the part's, so check each")
    w.comment("against its specification (README: E2E protection, counters and checksums). The")
    w.comment("schemes: cc_tcu_1 (the default: CRC-8 over a Data ID and the payload), autosar_p01,")
    w.comment("p02, p04, p05, p06, p07, p11 (with their data_id), byte_sum, xor, nibble_sum and")
    w.comment("counter_only (any bit position). A declared message gets alive_counter and e2e_crc")
    w.comment("checks (messages the part sends) and inject faults through its scheme (rest-bus).")
    w.comment("e2e:")
    for msg, role, counters, checksums in found:
        note = f"{msg.name} ({_hex(msg)}), the part {role} it"
        if classic_misfit(msg) is not None:
            note += f", CAN FD ({msg.length} bytes)"
        parts = [f"counter {_describe(msg.signals[c])}" for c in counters]
        parts += [f"checksum {_describe(msg.signals[c])}" for c in checksums]
        w.comment(f"  {note}: " + "; ".join(parts))
        if not (counters and checksums):
            continue
        crc = msg.signals[checksums[0]]
        if crc.length == 8 and crc.start % 8 == 0:
            w.comment(f"  {msg.name}: {{counter: {counters[0]}, crc: {checksums[0]}}}")
            w.comment(
                f"    (or scheme: byte_sum, xor or autosar_p01 with checksum: {checksums[0]}, "
                "if that is the part's)"
            )
        elif crc.length == 4:
            w.comment(
                f"  {msg.name}: {{scheme: nibble_sum, checksum: {checksums[0]}, "
                f"counter: {counters[0]}}}"
            )
        else:
            w.comment(
                f"  {msg.name}: {{scheme: byte_sum, checksum: {checksums[0]}, "
                f"counter: {counters[0]}}}"
            )
            w.comment(f"    ({crc.name} is {crc.length} bits: check the part's scheme)")
    w("")


def _restbus(w: _Writer, received: list[MessageCodec]) -> None:
    if not received:
        w.comment("Rest-bus: the part receives no message of the DBC.")
        w("")
        return
    w.comment("Rest-bus: the messages the part receives, with start values (GenSigStartValue,")
    w.comment("else raw 0). Uncomment and set the values that put the part in the state its")
    w.comment("cycle times and ranges below assume; without a rest-bus the part sees a silent bus.")
    w.comment("restbus:")
    for msg in sorted(received, key=lambda m: (m.is_extended, m.frame_id)):
        if msg.outside:
            w.comment(f"  {msg.name}: signals beyond its frame, the harness cannot send it")
            continue
        values = ", ".join(f"{_q(n)}: {_start_value(s)}" for n, s in msg.signals.items())
        w.comment(f"  {msg.name}:")
        w.comment(f"    signals: {{{values}}}")
        if not msg.cycle_time:
            w.comment("    cycle: 100 ms  # no cycle time in the DBC: set the one it is sent at")
    w("")


def _start_value(sig: SignalCodec) -> str:
    raw = getattr(sig._cantools, "raw_initial", None)
    raw = int(raw) if isinstance(raw, (int, float)) else 0
    name = sig.choice_name(raw)
    if name is not None:
        return json.dumps(name, ensure_ascii=False)
    return _num(raw * sig.scale + sig.offset)


def _why_not_cyclic(msg: MessageCodec) -> str:
    send = getattr(msg._cantools, "send_type", None)
    if not msg.cycle_time:
        return "no cycle time in the DBC" + (f" (send type {send})" if send else "")
    return f"send type {send}, sent only under a condition"


def _message_case(body: _Writer, msg: MessageCodec, used: set[str]) -> list[str]:
    cycle = msg.cycle_time or 0.0
    lo, hi = cycle * (1 - CYCLE_TOLERANCE), cycle * (1 + CYCLE_TOLERANCE)
    ranges: list[tuple[SignalCodec, tuple[float, float]]] = []
    skipped: list[str] = []
    for sig in msg.signals.values():
        if sig.name in msg.outside:
            skipped.append(f"{sig.name}: beyond the frame")
            continue
        found = _range(sig)
        if isinstance(found, str):
            skipped.append(f"{sig.name}: {found}")
        else:
            ranges.append((sig, found))
    case_id = _case_id("TC-", msg.name, used)  # unique, so the requirement IDs are too
    cycle_req, range_req = f"{case_id[3:]}-CYCLE", f"{case_id[3:]}-RANGE"
    reqs = [cycle_req] + ([range_req] if ranges else [])
    window = max(2.0, 10 * cycle)
    body(f"  - id: {_q(case_id)}")
    title = f"{msg.name} ({_hex(msg)}) cycle {_ms(lo)}..{_ms(hi)}"
    body(f"    title: {_q(title + (' and signal ranges' if ranges else ''))}")
    body(f"    requirements: [{', '.join(_q(r) for r in reqs)}]")
    body("    steps:")
    body(f"      - observe: {_ms(window)}")
    body("        checks:")
    body.comment(f"DBC cycle time {_ms(cycle)}, +-{CYCLE_TOLERANCE:.0%}", "          ")
    body("          - kind: cycle_time")
    body(f"            message: {_q(msg.name)}")
    body(f"            min: {_ms(lo)}")
    body(f"            max: {_ms(hi)}")
    if ranges:
        body(f"            requirements: [{_q(cycle_req)}]")
    for sig, (rlo, rhi) in ranges:
        unit = f" {sig.unit}" if sig.unit else ""
        body.comment(f"DBC range [{sig.minimum:g}|{sig.maximum:g}]{unit}", "          ")
        body("          - kind: signal")
        body(f"            message: {_q(msg.name)}")
        body(f"            signal: {_q(sig.name)}")
        body(f"            min: {_num(rlo)}")
        body(f"            max: {_num(rhi)}")
        body(f"            requirements: [{_q(range_req)}]")
    if skipped:
        body.comment("no range check for:", "    ")
        for text in skipped:
            body.comment(f"  {text}", "    ")
    body("")
    return reqs


def _bus_case(
    body: _Writer,
    bus: ScaffoldBus,
    sent: Iterable[MessageCodec],
    cyclic: list[MessageCodec],
    used: set[str],
) -> list[str]:
    sent = sorted(sent, key=lambda m: (m.is_extended, m.frame_id))
    bitrate = bus.bitrate
    bits = sum(bus.frame_bits(m) / (m.cycle_time or 1.0) for m in cyclic)
    expected = 100.0 * bits / bitrate
    limit = max(1.0, math.ceil(4 * expected) / 2)  # twice the load, rounded up to 0.5 %
    longest = max((m.cycle_time or 0.0 for m in cyclic), default=0.0)
    body(f"  - id: {_q(_case_id('TC-', 'BUS', used))}")
    body(f"    title: {_q('Only the identifiers of the DBC, bus load under ' + f'{limit:g} %')}")
    body("    requirements: [BUS-IDS, BUS-LOAD]")
    body("    steps:")
    body(f"      - observe: {_ms(max(10.0, 3 * longest))}")
    body("        checks:")
    body.comment("every message the node sends in the DBC (add diagnostic responses)", "          ")
    ids = ", ".join(_hex(m) for m in sent)
    body(f"          - {{kind: allowed_ids, ids: [{ids}], requirements: [BUS-IDS]}}")
    body.comment(
        f"the DBC's cycle times give {expected:.3f} % at {bitrate} bit/s; the limit is twice "
        "that, at least 1 %",
        "          ",
    )
    if bus.fd:
        body.comment("(CAN FD frames counted without BRS: every bit at the nominal rate)", " " * 10)
    body(
        f"          - {{kind: bus_load, max_percent: {limit:g}, window: 1 s, "
        "requirements: [BUS-LOAD]}"
    )
    return ["BUS-IDS", "BUS-LOAD"]
