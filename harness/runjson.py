"""Reading ``run.json`` back: the record of a run, as data, from the JSON the session wrote.

Every field is checked as it is read (type, allowed values) and a problem names its place in
the file (``run.json: cases[3].checks[0].verdict``), so a damaged or forged record is an
input error, never a traceback. :mod:`harness.offline` re-evaluates what it reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.fuzz import FuzzRecord
from harness.record import (
    CaseRecord,
    CheckResult,
    FrameLoss,
    Offender,
    ReceiveReport,
    RunRecord,
    RunStatus,
    Verdict,
)
from harness.safeio import EVIDENCE_RECORD, read_input

__all__ = ["RUN_FORMAT", "read_run", "record_from_json"]

RUN_FORMAT = "cc-harness-run/1"


# -- run.json ------------------------------------------------------------------------------------
class _Reader:
    """Typed access to a JSON document; a wrong shape is an InputError naming the place."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, expected: str, got: object) -> InputError:
        return InputError(source=self.source, path=path, expected=expected, got=got)

    def get(self, obj: Mapping[str, Any], key: str, path: str, *types: type) -> Any:
        here = f"{path}.{key}" if path else key
        if key not in obj:
            raise InputError(f"missing key '{key}'", source=self.source, path=path or None)
        value = obj[key]
        if (types and not isinstance(value, types)) or (
            isinstance(value, bool) and bool not in types
        ):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise self.fail(here, f"a value of type {names}", json.dumps(value))
        return value

    def number(self, obj: Mapping[str, Any], key: str, path: str) -> float:
        return float(self.get(obj, key, path, int, float))

    def verdict(self, obj: Mapping[str, Any], path: str) -> Verdict:
        value = self.get(obj, "verdict", path, str)
        try:
            return Verdict(value)
        except ValueError:
            raise self.fail(f"{path}.verdict", "one of " + ", ".join(Verdict), value) from None


def _offender(r: _Reader, data: Mapping[str, Any] | None, path: str) -> Offender | None:
    if data is None:
        return None
    can_id = data.get("can_id")
    try:
        ident = int(can_id, 16) if isinstance(can_id, str) else None
    except ValueError:
        raise r.fail(f"{path}.can_id", "a hexadecimal identifier like 0x3A0", can_id) from None
    return Offender(
        timestamp=r.number(data, "timestamp", path),
        detail=r.get(data, "detail", path, str),
        can_id=ident,
        data=data.get("data") if isinstance(data.get("data"), str) else None,
    )


def _check(r: _Reader, data: Mapping[str, Any], path: str) -> CheckResult:
    window = r.get(data, "window", path, list, type(None))
    if window is not None and (
        len(window) != 2 or not all(isinstance(t, (int, float)) for t in window)
    ):
        raise r.fail(f"{path}.window", "[t0, t1] (two numbers) or null", json.dumps(window))
    return CheckResult(
        kind=r.get(data, "kind", path, str),
        verdict=r.verdict(data, path),
        summary=r.get(data, "summary", path, str),
        measurements=r.get(data, "measurements", path, dict),
        limits=r.get(data, "limits", path, dict),
        offender=_offender(r, r.get(data, "offender", path, dict, type(None)), f"{path}.offender"),
        label=r.get(data, "label", path, str),
        requirements=tuple(r.get(data, "requirements", path, list)),
        window=(float(window[0]), float(window[1])) if window is not None else None,
    )


def _case(r: _Reader, data: Mapping[str, Any], path: str) -> CaseRecord:
    markers = r.get(data, "markers", path, dict)
    for name, value in markers.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise r.fail(f"{path}.markers.{name}", "a timestamp", json.dumps(value))
    checks = r.get(data, "checks", path, list)
    return CaseRecord(
        case_id=r.get(data, "id", path, str),
        title=r.get(data, "title", path, str),
        requirements=tuple(r.get(data, "requirements", path, list)),
        mandatory=r.get(data, "mandatory", path, bool),
        verdict=r.verdict(data, path),
        started=r.number(data, "started", path),
        ended=r.number(data, "ended", path),
        checks=tuple(_check(r, c, f"{path}.checks[{i}]") for i, c in enumerate(checks)),
        error=r.get(data, "error", path, str, type(None)),
        markers={str(k): float(v) for k, v in markers.items()},
        fuzz=_fuzz(r, r.get(data, "fuzz", path, list) if "fuzz" in data else [], path),
        not_applicable=_optional_text(data.get("not_applicable")),
    )


def _fuzz(r: _Reader, items: list[Any], path: str) -> tuple[FuzzRecord, ...]:
    out = []
    for i, item in enumerate(items):
        try:
            out.append(FuzzRecord.from_json(item))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise r.fail(
                f"{path}.fuzz[{i}]",
                "a fuzz record (step, kind, seed, started, sent, findings)",
                json.dumps(item)[:200],
            ) from None
    return tuple(out)


def record_from_json(data: Any, source: str = "run.json") -> RunRecord:
    """A :class:`RunRecord` from the JSON form of ``run.json``; a wrong shape is an InputError."""
    r = _Reader(source)
    if not isinstance(data, dict):
        raise r.fail("", "a JSON object (a run record)", type(data).__name__)
    fmt = data.get("format")
    if fmt != RUN_FORMAT:
        raise r.fail("format", f"'{RUN_FORMAT}' (a run record of this harness)", fmt)
    profile = r.get(data, "profile", "", dict)
    status = r.get(data, "status", "", str)
    try:
        run_status = RunStatus(status)
    except ValueError:
        raise r.fail("status", "one of " + ", ".join(RunStatus), status) from None
    origin = r.get(data, "trace_origin", "", int, float, type(None))
    cases = r.get(data, "cases", "", list)
    return RunRecord(
        run_id=r.get(data, "run_id", "", str),
        profile_id=r.get(profile, "id", "profile", str),
        profile_version=r.get(profile, "version", "profile", str),
        profile_digest=r.get(profile, "sha256", "profile", str),
        dbc_digest=r.get(data, "dbc_sha256", "", str),
        harness_version=r.get(data, "harness_version", "", str),
        mode=r.get(data, "mode", "", str),
        dut=r.get(data, "dut", "", str),
        bench=r.get(data, "bench", "", dict),
        started_wall=r.get(data, "started", "", str),
        status=run_status,
        ended_wall=r.get(data, "ended", "", str, type(None)),
        cases=[_case(r, c, f"cases[{i}]") for i, c in enumerate(cases)],
        error=r.get(data, "error", "", str, type(None)),
        identity={str(k): str(v) for k, v in r.get(data, "identity", "", dict).items()},
        # absent in records older than declared identities
        identity_sources={str(k): str(v) for k, v in (data.get("identity_sources") or {}).items()},
        identity_subject=_optional_text(data.get("identity_subject")),
        trace_origin=float(origin) if origin is not None else None,
        seed=_seed(r, data),
        selection=_selection(r, data),
        receive=_receive(r, data),
        conformance=_conformance(r, data),
        priority=_priority(r, data),
    )


def _priority(r: _Reader, data: Mapping[str, Any]) -> dict[str, Any] | None:
    """``priority`` of a real-time run (absent in older records, null in simulated ones)."""
    priority = data.get("priority")
    if priority is None:
        return None
    if not isinstance(priority, dict):
        raise r.fail("priority", "an object {setting, harness, ...} or null", str(priority)[:200])
    return dict(priority)


def _conformance(r: _Reader, data: Mapping[str, Any]) -> dict[str, Any] | None:
    """``conformance`` (absent in older records; null when no statement was given)."""
    statement = data.get("conformance")
    if statement is None:
        return None
    features = statement.get("features") if isinstance(statement, dict) else None
    if not isinstance(features, dict) or not all(isinstance(v, bool) for v in features.values()):
        raise r.fail(
            "conformance",
            "an object {source, features: {name: true|false}} or null",
            json.dumps(statement)[:200],
        )
    return dict(statement)


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _receive(r: _Reader, data: Mapping[str, Any]) -> ReceiveReport | None:
    """``receive`` of a live run (absent in older records and simulated runs)."""
    rec = data.get("receive")
    if rec is None:
        return None
    return _receive_report(r, rec, "receive")


def _receive_report(r: _Reader, rec: Any, where: str) -> ReceiveReport:
    """One receive report at ``where``: a bus's, or a run's (with ``buses``, each bus's)."""
    if not isinstance(rec, dict):
        raise r.fail(where, "an object (frames read and lost) or null", json.dumps(rec))
    losses = []
    for i, item in enumerate(r.get(rec, "losses", where, list)):
        path = f"{where}.losses[{i}]"
        if not isinstance(item, dict):
            raise r.fail(path, "an object with t0, t1, frames, source", json.dumps(item))
        losses.append(
            FrameLoss(
                r.number(item, "t0", path),
                r.number(item, "t1", path),
                r.get(item, "frames", path, int),
                r.get(item, "source", path, str),
                r.get(item, "bus", path, str) if "bus" in item else None,
            )
        )
    buses = rec.get("buses", {})
    if not isinstance(buses, dict):
        raise r.fail(f"{where}.buses", "an object {bus name: receive report}", json.dumps(buses))
    buffer = r.get(rec, "receive_buffer", where, int, type(None))
    return ReceiveReport(
        reader=r.get(rec, "reader", where, str),
        frames=r.get(rec, "frames", where, int),
        lost=r.get(rec, "lost", where, int),
        counters=tuple(str(c) for c in r.get(rec, "overrun_counters", where, list)),
        receive_buffer=buffer,
        losses=tuple(losses),
        buses={
            str(name): _receive_report(r, report, f"{where}.buses.{name}")
            for name, report in buses.items()
        },
    )


def _seed(r: _Reader, data: Mapping[str, Any]) -> int | None:
    seed = data.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise r.fail("seed", "an integer or null", json.dumps(seed))
    return seed


def _selection(r: _Reader, data: Mapping[str, Any]) -> tuple[str, ...] | None:
    chosen = data.get("selected_cases")
    if chosen is None:
        return None
    if not isinstance(chosen, list) or not all(isinstance(c, str) for c in chosen):
        raise r.fail("selected_cases", "a list of case ids or null", json.dumps(chosen))
    return tuple(chosen)


def read_run(folder: Path) -> tuple[dict[str, Any], RunRecord]:
    """``run.json`` of an evidence folder: the raw JSON and the record it holds."""
    path = folder / "run.json"
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder", expected="an evidence folder", got=folder)
    if not path.is_file():
        raise InputError(
            f"{folder} holds no run.json",
            expected="an evidence folder written by 'harness certify'",
            got=folder,
        )
    try:
        raw = json.loads(read_input(path, EVIDENCE_RECORD).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not valid JSON (byte {exc.start} is not UTF-8)") from None
    except ValueError as exc:  # json's message gives the place, never the text
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    return raw, record_from_json(raw, str(path))
