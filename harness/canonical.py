"""Canonical JSON: one byte form per value, and a strict parser that accepts nothing else.

Signed documents (certificates) and the files they pin (the evidence manifest) are only
worth their signature if a reader cannot be shown something the signer never wrote. The
standard library's parser is lenient in ways that matter here: it keeps the last of two
duplicate keys, accepts ``NaN`` and ``Infinity``, and takes any whitespace. So:

- :func:`canonical_json` writes keys sorted, no whitespace, ASCII only (``\\uXXXX``
  escapes), no NaN; it is the only form the harness signs;
- :func:`strict_loads` parses UTF-8 JSON but rejects duplicate keys, ``NaN``/``Infinity``,
  floats (no signed document of ours holds one), a byte-order mark and trailing data,
  each with a :class:`JsonRejected` that says which.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["JsonRejected", "canonical_json", "strict_loads"]


class JsonRejected(ValueError):
    """Bytes that are not strict JSON; the message says why (and ``truncated`` if so)."""

    def __init__(self, message: str, *, truncated: bool = False) -> None:
        super().__init__(message)
        self.truncated = truncated


def canonical_json(value: Any) -> bytes:
    """The one byte form of ``value``: sorted keys, compact separators, ASCII, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JsonRejected(f"duplicate key '{key}'")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise JsonRejected(f"'{name}' is not a JSON number")


def _no_float(text: str) -> Any:
    raise JsonRejected(f"unexpected fractional number {text} (only integers are allowed)")


def strict_loads(data: bytes) -> Any:
    """Parse ``data`` as strict JSON (see the module docstring), or raise JsonRejected."""
    if not data:
        raise JsonRejected("the file is empty", truncated=True)
    if data.startswith(b"\xef\xbb\xbf"):
        raise JsonRejected("starts with a byte-order mark")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonRejected(f"not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_float=_no_float,
        )
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            raise JsonRejected(f"trailing data after the JSON value at char {exc.pos}") from None
        truncated = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated")
        what = "truncated: the JSON ends early" if truncated else "not valid JSON"
        raise JsonRejected(
            f"{what} ({exc.msg} at line {exc.lineno} column {exc.colno})", truncated=truncated
        ) from None
    except RecursionError:
        raise JsonRejected("nested too deeply") from None
