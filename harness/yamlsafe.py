"""Strict YAML loading for profiles and bench files.

PyYAML's scanner and parser read the text; this module builds the plain Python data itself,
straight from the parser's events, so that:

* scalars resolve by the YAML 1.2 core schema, not PyYAML's YAML 1.1 rules, and plain values
  that YAML 1.1 would read differently (``NO``, ``010``, ``1:30``, ``1_000``) are errors rather
  than silent surprises;
* anchors, aliases, explicit tags and merge keys are refused the moment the parser meets them,
  so an alias bomb ("billion laughs") fails before anything is expanded;
* duplicate keys, non-text keys, empty files and extra documents are errors;
* every node's position is kept, so later validation can point at ``file:line:col path``.

Every problem raises the :class:`~harness.errors.InputError` subclass the caller names; no
PyYAML exception ever escapes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

from harness.errors import InputError
from harness.safeio import YAML, InputKind, ParseTimeout, parse_deadline, read_input
from harness.yamlscalar import Ambiguous, resolve_plain
from harness.yamlsyntax import Mark, mark_at, syntax_message, to_mark

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "Mark",
    "PathKey",
    "YamlDocument",
    "format_path",
    "load_yaml_file",
    "load_yaml_text",
]

MAX_BYTES = 1_048_576
"""Largest file (in bytes) the loader accepts by default."""

MAX_DEPTH = 100
"""Deepest nesting of mappings and sequences the loader accepts."""

_E = TypeVar("_E", bound=InputError)


PathKey = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """Render a data path for humans: ``('cases', 3, 'max')`` -> ``cases[3].max``.

    Keys that are not identifiers are quoted (``a["x y"]``); the empty path is
    ``(document)``.
    """
    if not path:
        return "(document)"
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part.isidentifier():
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{json.dumps(part, ensure_ascii=False)}]")
    return "".join(out)


@dataclass(frozen=True)
class YamlDocument:
    """One loaded YAML document: its plain data and where each node sits in the file."""

    source: str
    data: Any
    marks: dict[PathKey, Mark] = field(default_factory=dict)
    key_marks: dict[PathKey, Mark] = field(default_factory=dict)

    def mark_for(self, path: Sequence[str | int]) -> Mark | None:
        """Best position for path: the exact path if known, else the longest known prefix."""
        key = tuple(path)
        for end in range(len(key), -1, -1):
            mark = self.marks.get(key[:end])
            if mark is not None:
                return mark
        return None

    def error(
        self,
        cls: type[_E],
        path: Sequence[str | int],
        *,
        expected: str | None = None,
        got: object = None,
        choices: Sequence[str] | None = None,
        message: str | None = None,
    ) -> _E:
        """Build (not raise) an error of class cls located at path."""
        mark = self.mark_for(path)
        return cls(
            message,
            source=self.source,
            line=mark.line if mark else None,
            col=mark.col if mark else None,
            path=format_path(path),
            expected=expected,
            got=got,
            choices=choices,
        )


def _display_tag(tag: str) -> str:
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix) :] if tag.startswith(prefix) else tag


# --------------------------------------------------------------------------------------------
# The event walker


class _Reject(Exception):
    """Internal: an input problem at a mark and path, turned into error_cls by the loader."""

    def __init__(
        self,
        mark: Mark | None,
        path: PathKey | None,
        message: str | None = None,
        *,
        expected: str | None = None,
        got: object = None,
    ) -> None:
        super().__init__(message)
        self.mark = mark
        self.path = path
        self.message = message
        self.expected = expected
        self.got = got


class _Collection:
    """An open mapping or sequence on the walker's stack."""

    __slots__ = ("first_line", "items", "key", "path")

    def __init__(self, path: PathKey, items: dict[str | int, Any] | list[Any]) -> None:
        self.path = path
        self.items = items
        self.key: str | int | None = None  # pending key of a mapping entry
        self.first_line: dict[str | int, int] = {}


class _Walker:
    """Builds plain data and marks from PyYAML parser events, without recursion."""

    def __init__(self, text: str, loader: Any = yaml.SafeLoader) -> None:
        self.loader = loader(text)  # may raise ReaderError (bad characters)
        self.marks: dict[PathKey, Mark] = {}
        self.key_marks: dict[PathKey, Mark] = {}
        self.ambiguous: _Reject | None = None  # the first plain value YAML 1.1 reads otherwise

        # PyYAML's stubs leave the parser's event methods untyped.
        self.next_event = cast(Callable[[], Event], self.loader.get_event)
        self.peek_event = cast(Callable[[], Event], self.loader.peek_event)

    def document(self) -> Any:
        event = self.next_event()
        if not isinstance(event, StreamStartEvent):  # pragma: no cover - parser guarantees it
            raise _Reject(to_mark(event.start_mark), None, "expected the start of a YAML stream")
        if isinstance(self.peek_event(), StreamEndEvent):
            raise _Reject(Mark(1, 1), None, _EMPTY)
        event = self.next_event()
        if not isinstance(event, DocumentStartEvent):  # pragma: no cover
            raise _Reject(to_mark(event.start_mark), None, "expected a YAML document")
        first = self.peek_event()
        if (
            isinstance(first, ScalarEvent)
            and not first.style
            and first.value == ""
            and first.tag is None
            and first.anchor is None
        ):
            raise _Reject(to_mark(first.start_mark), None, _EMPTY)
        data = self.node()
        event = self.next_event()
        if not isinstance(event, DocumentEndEvent):  # pragma: no cover
            raise _Reject(to_mark(event.start_mark), None, "expected the end of the document")
        extra = self.peek_event()
        if not isinstance(extra, StreamEndEvent):
            raise _Reject(
                to_mark(extra.start_mark),
                None,
                "expected exactly one YAML document, but got a second document",
            )
        return data

    def check_node(self, event: Event, path: PathKey) -> Mark:
        """Refuse aliases, anchors and explicit tags; return the node's mark."""
        mark = to_mark(event.start_mark)
        if isinstance(event, AliasEvent):
            raise _Reject(
                mark,
                path,
                f"aliases are not allowed (got '*{event.anchor}'); write the value out",
            )
        if isinstance(event, NodeEvent) and event.anchor is not None:
            raise _Reject(
                mark,
                path,
                f"anchors are not allowed (got '&{event.anchor}'); write the value out",
            )
        tag = getattr(event, "tag", None)
        if isinstance(event, (ScalarEvent, CollectionStartEvent)) and tag is not None:
            raise _Reject(
                mark,
                path,
                f"expected a plain value, but got tag '{_display_tag(tag)}'; "
                "explicit tags are not allowed",
            )
        return mark

    def scalar(self, event: ScalarEvent, mark: Mark, path: PathKey) -> Any:
        if event.style:  # quoted or block scalar (plain: None, or "" from libyaml)
            return event.value
        try:
            return resolve_plain(event.value)
        except Ambiguous as exc:
            # Kept, not raised yet: the message quotes the value, which it may only do once
            # the file is known to be of the kind the caller expects (see load_yaml_text).
            if self.ambiguous is None:
                self.ambiguous = _Reject(mark, path, str(exc))
            return event.value

    def node(self) -> Any:
        stack: list[_Collection] = []
        while True:
            event = self.next_event()
            top = stack[-1] if stack else None

            # Closing a collection.
            if isinstance(event, (MappingEndEvent, SequenceEndEvent)):
                assert top is not None
                stack.pop()
                value: Any = top.items
            # A mapping key.
            elif top is not None and isinstance(top.items, dict) and top.key is None:
                self.key(event, top)
                continue
            # A value node: root, sequence item or mapping value.
            else:
                if top is None:
                    path: PathKey = ()
                elif isinstance(top.items, list):
                    path = (*top.path, len(top.items))
                else:
                    assert top.key is not None
                    path = (*top.path, top.key)
                mark = self.check_node(event, path)
                self.marks[path] = mark
                if isinstance(event, ScalarEvent):
                    value = self.scalar(event, mark, path)
                elif isinstance(event, (MappingStartEvent, SequenceStartEvent)):
                    if len(stack) >= MAX_DEPTH:
                        raise _Reject(
                            mark, path, f"nesting deeper than {MAX_DEPTH} levels is not allowed"
                        )
                    items: dict[str | int, Any] | list[Any] = (
                        {} if isinstance(event, MappingStartEvent) else []
                    )
                    stack.append(_Collection(path, items))
                    continue
                else:  # pragma: no cover - the parser emits nothing else here
                    raise _Reject(mark, path, "unexpected YAML event")

            # Attach the finished value to its parent.
            if not stack:
                return value
            parent = stack[-1]
            if isinstance(parent.items, list):
                parent.items.append(value)
            else:
                assert parent.key is not None
                parent.items[parent.key] = value
                parent.key = None

    def key(self, event: Event, mapping: _Collection) -> None:
        assert isinstance(mapping.items, dict)
        mark = to_mark(event.start_mark)
        self.check_node(event, mapping.path)
        if not isinstance(event, ScalarEvent):
            kind = "a mapping" if isinstance(event, MappingStartEvent) else "a sequence"
            raise _Reject(mark, mapping.path, f"expected a text key, but got {kind}")
        if not event.style and event.value == "<<":
            raise _Reject(
                mark,
                mapping.path,
                "merge keys ('<<') are not allowed; write the keys out",
            )
        key = self.scalar(event, mark, mapping.path)
        if not isinstance(key, (str, int)) or isinstance(key, bool):
            raise _Reject(
                mark, mapping.path, expected="a text key", got=event.value if event.value else None
            )
        path = (*mapping.path, key)
        if key in mapping.first_line:
            raise _Reject(
                mark,
                path,
                f"duplicate key '{key}' (first at line {mapping.first_line[key]})",
            )
        mapping.first_line[key] = mark.line
        mapping.key = key
        self.key_marks[path] = mark


_EMPTY = "expected a YAML mapping (one document), but got an empty document"

# --------------------------------------------------------------------------------------------
# Public entry points


def _raise(
    error_cls: type[InputError],
    source: str,
    mark: Mark | None,
    message: str | None = None,
    *,
    path: PathKey | None = None,
    expected: str | None = None,
    got: object = None,
) -> InputError:
    return error_cls(
        message,
        source=source,
        line=mark.line if mark else None,
        col=mark.col if mark else None,
        path=format_path(path) if path is not None else None,
        expected=expected,
        got=got,
    )


def _decode(data: bytes, source: str, error_cls: type[InputError]) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        prefix = data[: exc.start].decode("utf-8-sig", errors="replace")
        bad = data[exc.start : exc.start + 1].hex().upper()
        raise _raise(
            error_cls,
            source,
            mark_at(prefix, len(prefix)),
            f"expected UTF-8 text, but found byte 0x{bad} that is not valid UTF-8",
        ) from None


# libyaml's parser (PyYAML's C extension) when built: several times faster on a profile,
# same events and marks; plain scalars have style "" there instead of None.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _walk(text: str, loader: Any) -> tuple[_Walker, Any]:
    walker = _Walker(text, loader)
    try:
        return walker, walker.document()
    finally:
        walker.loader.dispose()


def load_yaml_text(
    text: str | bytes,
    source: str,
    *,
    error_cls: type[InputError] = InputError,
    max_bytes: int = MAX_BYTES,
    kind_marker: tuple[str, str] | None = None,
) -> YamlDocument:
    """Load exactly one strict YAML document from text (str, or bytes in UTF-8).

    source is the display name used in error messages. Raises error_cls for every problem.
    With ``kind_marker`` (key, value), such as ``("format", "cc-harness-profile/1")``, an
    ambiguous plain value is reported (quoted) only in a document whose top-level mapping has
    that key and value; any other document is returned as read, for the caller to refuse
    without quoting a file that is not of its kind.
    """
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise _raise(
            error_cls, source, None, f"expected at most {max_bytes} bytes, but got {size} bytes"
        )
    if isinstance(text, bytes):
        text = _decode(text, source, error_cls)

    try:
        with parse_deadline(YAML.parse_seconds):
            try:
                walker, data = _walk(text, _FAST_LOADER)
            except yaml.YAMLError:
                # libyaml words some syntax errors its own way and stops at its own nesting
                # limit: read the text again with PyYAML's Python parser for the messages users
                # know.
                walker, data = _walk(text, yaml.SafeLoader)
    except ParseTimeout:
        raise _raise(
            error_cls,
            source,
            None,
            f"expected YAML that parses within {YAML.parse_seconds:g} s of CPU time, but "
            "parsing took longer",
        ) from None
    except _Reject as exc:
        raise _raise(
            error_cls,
            source,
            exc.mark,
            exc.message,
            path=exc.path,
            expected=exc.expected,
            got=exc.got,
        ) from None
    except yaml.MarkedYAMLError as exc:
        where = exc.problem_mark or exc.context_mark
        problem = syntax_message(exc)
        raise _raise(error_cls, source, to_mark(where) if where else None, problem) from None
    except yaml.reader.ReaderError as exc:
        raise _raise(
            error_cls,
            source,
            mark_at(text, exc.position),
            f"unacceptable character #x{exc.character:04X}: {exc.reason}"
            if isinstance(exc.character, int)
            else f"unacceptable input: {exc.reason}",
        ) from None
    except (yaml.YAMLError, RecursionError, MemoryError) as exc:  # pragma: no cover - safety net
        raise _raise(error_cls, source, None, f"could not read YAML: {exc}") from None
    found = walker.ambiguous
    if found is not None and (
        kind_marker is None
        or (isinstance(data, dict) and data.get(kind_marker[0]) == kind_marker[1])
    ):
        raise _raise(error_cls, source, found.mark, found.message, path=found.path)
    return YamlDocument(source, data, walker.marks, walker.key_marks)


def load_yaml_file(
    path: str | os.PathLike[str],
    *,
    error_cls: type[InputError] = InputError,
    max_bytes: int = MAX_BYTES,
    display: str | None = None,
    kind: InputKind = YAML,
    kind_marker: tuple[str, str] | None = None,
) -> YamlDocument:
    """Load exactly one strict YAML document from a file.

    display is the name shown in messages (default: path as given). The file is read under
    :mod:`harness.safeio`'s policy (a regular file, at most max_bytes). Raises error_cls for
    every problem, including a missing, special, unreadable or oversized file.
    """
    source = display if display is not None else os.fspath(path)
    data = read_input(path, kind, error_cls=error_cls, display=source, max_bytes=max_bytes)
    return load_yaml_text(
        data, source, error_cls=error_cls, max_bytes=max_bytes, kind_marker=kind_marker
    )
