"""Turn pydantic validation errors into located, one-line input errors.

pydantic reports a location such as ``('cases', 0, 'steps', 2, 'observe', 'checks', 0,
'cycle_time', 'max')``, where ``observe`` and ``cycle_time`` are union tags, not keys of the
document. :func:`located_error` walks the model classes along that location to tell tags
from keys, finds the allowed keys for an unknown one, and points at ``file:line:col``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from harness.errors import InputError
from harness.yamlsafe import YamlDocument

__all__ = ["TaggedUnions", "located_error"]

# For each discriminated union: tag -> member model. Filled by the caller (profile, bench).
TaggedUnions = dict[str, dict[str, type[BaseModel]]]

_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "text",
    "bool_type": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "int_from_float": "an integer",
    "finite_number": "a finite number",
}


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
        if isinstance(part, str) and len(models) > 1:
            member = None
            for table in unions.values():
                cand = table.get(part)
                if cand is not None and cand in models:
                    member = cand
                    break
            if member is not None:
                current = member
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


def _got(value: Any) -> object:
    if isinstance(value, dict):
        return "a mapping with " + ", ".join(map(str, list(value)[:6]))
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return value


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
        error = doc.error(cls, path, message=f"unknown key '{loc[-1]}'", choices=choices)
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
            if etype == "union_tag_not_found":
                return doc.error(cls, path, message="a check needs 'kind'", choices=tags)
            return doc.error(
                cls, [*path, "kind"], expected="a known check kind", got=ctx.get("tag"),
                choices=tags,
            )
        tags = tags or sorted(next(iter(unions.values()), {}))
        actions = sorted(unions.get("step", {}))
        found = ctx.get("tag")
        if etype == "union_tag_not_found" and not isinstance(value, dict):
            return doc.error(cls, path, expected="a step mapping", got=_got(value))
        return doc.error(
            cls,
            path,
            expected="exactly one action per step",
            got=(str(found).replace("+", ", ") if found else _got(value)),
            choices=actions,
        )
    if etype == "literal_error":
        return doc.error(cls, path, expected=f"one of {ctx.get('expected')}", got=value)
    if etype in _EXPECTED:
        return doc.error(cls, path, expected=_EXPECTED[etype], got=_got(value))
    if etype in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sym = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=",
               "less_than": "<"}[etype]
        bound = next(iter(ctx.values()), "")
        return doc.error(cls, path, expected=f"a value {sym} {bound}", got=value)
    if etype in ("too_short", "too_long"):
        which = "at least" if etype == "too_short" else "at most"
        n = ctx.get("min_length", ctx.get("max_length"))
        return doc.error(cls, path, expected=f"{which} {n} item(s)", got=_got(value))
    if etype == "string_pattern_mismatch":
        return doc.error(
            cls, path, expected=f"text matching {ctx.get('pattern')}", got=value
        )
    if etype == "value_error":
        text = str(ctx.get("error", err["msg"]))
        if text.startswith("expected "):
            return doc.error(cls, path, expected=text[len("expected "):], got=_got(value))
        return doc.error(cls, path, message=text)
    return doc.error(cls, path, message=err["msg"], got=None)


def located_error(
    exc: ValidationError,
    doc: YamlDocument,
    root: type[BaseModel],
    unions: TaggedUnions,
    cls: type[InputError],
) -> InputError:
    """The first error of ``exc`` as a located input error, counting the rest."""
    located = [_one(err, doc, root, unions, cls) for err in exc.errors()]
    # The first problem in the file, deepest first where several start at one place.
    located.sort(key=lambda e: (e.line or 0, e.col or 0, -len(e.path or "")))
    first = located[0]
    if len(located) > 1:
        first.args = (f"{first.render()} [and {len(located) - 1} more problem(s)]",)
    return first
