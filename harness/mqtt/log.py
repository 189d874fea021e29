"""MQTT observations: every message the harness saw or sent, on the run's one clock.

:class:`MqttLog` keeps messages per logical topic (the names of the profile's ``mqtt.topics``
section: ``bsm``, ``status``, ...) in columns: timestamp (1 µs grid, like CAN frames),
payload bytes, QoS, retain flag, decoded value and decode error. Checks read windows of it by
time, exactly as they read the :class:`~harness.observe.FrameLog`; a window carries both.

:class:`MqttRecorder` writes the same stream durably to ``mqtt.jsonl`` beside ``trace.blf``:
one JSON object per line, flushed and fsynced at least every 250 ms of wall time, so a run
that dies keeps what it saw up to the last flush.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.identity import PLACEHOLDER, placeholders
from harness.safeio import EVIDENCE_LOG, open_input
from harness.spill import COLUMN_AT, COLUMN_CHUNK, spill_if_large
from harness.trace import BackgroundSync

__all__ = ["MQTT_LOG_FILE", "MqttColumn", "MqttLog", "MqttRecorder"]

MQTT_LOG_FILE = "mqtt.jsonl"
FLUSH_INTERVAL = 0.25


@dataclass
class MqttColumn:
    """Messages of one topic: parallel lists, in arrival order."""

    ts: list[float] = field(default_factory=list)
    payload: list[bytes] = field(default_factory=list)
    qos: list[int] = field(default_factory=list)
    retain: list[bool] = field(default_factory=list)
    value: list[Any] = field(default_factory=list)
    error: list[str | None] = field(default_factory=list)
    topic: list[str] = field(default_factory=list)

    def span(self, t0: float, t1: float) -> tuple[int, int]:
        """Index range [i, j) of messages with t0 <= ts <= t1."""
        return bisect_left(self.ts, t0), bisect_right(self.ts, t1)

    def last_before(self, t: float) -> int:
        return bisect_left(self.ts, t) - 1

    def __len__(self) -> int:
        return len(self.ts)


_EMPTY = MqttColumn()
_FIELDS = ("ts", "payload", "qos", "retain", "value", "error", "topic")


class MqttLog:
    """Every MQTT message of the run, by direction and logical topic name."""

    def __init__(self, identity: dict[str, str] | None = None, utc_offset: float = 0.0) -> None:
        self.rx: dict[str, MqttColumn] = {}
        self.tx: dict[str, MqttColumn] = {}
        # (ts, what): the harness's connection, broker stops and starts, decode errors...
        self.events: list[tuple[float, str]] = []
        self.identity = dict(identity or {})
        self.utc_offset = utc_offset  # UTC seconds = log time + utc_offset
        self.recorder: MqttRecorder | None = None

    def _add(
        self,
        table: dict[str, MqttColumn],
        name: str,
        ts: float,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        value: Any,
        error: str | None,
    ) -> float:
        ts = round(ts, 6)
        col = table.get(name)
        if col is None:
            col = table[name] = MqttColumn()
        if col.ts and ts < col.ts[-1]:  # another thread's clock read: keep the column sorted
            ts = col.ts[-1]
        col.ts.append(ts)
        col.payload.append(payload)
        col.qos.append(qos)
        col.retain.append(retain)
        col.value.append(value)
        col.error.append(error)
        col.topic.append(topic)
        return ts

    def add_rx(
        self,
        name: str,
        ts: float,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        value: Any = None,
        error: str | None = None,
    ) -> float:
        ts = self._add(self.rx, name, ts, topic, payload, qos, retain, value, error)
        if self.recorder is not None:
            self.recorder.message(ts, "rx", topic, payload, qos, retain, error)
        return ts

    def add_tx(
        self,
        name: str,
        ts: float,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        value: Any = None,
        note: str | None = None,
    ) -> float:
        ts = self._add(self.tx, name, ts, topic, payload, qos, retain, value, None)
        if self.recorder is not None:
            self.recorder.message(ts, "tx", topic, payload, qos, retain, None, note)
        return ts

    def event(self, ts: float, what: str) -> None:
        ts = round(ts, 6)
        self.events.append((ts, what))
        if self.recorder is not None:
            self.recorder.event(ts, what)

    def spill_large(self, folder: str | None = None) -> None:
        """Move the older part of every long column to disk (:mod:`harness.spill`)."""
        for col in (*self.rx.values(), *self.tx.values()):
            spill_if_large(col, _FIELDS, folder, at=COLUMN_AT, chunk=COLUMN_CHUNK)

    def rx_of(self, name: str) -> MqttColumn:
        return self.rx.get(name, _EMPTY)

    def tx_of(self, name: str) -> MqttColumn:
        return self.tx.get(name, _EMPTY)

    def events_between(self, t0: float, t1: float) -> list[tuple[float, str]]:
        return [(t, w) for t, w in self.events if t0 <= t <= t1]

    def utc(self, ts: float) -> float:
        return ts + self.utc_offset


@functools.lru_cache(maxsize=256)
def _topic_json(topic: str) -> str:
    return json.dumps(topic)


class MqttRecorder:
    """``mqtt.jsonl``: every message and connection event, durably (see module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("a", encoding="utf-8")
        os.fchmod(self._fh.fileno(), 0o644)
        self._last_flush = time.monotonic()
        self._lines = 0
        self._sync = BackgroundSync()
        self.closed = False

    def _write(self, obj: dict[str, Any]) -> None:
        if self.closed:
            return
        self._fh.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self._lines += 1
        if not self._lines & 63:
            self.maybe_flush()

    def message(
        self,
        ts: float,
        direction: str,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        error: str | None,
        note: str | None = None,
    ) -> None:
        if self.closed:
            return
        # The hot path of a run with V2X traffic: one formatted line, no dict, no dumps,
        # except for the free-text parts.
        extra = ""
        if error is not None:
            extra += ',"decode_error":' + json.dumps(error)
        if note is not None:
            extra += ',"note":' + json.dumps(note)
        self._fh.write(
            f'{{"ts":{ts!r},"dir":"{direction}","topic":{_topic_json(topic)},"qos":{qos},'
            f'"retain":{"true" if retain else "false"},"payload":"{payload.hex()}"{extra}}}\n'
        )
        self._lines += 1
        if not self._lines & 63:
            self.maybe_flush()

    def event(self, ts: float, what: str) -> None:
        self._write({"ts": ts, "event": what})

    def maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= FLUSH_INTERVAL:
            self.flush()

    def flush(self) -> None:
        if self.closed:
            return
        self._fh.flush()
        self._sync.later(self._fh.fileno())  # fsync off the hot path (harness.evidence)
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if not self.closed:
            self.flush()
            self.closed = True
            self._sync.close()
            self._fh.close()

    def __enter__(self) -> MqttRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_mqtt_log(folder: Path, plan: Any, record: Any) -> MqttLog | None:
    """The :class:`MqttLog` a run's checks saw, rebuilt from its ``mqtt.jsonl`` (offline).

    ``plan`` is the run's compiled profile (its ``mqtt`` section gives the topics and codecs),
    ``record`` the run record (its mode gives the clock: simulated runs put UTC at the fixed
    epoch of :mod:`harness.mqtt.side`). The identity is the record's, else read back from the
    topics.
    """
    from harness.mqtt.plan import MqttPlan

    mplan = plan.extra.get("mqtt") if plan is not None else None
    path = folder / MQTT_LOG_FILE
    if not isinstance(mplan, MqttPlan) or not path.is_file():
        return None
    from harness.clock import SIM_UTC_EPOCH

    simulated = getattr(record, "mode", "") == "simulated"
    identity = {str(k): str(v) for k, v in (getattr(record, "identity", None) or {}).items()}
    log = MqttLog(identity, SIM_UTC_EPOCH if simulated else 0.0)
    patterns = [
        (
            _topic_pattern(t.template),
            t,
        )
        for t in mplan.topics.values()
    ]
    # line by line, under the reading policy: hours of log in bounded memory
    with open_input(path, EVIDENCE_LOG) as raw, io.TextIOWrapper(raw, encoding="utf-8") as lines:
        try:
            for n, line in enumerate(lines, 1):
                if not n & 0xFFF:
                    log.spill_large()
                _read_line(log, line, patterns)
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 JSON lines (byte {exc.start})") from None
    return log


def _topic_pattern(template: str) -> re.Pattern[str]:
    """A topic template as a regular expression, one group per identity item it names."""
    literal = PLACEHOLDER.split(template)[::2]  # split keeps the names at the odd places
    return re.compile("^" + "([^/]+)".join(re.escape(part) for part in literal) + "$")


def _read_line(log: MqttLog, line: str, patterns: list[tuple[Any, Any]]) -> None:
    try:
        obj = json.loads(line)
    except ValueError:  # a line cut short by a killed run
        return
    if "event" in obj:
        log.events.append((float(obj["ts"]), str(obj["event"])))
        return
    topic = obj["topic"]
    for pattern, t in patterns:
        m = pattern.match(topic)
        if m is None:
            continue
        for i, name in enumerate(placeholders(t.template)):  # the identity, from the topic
            log.identity.setdefault(name, m.group(i + 1))
        payload = bytes.fromhex(obj["payload"])
        if obj["dir"] == "rx":
            value, error = t.codec.decode(payload)
            log.add_rx(t.name, obj["ts"], topic, payload, obj["qos"], obj["retain"], value, error)
        else:
            log.add_tx(t.name, obj["ts"], topic, payload, obj["qos"], obj["retain"])
        break
