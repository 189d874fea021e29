"""Plain-scalar resolution for the strict YAML loader (:mod:`harness.yamlsafe`).

Plain (unquoted) scalars resolve by the YAML 1.2 core schema. Values that YAML 1.1 (what
PyYAML implements) would read differently, such as ``NO``, ``010``, ``1:30`` or ``1_000``, are
refused with :class:`Ambiguous`, whose message says how to write the value unambiguously.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["Ambiguous", "resolve_plain"]


_NULL = re.compile(r"null|Null|NULL|~|")
_TRUE = re.compile(r"true|True|TRUE")
_FALSE = re.compile(r"false|False|FALSE")
_DEC_INT = re.compile(r"[-+]?[0-9]+")
_OCT_INT = re.compile(r"0o[0-7]+")
_HEX_INT = re.compile(r"0x[0-9a-fA-F]+")
_YAML11_FLOAT = re.compile(r"[-+]?(?:[0-9][0-9_]*)?\.[0-9.]*(?:[eE][-+][0-9]+)?")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)")

# What YAML 1.1 (as PyYAML implements it) reads as something other than a string.
_YAML11_BOOL = re.compile(r"yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|Y|n|N")
_YAML11_SEXAGESIMAL = re.compile(
    r"[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*"
)
_YAML11_NUMBER = re.compile(
    r"""[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+
    |[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?
    |\.[0-9_]+(?:[eE][-+][0-9]+)?""",
    re.VERBOSE,
)


class Ambiguous(Exception):
    """A plain scalar that YAML 1.1 and YAML 1.2 read differently."""


def resolve_plain(text: str) -> Any:
    """Resolve a plain scalar by the YAML 1.2 core schema; raise Ambiguous on 1.1 hazards."""
    if _NULL.fullmatch(text):
        return None
    if _TRUE.fullmatch(text):
        return True
    if _FALSE.fullmatch(text):
        return False
    if _DEC_INT.fullmatch(text):
        digits = text.lstrip("+-")
        if len(digits) > 1 and digits.startswith("0"):
            plain = text[: len(text) - len(digits)] + (digits.lstrip("0") or "0")
            if all(c in "01234567" for c in digits):
                raise Ambiguous(
                    f"ambiguous number '{text}': YAML 1.1 reads it as octal; "
                    f"write {plain}, 0o{digits.lstrip('0') or '0'} or quote it"
                )
            raise Ambiguous(
                f"ambiguous number '{text}': YAML 1.1 reads it as a string; "
                f"write {plain} or quote it"
            )
        try:
            return int(text)
        except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
            raise Ambiguous(f"number '{text[:20]}...' has too many digits; quote it") from None
    if _OCT_INT.fullmatch(text):
        return int(text[2:], 8)
    if _HEX_INT.fullmatch(text):
        return int(text[2:], 16)
    if _FLOAT.fullmatch(text):
        if not _YAML11_FLOAT.fullmatch(text):
            raise Ambiguous(
                f"ambiguous number '{text}': YAML 1.1 reads it as a string (its floats need a "
                "'.' and a signed exponent); write it with a '.' such as "
                f"{_with_point(text)}, or quote it"
            )
        return float(text)
    if _INF.fullmatch(text):
        return float("-inf") if text.startswith("-") else float("inf")
    if _NAN.fullmatch(text):
        return float("nan")
    # The YAML 1.2 core schema reads everything else as a string; refuse what 1.1 would not.
    if _YAML11_BOOL.fullmatch(text):
        raise Ambiguous(
            f"ambiguous value '{text}': YAML 1.1 reads it as a boolean; "
            f'write true/false or quote it ("{text}")'
        )
    if _YAML11_SEXAGESIMAL.fullmatch(text):
        raise Ambiguous(
            f"ambiguous value '{text}': YAML 1.1 reads it as a base-60 number; quote it"
        )
    if _YAML11_NUMBER.fullmatch(text):
        if "_" in text:
            raise Ambiguous(
                f"ambiguous number '{text}': YAML 1.1 reads it as a number with digit "
                f"separators; write {text.replace('_', '')} or quote it"
            )
        if "0b" in text:
            raise Ambiguous(
                f"ambiguous number '{text}': YAML 1.1 reads it as binary; "
                "write it in decimal or hex (0x...) or quote it"
            )
        raise Ambiguous(f"ambiguous number '{text}': YAML 1.1 reads it as a number; quote it")
    return text


def _with_point(text: str) -> str:
    """``1e3`` -> ``1.0e+3``: the same number in a form YAML 1.1 and 1.2 both read."""
    mantissa, _, exponent = text.lower().partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    if exponent and exponent[0] not in "+-":
        exponent = "+" + exponent
    return mantissa + (f"e{exponent}" if exponent else "")
