"""Value types shared by profiles and bench files: durations, identifiers, signal values."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictFloat, StrictInt, StrictStr, WithJsonSchema

__all__ = ["CanId", "Duration", "Percent", "SignalValue", "format_duration", "parse_duration"]

_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0}
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(us|µs|ms|s|min)\s*$")


def parse_duration(value: Any) -> float:
    """Seconds from a number (seconds) or a string with a unit: '100 ms', '1.5 s', '2 min'."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '100 ms' or 1.5 (seconds)")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(
                "expected a duration such as '100 ms', '1.5 s' or '2 min' (units: us, ms, s, min)"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError("expected a duration such as '100 ms' or 1.5 (seconds)")
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise ValueError("expected a finite duration of 0 or more")
    return seconds


def format_duration(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.3f} s"
    return f"{seconds * 1000:.3f} ms"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "description": "seconds, or a string with a unit: '100 ms', '1.5 s', '2 min'",
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*(us|µs|ms|s|min)\s*$"},
            ],
        }
    ),
]

CanId = Annotated[StrictInt, Field(ge=0, le=0x1FFFFFFF, description="CAN identifier")]
Percent = Annotated[float, Field(ge=0, le=100)]
SignalValue = StrictInt | StrictFloat | StrictStr
