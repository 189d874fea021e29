"""Payload codecs: ASN.1 UPER (asn1tools, constraints checked both ways), JSON with a JSON
Schema, and plain text.

A payload that does not decode is not an exception for the caller: :meth:`Codec.decode`
returns ``(None, "why")``, the log keeps the error beside the raw bytes, and a check that
meets it fails. Decoded UPER values are normalised for checks and reports: an OCTET STRING
becomes upper-case hex text (``id``: ``"0C0FFEE1"``) and a BIT STRING with named bits a dict
of booleans (``events``: ``{"hardBraking": True, "vehDataFault": False}``).
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any, Protocol

from harness.errors import InputError
from harness.mqtt import valid_cache
from harness.mqtt.uper_fixed import FixedLayout, fixed_layout
from harness.safeio import ASN1, ParseTimeout, decode_text, parse_deadline, read_input

__all__ = ["Asn1Module", "Codec", "JsonCodec", "TextCodec", "UperCodec", "load_asn1"]


class Codec(Protocol):
    name: str

    def decode(self, payload: bytes) -> tuple[Any, str | None]: ...


@functools.cache
def _import_asn1tools() -> Any:
    """asn1tools (imported when first needed), without loading prompt_toolkit for its
    interactive shell (which the harness never opens): that is half of asn1tools' import time.
    A ``None`` in ``sys.modules`` makes that one optional import fail, as if it were not
    installed; it is removed again at once, so prompt_toolkit stays importable for others.
    """
    if "asn1tools" in sys.modules or "prompt_toolkit" in sys.modules:
        import asn1tools

        return asn1tools
    sys.modules["prompt_toolkit"] = None  # type: ignore[assignment]
    try:
        import asn1tools
    finally:
        del sys.modules["prompt_toolkit"]
    return asn1tools


def __getattr__(name: str) -> Any:
    if name == "asn1tools":  # the module attribute it used to be, imported on first use
        return _import_asn1tools()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Asn1Module:
    """A compiled ASN.1 module (UPER) and what its types' members are.

    A module whose exact text compiled before with the same asn1tools
    (:mod:`harness.mqtt.valid_cache`) is not compiled again to be loaded: its types come from
    the cache and :attr:`spec` is compiled when first used (:meth:`ready` compiles it now,
    before a run's timing matters).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._spec: Any = None
        self._text, parsed = _load_module(path)
        if self._text is None:  # compiled just now
            self._spec, parsed = parsed
        self.types: dict[str, dict[str, Any]] = {}
        for module in parsed.values():
            for name, t in module.get("types", {}).items():
                self.types[name] = t
        # per type: integer ranges to check, and members to normalise after decoding
        self._ranges: dict[str, tuple[tuple[str, int, int], ...]] = {}
        self._octets: dict[str, tuple[str, ...]] = {}
        self._bits: dict[str, tuple[tuple[str, tuple[tuple[str, int], ...]], ...]] = {}
        # per type: the fast decoder of a fixed-layout SEQUENCE (the BSM), when it is one
        self._fixed: dict[str, FixedLayout] = {}
        for name, t in self.types.items():
            layout = fixed_layout(t)
            if layout is not None:
                self._fixed[name] = layout
            members = t.get("members", []) or []
            self._ranges[name] = tuple(
                (m["name"], int(r[0]), int(r[1]))
                for m in members
                if m["type"] == "INTEGER" and len(m.get("restricted-to") or ()) == 1
                for r in m["restricted-to"]
                if isinstance(r, (list, tuple)) and len(r) == 2
            )
            self._octets[name] = tuple(m["name"] for m in members if m["type"] == "OCTET STRING")
            self._bits[name] = tuple(
                (m["name"], tuple((b, int(pos)) for b, pos in m["named-bits"]))
                for m in members
                if m["type"] == "BIT STRING" and m.get("named-bits")
            )

    @property
    def spec(self) -> Any:
        """The asn1tools UPER specification (compiled on first use when loaded from cache)."""
        if self._spec is None:
            assert self._text is not None
            self._spec, _ = _compile_text(self._text, str(self.path))
        return self._spec

    def ready(self) -> None:
        """Compile the specification now, if it is not yet (a run does so before it starts)."""
        _ = self.spec

    def members(self, type_name: str) -> list[str]:
        return [m["name"] for m in self.types[type_name].get("members", []) or []]

    def named_bits(self, type_name: str, member: str) -> list[str]:
        for name, bits in self._bits.get(type_name, ()):
            if name == member:
                return [b for b, _ in bits]
        return []

    def encode(self, type_name: str, value: dict[str, Any]) -> bytes:
        """UPER with constraints checked (asn1tools encodes out-of-range silently otherwise);
        a fixed-layout type's plainly valid value by shifting (harness.mqtt.uper_fixed)."""
        fixed = self._fixed.get(type_name)
        if fixed is not None:
            quick = fixed.encode(value)
            if quick is not None:
                return quick
        data: bytes = self.spec.encode(type_name, value, check_constraints=True)
        return data

    def decode(self, type_name: str, payload: bytes) -> dict[str, Any]:
        """Decode, constraints checked; ValueError or an asn1tools error when it does not.

        In UPER the only constraints a payload can break are integer ranges whose width
        leaves spare codes (fixed sizes are not even encoded): those are checked here from
        the module, which is what asn1tools' ``check_constraints=True`` checks for these types,
        at a third of its cost per message (see bench/mqtt_throughput.py).
        """
        fixed = self._fixed.get(type_name)
        value: dict[str, Any] = (
            fixed.decode(payload)
            if fixed is not None and len(payload) >= fixed.nbytes
            else self.spec.decode(type_name, payload)
        )
        for member, lo, hi in self._ranges[type_name]:
            v = value.get(member)
            if v is not None and not lo <= v <= hi:
                raise ValueError(
                    f"{type_name}.{member}: expected an integer between {lo} and {hi}, but got {v}"
                )
        for member in self._octets[type_name]:
            raw = value.get(member)
            if isinstance(raw, (bytes, bytearray)):
                value[member] = raw.hex().upper()
        for member, bits in self._bits[type_name]:
            raw = value.get(member)
            if isinstance(raw, tuple):
                octets = raw[0]
                value[member] = {
                    b: bool(octets[pos >> 3] & (0x80 >> (pos & 7))) if pos < raw[1] else False
                    for b, pos in bits
                }
        return value


_SYNTAX_AT = re.compile(r"line (\d+), column (\d+)")


def _load_module(path: Path) -> tuple[str | None, Any]:
    """``(text, parsed)`` of a module whose text compiled before with this asn1tools (the
    spec is compiled later), else ``(None, (spec, parsed))`` compiled now."""
    shown = str(path)
    raw = read_input(path, ASN1)
    text, _ = decode_text(raw, ("utf-8", "cp1252"), ASN1, source=shown)
    library = valid_cache.library_fingerprint("asn1tools")
    known, parsed = valid_cache.recall("asn1", text.encode("utf-8"), library)
    if known and isinstance(parsed, dict):
        return text, parsed
    spec, parsed = _compile_text(text, shown)
    valid_cache.remember("asn1", text.encode("utf-8"), library, parsed)
    return None, (spec, parsed)


def _compile_text(text: str, shown: str) -> tuple[Any, dict[str, Any]]:
    """Parse and compile an ASN.1 module's text under :mod:`harness.safeio`'s policy (parsed
    within 20 s of CPU time). A syntax error names its line and column but never quotes the
    file; a name defined twice is an error, not a warning."""
    asn1tools = _import_asn1tools()
    twice: list[str] = []
    catcher = _Collect(twice)
    logger = logging.getLogger("asn1tools")
    logger.addHandler(catcher)
    propagate, logger.propagate = logger.propagate, False
    try:
        with parse_deadline(ASN1.parse_seconds):
            parsed: dict[str, Any] = asn1tools.parse_string(text)
            spec = asn1tools.compile_dict(copy.deepcopy(parsed), "uper")
    except ParseTimeout:
        raise InputError(
            f"expected an ASN.1 module that compiles within {ASN1.parse_seconds:g} s of CPU "
            "time, but compiling took longer",
            source=shown,
        ) from None
    except asn1tools.ParseError as exc:
        where = _SYNTAX_AT.search(str(exc))
        raise InputError(
            "not a valid ASN.1 module: invalid syntax",
            source=shown,
            line=int(where.group(1)) if where else None,
            col=int(where.group(2)) if where else None,
        ) from None
    except (asn1tools.Error, RecursionError, ValueError, KeyError, TypeError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise InputError(f"not a usable ASN.1 module: {first}", source=shown) from None
    finally:
        logger.removeHandler(catcher)
        logger.propagate = propagate
    if twice:
        raise InputError(f"not a usable ASN.1 module: {twice[0]}", source=shown)
    return spec, parsed


class _Collect(logging.Handler):
    """Keeps asn1tools' 'already defined' warnings (which it otherwise only logs)."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "already defined" in message:
            self.into.append(message.replace("already defined", "is defined twice").rstrip("."))


@functools.lru_cache(maxsize=8)
def load_asn1(path: str) -> Asn1Module:
    return Asn1Module(Path(path))


class UperCodec:
    def __init__(self, module: Asn1Module, type_name: str) -> None:
        self.module = module
        self.type_name = type_name
        self.name = f"uper:{type_name}"
        self._decode = module.decode

    def decode(self, payload: bytes) -> tuple[Any, str | None]:
        try:
            return self._decode(self.type_name, payload), None
        except Exception as exc:  # asn1tools raises several kinds; each is a decode error
            return None, f"{type(exc).__name__}: {exc}"


class JsonCodec:
    """JSON, checked against a JSON Schema when one is given.

    The schema is checked against its metaschema here (``jsonschema.SchemaError`` when it is
    not valid); a schema whose exact canonical text passed before with the same jsonschema
    (:mod:`harness.mqtt.valid_cache`) is not checked again, and its validator is built when
    first used (:meth:`ready` builds it now, before a run's timing matters).
    """

    def __init__(self, schema: dict[str, Any] | None = None) -> None:
        self.name = "json"
        self.schema = schema
        self._validator: Any = None
        if schema is not None:
            try:
                canonical = json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()
            except (TypeError, ValueError):
                canonical = None
            library = valid_cache.library_fingerprint("jsonschema")
            known = (
                canonical is not None and valid_cache.recall("jsonschema", canonical, library)[0]
            )
            if not known:
                self.ready()  # checks the schema: SchemaError when it is not valid
                if canonical is not None:
                    valid_cache.remember("jsonschema", canonical, library, True)

    def ready(self) -> None:
        """Check the schema and build its validator now, if not yet done."""
        if self.schema is None or self._validator is not None:
            return
        import jsonschema  # only for a JSON schema: loading profiles without one stays fast

        cls = jsonschema.validators.validator_for(self.schema)
        cls.check_schema(self.schema)
        self._validator = cls(self.schema)
        self._best_match = jsonschema.exceptions.best_match

    def decode(self, payload: bytes) -> tuple[Any, str | None]:
        try:
            value = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return None, f"not JSON: {exc}"
        if self.schema is not None:
            if self._validator is None:
                self.ready()
            error = self._best_match(self._validator.iter_errors(value))
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path) or "(top)"
                return value, f"schema: {where}: {error.message}"
        return value, None


class TextCodec:
    name = "text"

    def decode(self, payload: bytes) -> tuple[Any, str | None]:
        try:
            return payload.decode("utf-8"), None
        except UnicodeDecodeError as exc:
            return None, f"not UTF-8: {exc}"
