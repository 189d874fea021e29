"""Fuzzing remote commands (CMD-005): a shipped corpus, a seeded generator, and the judge.

The ``fuzz_command`` step publishes malformed commands on the command topic, one at a time:
each waits for its ack (at most ``within``), then ``gap`` more (so that a second ack shows),
before the next goes out. Every payload must get exactly one ack within ``within``, with the
result, reason and ``seq`` that :mod:`harness.mqtt.cmdoracle` derives from the payload alone,
and must not be executed.

* The **corpus** (``harness/data/command-corpus.jsonl``, shipped in the package) holds
  hand-picked payloads, one JSON object a line: ``name``, ``why``, the payload as ``text``
  (UTF-8) or ``hex``, and the ack the reference page prescribes (``expect``). Only payloads
  whose ack the page decides without the key, whatever a conforming JSON parser makes of
  them, are in it; ``tests/v2x/test_command_fuzz.py`` holds the oracle to every entry.
* The **generator** mutates validly signed commands (signed with the bench's key, ``ts`` the
  time of the step, so a part that parses leniently would execute them): a field dropped,
  retyped, nested or made non-hex, the bytes truncated, padded past 1024, flipped, inserted,
  deleted, or the command wrapped. Every random draw depends only on the seed, never on the
  bytes of the key, the time or the mac, so payload number N is the same mutation on every
  run with the same seed. A mutant that the oracle cannot judge (still a well-formed command,
  or one JSON readings disagree on) is cut before its last ``}`` instead, which makes it
  malformed without another draw.

:func:`judge` pairs payloads with acks (an ack belongs to the payload sent last before it:
the step sends the next one only after an ack, or after ``within`` without one) and lists every
mismatch: no ack, a late one, a wrong result, reason or ``seq``, more than one ack, an ack that
is not JSON, a command frame on CAN. The step uses it for the findings of its
:class:`~harness.fuzz.FuzzRecord`, the ``command_fuzz`` check for its verdict, live and
offline alike.
"""

from __future__ import annotations

import functools
import json
import random
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from harness.mqtt.cmdoracle import MAX_PAYLOAD, Expected, judge_payload

__all__ = [
    "CORPUS_FILE",
    "EVENT_END",
    "EVENT_START",
    "CorpusEntry",
    "FuzzPayload",
    "Judgement",
    "Mismatch",
    "build_payloads",
    "corpus_name",
    "generate",
    "judge",
    "load_corpus",
    "show_payload",
]

CORPUS_FILE = "command-corpus.jsonl"
EVENT_START = "fuzz_command start "  # + JSON: the MQTT log's record of the step (see judge)
EVENT_END = "fuzz_command end "
FIELDS = ("cmd", "seq", "nonce", "ts", "mac")
Signer = Callable[[str, int, str, int], str]  # (cmd, seq, nonce, ts) -> mac


@dataclass(frozen=True)
class CorpusEntry:
    name: str
    why: str
    payload: bytes
    expect: dict[str, Any]  # {"result": "rejected", "reason": ..., "seq": ...}


@functools.lru_cache(maxsize=1)
def load_corpus() -> tuple[CorpusEntry, ...]:
    """The shipped corpus, in file order."""
    text = resources.files("harness").joinpath("data", CORPUS_FILE).read_text(encoding="utf-8")
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        e = json.loads(line)
        payload = e["text"].encode("utf-8") if "text" in e else bytes.fromhex(e["hex"])
        out.append(CorpusEntry(e["name"], e["why"], payload, dict(e["expect"])))
    return tuple(out)


@functools.lru_cache(maxsize=1)
def _corpus_index() -> dict[bytes, str]:
    return {e.payload: e.name for e in load_corpus()}


def corpus_name(payload: bytes) -> str | None:
    """The corpus entry that is exactly ``payload`` (its name), if any."""
    return _corpus_index().get(payload)


@dataclass(frozen=True)
class FuzzPayload:
    index: int
    origin: str  # corpus or generated
    name: str  # the corpus entry, or the mutation
    payload: bytes

    @property
    def label(self) -> str:
        return f"#{self.index} {self.origin} {self.name}"


def build_payloads(
    corpus: bool, generated: int, seed: int, sign: Signer, ts_ms: int
) -> list[FuzzPayload]:
    """What a ``fuzz_command`` step sends: the corpus (in file order), then the generated."""
    out: list[FuzzPayload] = []
    if corpus:
        out += [FuzzPayload(i, "corpus", e.name, e.payload) for i, e in enumerate(load_corpus())]
    for name, payload in generate(seed, generated, sign, ts_ms):
        out.append(FuzzPayload(len(out), "generated", name, payload))
    return out


# -- the generator ----------------------------------------------------------------------------
_NON_HEX = ("g", "G", "x", "z", "Z", " ", "-", ":", "\u0660", "\uff10", "\u00e9")
# Raw JSON for a field's value, made wrong: each takes the valid value as its argument.
_RETYPES: dict[str, tuple[tuple[str, Callable[[Any], str]], ...]] = {
    "seq": (
        ("string", lambda v: json.dumps(str(v))),
        ("fraction", lambda v: f"{v}.5"),
        ("true", lambda v: "true"),
        ("null", lambda v: "null"),
        ("array", lambda v: f"[{v}]"),
        ("object", lambda v: f'{{"value":{v}}}'),
        ("negative", lambda v: str(-v - 1)),
        ("past 2^31", lambda v: str(v + 2**31)),
        ("past 2^64", lambda v: str(v + 2**64)),
        ("hex string", lambda v: json.dumps(hex(v))),
    ),
    "cmd": (
        ("number", lambda v: "3"),
        ("null", lambda v: "null"),
        ("object", lambda v: json.dumps({"cmd": v})),
        ("array", lambda v: json.dumps([v])),
        ("upper case", lambda v: json.dumps(v.upper())),
        ("unknown word", lambda v: json.dumps(v + "x")),
        ("empty", lambda v: '""'),
        ("true", lambda v: "true"),
    ),
    "nonce": (
        ("31 digits", lambda v: json.dumps(v[:31])),
        ("33 digits", lambda v: json.dumps(v + "0")),
        ("upper case, one 'X'", lambda v: json.dumps(v.upper()[:31] + "X")),
        ("0x prefix", lambda v: json.dumps("0x" + v[:30])),
        ("number", lambda v: str(int(v[:12], 16))),
        ("null", lambda v: "null"),
        ("empty", lambda v: '""'),
        ("bytes array", lambda v: json.dumps(list(bytes.fromhex(v[:8])))),
    ),
    "ts": (
        ("string", lambda v: json.dumps(str(v))),
        ("fraction", lambda v: f"{v}.25"),
        ("null", lambda v: "null"),
        ("false", lambda v: "false"),
        ("array", lambda v: f"[{v}]"),
        ("seconds fraction", lambda v: f"{v // 1000}.{v % 1000:03d}1"),
    ),
    "mac": (
        ("63 digits", lambda v: json.dumps(v[:63])),
        ("65 digits", lambda v: json.dumps(v + "0")),
        ("number", lambda v: "0"),
        ("null", lambda v: "null"),
        ("empty", lambda v: '""'),
        ("array", lambda v: json.dumps([v[:32], v[32:]])),
    ),
}
_OPS = ("drop", "retype", "corrupt_hex", "truncate", "oversize", "flip", "insert", "delete",
        "wrap", "nest")  # fmt: skip
_WEIGHTS = (2, 6, 3, 2, 2, 5, 2, 2, 1, 1)


def _encode(values: dict[str, str]) -> bytes:
    """An object of raw JSON values, in field order, compact."""
    return ("{" + ",".join(f'"{k}":{v}' for k, v in values.items()) + "}").encode("utf-8")


def _mutate(rng: random.Random, values: dict[str, str], plain: dict[str, Any]) -> tuple[str, bytes]:
    """One mutation of a signed command; every draw depends on the seed only (see module)."""
    base = _encode(values)
    op = rng.choices(_OPS, _WEIGHTS)[0]
    if op == "drop":
        field = rng.choice(FIELDS)
        return f"drop {field}", _encode({k: v for k, v in values.items() if k != field})
    if op == "retype":
        field = rng.choice(FIELDS)
        what, make = rng.choice(_RETYPES[field])
        return f"{field} {what}", _encode({**values, field: make(plain[field])})
    if op == "corrupt_hex":
        field = rng.choice(("nonce", "mac"))
        text: str = plain[field]
        pos = rng.randrange(len(text))
        char = rng.choice(_NON_HEX)
        bad = text[:pos] + char + text[pos + 1 :]
        return f"{field}[{pos}] -> {char!r}", _encode({**values, field: json.dumps(bad)})
    if op == "truncate":
        cut = rng.randrange(len(base))
        return f"truncated to {cut} of {len(base)} bytes", base[:cut]
    if op == "oversize":
        size = MAX_PAYLOAD + 1 + rng.randrange(1024)
        style = rng.choice(("pad field", "spaces", "long mac"))
        if style == "spaces":
            return f"{size} bytes (trailing spaces)", base + b" " * (size - len(base))
        if style == "long mac":
            mac = plain["mac"] + "0" * (size - len(base))
            return f"{size} bytes (mac that long)", _encode({**values, "mac": json.dumps(mac)})
        pad = "x" * (size - len(base) - len(',"pad":""'))
        return f"{size} bytes (pad field)", base[:-1] + f',"pad":"{pad}"}}'.encode()
    if op in ("flip", "insert", "delete"):
        data = bytearray(base)
        if op == "flip":
            count = rng.randint(1, 3)
            spots = sorted(rng.sample(range(len(base)), count))
            masks = [rng.randrange(1, 256) for _ in spots]
            for at, mask in zip(spots, masks, strict=True):
                data[at] ^= mask
            where = ", ".join(f"{a}^0x{m:02X}" for a, m in zip(spots, masks, strict=True))
            return f"flipped byte(s) {where}", bytes(data)
        if op == "insert":
            at, byte = rng.randrange(len(base) + 1), rng.randrange(256)
            data[at:at] = bytes([byte])
            return f"0x{byte:02X} inserted at {at}", bytes(data)
        at = rng.randrange(len(base))
        del data[at]
        return f"byte {at} deleted", bytes(data)
    if op == "wrap":
        style = rng.choice(("array", "object", "string", "twice"))
        text = base.decode()
        wrapped = {
            "array": f"[{text}]",
            "object": f'{{"command":{text}}}',
            "string": json.dumps(text),
            "twice": text + text,
        }[style]
        return f"wrapped ({style})", wrapped.encode()
    field = rng.choice(FIELDS)
    depth = rng.randint(1, 64)
    nested = "[" * depth + values[field] + "]" * depth
    return f"{field} nested {depth} deep", _encode({**values, field: nested})


def _single_answer(payload: bytes) -> bool:
    """Decided, and the same ack under every JSON reading (what the generator sends)."""
    expected = judge_payload(payload).expected
    return expected is not None and expected.unanimous


def generate(seed: int, count: int, sign: Signer, ts_ms: int) -> list[tuple[str, bytes]]:
    """``count`` malformed mutants of validly signed commands: (what was done, payload)."""
    rng = random.Random(seed)
    out: list[tuple[str, bytes]] = []
    for _ in range(count):
        cmd = rng.choice(("horn", "flash", "lock", "unlock"))
        seq = rng.randrange(2**31) if rng.random() < 0.5 else rng.randrange(1000)
        nonce = f"{rng.getrandbits(128):032x}"
        plain: dict[str, Any] = {"cmd": cmd, "seq": seq, "nonce": nonce, "ts": ts_ms}
        plain["mac"] = sign(cmd, seq, nonce, ts_ms)
        values = {k: json.dumps(plain[k]) for k in FIELDS}
        name, payload = _mutate(rng, values, plain)
        if not _single_answer(payload):  # still a command, or ambiguous
            cut = payload.rfind(b"}")
            payload = payload[:cut] if cut > 0 else payload
            name += ", cut before its last '}'"
            if not _single_answer(payload):
                payload = _encode(values)[:-1]
                name += "; then only the base command without its '}'"
        out.append((name, payload))
    return out


# -- the judge --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mismatch:
    """One payload the part did not answer as the page says."""

    index: int
    sent: float  # when the payload was published
    payload: bytes
    problem: str  # one line
    expected: dict[str, Any] | None
    got: tuple[str, ...]  # the acks in its slot, as text
    at: float  # the moment that shows it best (the ack, the frame, or the send)


def show_payload(payload: bytes, limit: int = 120) -> str:
    """A payload for people: its text (escaped) when UTF-8, else hex; long ones cut."""
    try:
        # control characters and non-ASCII as Python escapes (\n, \xe9, \uff10)
        shown = payload.decode("utf-8").encode("unicode_escape").decode("ascii")
    except UnicodeDecodeError:
        shown = "hex " + payload.hex(" ")
    if len(shown) > limit:
        shown = shown[: limit - 3] + "..."
    return f"{shown} ({len(payload)} bytes)"


def _ack_text(payload: bytes) -> str:
    return show_payload(payload, 80).rsplit(" (", 1)[0]


def _compare(expected: Expected, ack: bytes) -> str | None:
    try:
        got = json.loads(ack.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "the ack is not JSON"
    if not isinstance(got, dict):
        return "the ack is not a JSON object"
    seq = got.get("seq")
    want = expected.as_dict()
    wrong = [k for k in ("result", "reason") if got.get(k) != want[k]]
    if not (isinstance(seq, int) and not isinstance(seq, bool) and seq in expected.seqs):
        wrong.append("seq")
    if not wrong:
        return None
    shown = "/".join(str(got.get(k, "-")) for k in ("result", "reason"))
    return f"got {shown} seq {json.dumps(got.get('seq'))} ({', '.join(wrong)} wrong)"


@dataclass(frozen=True)
class Judgement:
    mismatches: list[Mismatch]
    worst_latency: float | None  # of the first ack of each payload that got one


def judge(
    sent: Sequence[float],
    payloads: Sequence[bytes],
    ack_ts: Sequence[float],
    acks: Sequence[bytes],
    within: float,
    frames: Sequence[float] = (),
) -> Judgement:
    """Every payload's mismatches, in order (see the module docstring).

    Payload i's slot runs from its send to the next payload's (the last one's: ``within``);
    the acks and command frames in its slot are its own.
    """
    out: list[Mismatch] = []
    worst: float | None = None
    n = len(sent)
    eps = 1e-9
    for i in range(n):
        t0 = sent[i]
        t1 = sent[i + 1] if i + 1 < n else t0 + within + eps
        mine = range(bisect_left(ack_ts, t0), bisect_left(ack_ts, t1))
        got = tuple(_ack_text(acks[k]) for k in mine)
        verdict = judge_payload(payloads[i])
        expected = verdict.expected.as_dict() if verdict.expected is not None else None
        shown = verdict.expected.describe() if verdict.expected is not None else ""
        problems: list[tuple[str, float]] = []
        if mine:
            latency = ack_ts[mine[0]] - t0
            worst = latency if worst is None else max(worst, latency)
        if verdict.expected is None:
            problems.append((f"not a malformed command ({verdict.undecided})", t0))
        elif not mine:
            problems.append((f"no ack within {within * 1000:g} ms (expected {shown})", t0))
        else:
            problem = _compare(verdict.expected, acks[mine[0]])
            late = ack_ts[mine[0]] - t0 > within + eps
            if problem is not None:
                problems.append((f"expected {shown}, {problem}", ack_ts[mine[0]]))
            elif late:
                ms = (ack_ts[mine[0]] - t0) * 1000
                problems.append(
                    (
                        f"the ack came after {ms:.3f} ms, later than {within * 1000:g} ms",
                        ack_ts[mine[0]],
                    )
                )
            if len(mine) > 1:
                problems.append((f"{len(mine)} acks (expected one: {shown})", ack_ts[mine[1]]))
        executed = frames[bisect_left(frames, t0) : bisect_left(frames, t1)]
        if executed:
            gap = executed[0] - t0
            problems.append(
                (f"executed: a command frame {gap * 1000:.3f} ms after it", executed[0])
            )
        out += [Mismatch(i, t0, payloads[i], p, expected, got, at) for p, at in problems]
    return Judgement(out, worst)
