"""Turn pydantic validation errors into located, one-line input errors.

pydantic reports a location such as ``('cases', 0, 'steps', 2, 'observe', 'checks', 0,
'cycle_time', 'max')``, where ``observe`` and ``cycle_time`` are union tags, not keys of the
document. :func:`located_error` walks the model classes along that location to tell tags
from keys, finds the allowed keys for an unknown one, and points at ``file:line:col``.

Messages speak the profile's language, not pydantic's: ``expected an integer, but got text
'500000'``, ``expected text, but got a list of 2 items``; a value that several types may take
(a number or a value-table name) gives one message, not one per type.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from harness.errors import InputError
from harness.yamlsafe import YamlDocument

__all__ = ["TaggedUnions", "describe_value", "located_error"]

# For each discriminated union: tag -> member model. Filled by the caller (profile, bench).
TaggedUnions = dict[str, dict[str, type[BaseModel]]]

_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "int_from_float": "an integer",
    "finite_number": "a finite number",
}

_BOUNDS = {
    "greater_than_equal": ">=",
    "greater_than": ">",
    "less_than_equal": "<=",
    "less_than": "<",
}

# Patterns of the profile models, in words.
_PATTERNS = {
    r"^[A-Za-z0-9][A-Za-z0-9._-]*$": "a name of letters, digits, '.', '_' and '-' "
    "(starting with a letter or digit, no spaces)",
    r"^[0-9]+(\.[0-9]+)*([-+][A-Za-z0-9.]+)?$": "a version such as 1.0.0 or 2.1-rc1",
    r"^[0-9A-Fa-f ]*$": "hex bytes such as '01 02 FF'",
    r"^[0-9a-f]{64}$": "a sha256: 64 lower-case hex digits",
}


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _items(n: int) -> str:
    return f"{n} item" if n == 1 else f"{n} items"


def describe_value(value: Any) -> str:
    """A found value in words for a message: scalars quoted, containers described."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        if not value:
            return "an empty mapping"
        keys = ", ".join(map(str, list(value)[:6])) + (", ..." if len(value) > 6 else "")
        return f"a mapping with keys {keys}"
    if isinstance(value, (list, tuple)):
        return f"a list of {_items(len(value))}" if value else "an empty list"
    return f"'{_short(str(value))}'"


def describe_shape(value: Any) -> str:
    """What a value is, never what it says: for a whole file that is not of the expected kind
    (a secret file given as a profile must not be quoted back)."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a text (not quoted here: the file may not be meant to be read)"
    return describe_value(value)


_NOT_TEXT = frozenset(_EXPECTED.values()) - {"text"}


def _found(value: Any, expected: str) -> str:
    """What was found, worded against what was expected (text vs number mix-ups)."""
    wants = expected.split(" or ")
    if isinstance(value, str) and "text" not in wants and any(w in _NOT_TEXT for w in wants):
        return f"text '{_short(value)}'"
    if expected == "text" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"the number {value} (quote it if you mean text)"
    if expected == "text" and isinstance(value, bool):
        return f"{describe_value(value)} (quote it if you mean text)"
    return describe_value(value)


def _bound(value: object) -> str:
    """A bound or integer value; large integers (identifiers, IDs) also in hex."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 0xFFFF:
        return f"{value} (0x{value:X})"
    return str(value)


def _unwrap(tp: Any) -> list[Any]:
    """The concrete alternatives of an annotation (Optional, Annotated, Union peeled)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(tp):
            if arg is not type(None):
                out.extend(_unwrap(arg))
        return out
    return [tp]


def _field_type(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return None


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _takes_key(alternatives: list[Any], part: str | int) -> bool:
    """Whether some alternative can hold ``part`` as a key or index."""
    for alt in alternatives:
        origin = typing.get_origin(alt)
        if isinstance(alt, type) and issubclass(alt, BaseModel):
            if isinstance(part, str) and _field_type(alt, part) is not None:
                return True
        elif origin in (list, tuple) or alt in (list, tuple):
            if isinstance(part, int):
                return True
        elif (origin is dict or alt is dict) and isinstance(part, str):
            return True
    return False


def _walk(
    root: type[BaseModel], loc: Sequence[str | int], unions: TaggedUnions
) -> tuple[list[str | int], Any]:
    """Document path for ``loc`` (tags dropped) and the type expected at its end."""
    path: list[str | int] = []
    current: Any = root
    for part in loc:
        alternatives = _unwrap(current) if current is not None else []
        models = [a for a in alternatives if isinstance(a, type) and issubclass(a, BaseModel)]
        # A union tag: pick the member it names, do not add it to the document path.
        # A registry-validated value (a check: harness.checks.spec) is typed as the members'
        # base model; its tag names a member subclass.
        if isinstance(part, str) and models:
            member = None
            for table in unions.values():
                cand = table.get(part)
                if cand is not None and (
                    (len(models) > 1 and cand in models)
                    or any(issubclass(cand, m) and cand is not m for m in models)
                ):
                    member = cand
                    break
            if member is not None:
                current = member
                continue
        # A member tag of a plain union (int | float | str): pydantic's, not the document's.
        if isinstance(part, str) and len(alternatives) > 1 and not _takes_key(alternatives, part):
            continue
        path.append(part)
        nxt: Any = None
        for alt in alternatives:
            origin = typing.get_origin(alt)
            args = typing.get_args(alt)
            if isinstance(alt, type) and issubclass(alt, BaseModel) and isinstance(part, str):
                nxt = _field_type(alt, part)
            elif origin in (list, tuple) and isinstance(part, int):
                nxt = args[0] if args else None
            elif origin is dict and isinstance(part, str):
                nxt = args[1] if len(args) > 1 else None
            if nxt is not None:
                break
        current = nxt
    return path, current


def _value_at(data: Any, path: Sequence[str | int]) -> Any:
    """The document's value at ``path``, or None where the path does not lead."""
    for part in path:
        inside = (isinstance(data, dict) and part in data) or (
            isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        )
        if not inside:
            return None
        data = data[part]
    return data


def _said(
    doc: YamlDocument,
    cls: type[InputError],
    path: Sequence[str | int],
    expected: str,
    found: str,
    choices: Sequence[str] | None = None,
) -> InputError:
    """An error worded 'expected X, but got Y' with Y already in words."""
    return doc.error(cls, path, message=f"expected {expected}, but got {found}", choices=choices)


def _hint(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=2, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _one(
    err: ErrorDetails,
    doc: YamlDocument,
    root: type[BaseModel],
    unions: TaggedUnions,
    cls: type[InputError],
) -> InputError:
    loc = list(err["loc"])
    etype = err["type"]
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    value = err.get("input")
    if etype == "extra_forbidden":
        parent_path, parent_type = _walk(root, loc[:-1], unions)
        models = [
            m for m in _unwrap(parent_type) if isinstance(m, type) and issubclass(m, BaseModel)
        ]
        choices = _keys_of(models[0]) if models else []
        path = [*parent_path, loc[-1]]
        mark = doc.key_marks.get(tuple(path))
        error = doc.error(
            cls,
            path,
            message=f"unknown key '{loc[-1]}'{_hint(str(loc[-1]), choices)}",
            choices=choices,
        )
        if mark is not None:
            error.line, error.col = mark.line, mark.col
            error.args = (error.render(),)
        return error
    path, _ = _walk(root, loc, unions)
    if etype == "missing":
        return doc.error(cls, path[:-1], message=f"missing required key '{path[-1]}'")
    if etype in ("union_tag_invalid", "union_tag_not_found"):
        tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",") if t.strip()]
        if ctx.get("discriminator") == "'kind'":
            kinds = tags or list(unions.get("check", {}))
            if etype == "union_tag_not_found":
                return doc.error(
                    cls, path, message="missing required key 'kind' (the check kind)", choices=kinds
                )
            tag = _value_at(doc.data, [*path, "kind"])
            if tag is None:
                tag = ctx.get("tag")
            if isinstance(tag, str):
                found = f"'{_short(tag)}'{_hint(tag, kinds)}"
            else:
                found = describe_value(tag)
            return _said(doc, cls, [*path, "kind"], "a known check kind", found, kinds)
        actions = sorted(unions.get("step", {})) or tags
        if not isinstance(value, dict):
            return _said(doc, cls, path, "a step mapping such as 'wait: 1 s'", _found(value, ""))
        found_actions = [a for a in actions if a in value]
        if found_actions:
            got = f"{len(found_actions)}: {', '.join(found_actions)} (split them into steps)"
        else:
            got = "none (keys: " + ", ".join(map(str, value)) + ")" if value else "none"
        return _said(doc, cls, path, "exactly one action per step", got, actions)
    if etype == "literal_error":
        expected = f"one of {ctx.get('expected')}"
        return _said(doc, cls, path, expected, _found(value, expected))
    if etype in _EXPECTED:
        return _said(doc, cls, path, _EXPECTED[etype], _found(value, _EXPECTED[etype]))
    if etype in _BOUNDS:
        bound = next(iter(ctx.values()), "")
        return _said(doc, cls, path, f"a value {_BOUNDS[etype]} {_bound(bound)}", _bound(value))
    if etype in ("too_short", "too_long"):
        which = "at least" if etype == "too_short" else "at most"
        n = int(ctx.get("min_length", ctx.get("max_length", 0)))
        return _said(doc, cls, path, f"{which} {_items(n)}", describe_value(value))
    if etype in ("string_too_short", "string_too_long"):
        which = "at least" if etype == "string_too_short" else "at most"
        length = ctx.get("min_length", ctx.get("max_length"))
        found = f"{describe_value(value)} ({len(str(value))} characters)"
        return _said(doc, cls, path, f"text of {which} {length} characters", found)
    if etype == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern"))
        expected = _PATTERNS.get(pattern, f"text matching {pattern}")
        return _said(doc, cls, path, expected, describe_value(value))
    if etype == "value_error":
        text = str(ctx.get("error", err["msg"]))
        if text.startswith("expected "):
            return _said(doc, cls, path, text[len("expected ") :], _found(value, text))
        return doc.error(cls, path, message=text)
    return doc.error(cls, path, message=err["msg"], got=None)


def _merge_unions(
    errors: list[ErrorDetails], root: type[BaseModel], unions: TaggedUnions
) -> list[tuple[ErrorDetails, list[str]]]:
    """Fold the per-type errors of one value of a plain union (int | float | str) into one.

    Each error comes with the types its value may take (empty for other errors).
    """
    out: list[tuple[ErrorDetails, list[str]]] = []
    seen: dict[tuple[str | int, ...], int] = {}
    for err in errors:
        if err["type"] not in _EXPECTED:
            out.append((err, []))
            continue
        key = tuple(_walk(root, list(err["loc"]), unions)[0])
        want = _EXPECTED[err["type"]]
        if key not in seen:
            seen[key] = len(out)
            out.append((err, [want]))
        elif want not in out[seen[key]][1]:
            out[seen[key]][1].append(want)
    return out


def _drop_explained(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop a missing key that an unknown key beside it misspells (``signall`` for ``signal``).

    The unknown key's message suggests the right name, which explains both problems.
    """
    unknown: dict[tuple[str | int, ...], list[str]] = {}
    for err in errors:
        if err["type"] == "extra_forbidden" and err["loc"]:
            unknown.setdefault(tuple(err["loc"][:-1]), []).append(str(err["loc"][-1]))
    kept = []
    for err in errors:
        if err["type"] == "missing" and err["loc"]:
            typos = unknown.get(tuple(err["loc"][:-1]), [])
            if difflib.get_close_matches(str(err["loc"][-1]), typos, n=1, cutoff=0.6):
                continue
        kept.append(err)
    return kept


def _expand_nested(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Errors of a value validated by a registry's model, put back in place.

    A check's params are validated against the check registry at load time
    (:mod:`harness.checks.spec`); its errors arrive as one ``value_error`` whose exception
    carries ``tag`` (the kind) and ``nested_errors`` (relative to the check). They continue
    the outer location through the tag, as a discriminated union's would.
    """
    out: list[ErrorDetails] = []
    for err in errors:
        inner = (err.get("ctx") or {}).get("error")
        nested = getattr(inner, "nested_errors", None)
        if err["type"] != "value_error" or nested is None:
            out.append(err)
            continue
        for sub in nested:
            moved = dict(sub)
            moved["loc"] = (*err["loc"], getattr(inner, "tag", ""), *sub["loc"])
            out.append(moved)  # type: ignore[arg-type]
    return out


def located_error(
    exc: ValidationError,
    doc: YamlDocument,
    root: type[BaseModel],
    unions: TaggedUnions,
    cls: type[InputError],
) -> InputError:
    """The first error of ``exc`` as a located input error, counting the rest."""
    located: list[InputError] = []
    errors = _expand_nested(exc.errors())
    for err, wants in _merge_unions(_drop_explained(errors), root, unions):
        if len(wants) > 1:
            if "a number" in wants and "an integer" in wants:
                wants.remove("an integer")
            expected = " or ".join(wants)
            path, _ = _walk(root, list(err["loc"]), unions)
            located.append(_said(doc, cls, path, expected, _found(err.get("input"), expected)))
        else:
            located.append(_one(err, doc, root, unions, cls))
    # The first problem in the file, deepest first where several start at one place.
    located.sort(key=lambda e: (e.line or 0, e.col or 0, -len(e.path or "")))
    first = located[0]
    if len(located) > 1:
        first.args = (f"{first.render()} [and {len(located) - 1} more problem(s)]",)
    return first
