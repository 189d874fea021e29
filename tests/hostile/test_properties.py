"""Property tests of the readers a hostile file meets first: YAML, DBC and ASN.1.

Laws: arbitrary bytes either load or raise the reader's :class:`~harness.errors.InputError`
(never another exception, so never a traceback at the CLI), and arbitrary *structurally
valid* documents load and mean what they say (YAML round-trips through PyYAML's emitter;
a generated DBC's messages and signals come back; a generated ASN.1 module's types come
back, and encode and decode). Hangs are bounded by the readers' own parse deadline
(:func:`harness.safeio.parse_deadline`), which one test shows firing.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.can.dbc import load_dbc
from harness.errors import DbcError, InputError, ProfileError
from harness.mqtt.codec import Asn1Module
from harness.safeio import ParseTimeout, parse_deadline
from harness.yamlsafe import load_yaml_text
from tests.conftest import DBC as SHIPPED_DBC

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Compiling ASN.1 (pyparsing) and DBC (textparser) costs more per example: fewer of them.
SLOW = settings(SETTINGS, max_examples=40)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="cc-props-") as where:
        yield Path(where)


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


# -- YAML ----------------------------------------------------------------------------------------
@SETTINGS
@given(st.binary(max_size=4000))
def test_yaml_arbitrary_bytes_load_or_raise_input_error(data: bytes) -> None:
    try:
        load_yaml_text(data, "x.yaml", error_cls=ProfileError)
    except ProfileError as exc:
        assert str(exc).startswith("x.yaml")


@SETTINGS
@given(st.text(max_size=2000))
def test_yaml_arbitrary_text_loads_or_raises_input_error(text: str) -> None:
    with contextlib.suppress(ProfileError):
        load_yaml_text(text, "x.yaml", error_cls=ProfileError)


# Line and paragraph separators and control characters are left out: PyYAML's own emitter
# and scanner disagree on them (a quoted '\x85' comes back as a space), whatever the loader.
_TEXT = st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"))
_keys = st.text(
    alphabet=_TEXT,
    min_size=1,
    max_size=12,
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False)
    | st.text(alphabet=_TEXT, max_size=20)
)
_documents = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=30,
)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isinf(a) and math.isinf(b) and (a > 0) == (b > 0))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@SETTINGS
@given(_documents, st.sampled_from([False, True]))
def test_yaml_emitted_documents_round_trip(data: Any, flow: bool) -> None:
    """What PyYAML's emitter writes (quoting what YAML 1.1 would misread) loads back equal,
    or is refused with an InputError (an empty document, a float YAML 1.1 spells oddly)."""
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True, sort_keys=False)
    try:
        doc = load_yaml_text(text, "x.yaml", error_cls=ProfileError)
    except ProfileError:
        return
    assert _same(doc.data, data), (text, doc.data)


# -- DBC -----------------------------------------------------------------------------------------
@SLOW
@given(st.binary(max_size=4000))
def test_dbc_arbitrary_bytes_load_or_raise_dbc_error(scratch: Path, data: bytes) -> None:
    path = _write(scratch, "any.dbc", data)
    try:
        load_dbc(path)
    except DbcError as exc:
        assert str(exc).startswith(str(path))


_SHIPPED = SHIPPED_DBC.read_bytes()


@SLOW
@given(st.integers(0, len(_SHIPPED)), st.binary(min_size=1, max_size=40))
def test_dbc_with_bytes_spliced_in_loads_or_raises(scratch: Path, at: int, junk: bytes) -> None:
    path = _write(scratch, "spliced.dbc", _SHIPPED[:at] + junk + _SHIPPED[at:])
    with contextlib.suppress(DbcError):
        load_dbc(path)


_names = st.from_regex(r"[A-Z][A-Za-z0-9_]{0,15}", fullmatch=True)


@st.composite
def _dbc_messages(draw: st.DrawFn) -> list[tuple[str, int, list[tuple[str, int, int]]]]:
    names = draw(st.lists(_names, min_size=1, max_size=8, unique=True))
    ids = draw(
        st.lists(st.integers(1, 0x7FF), min_size=len(names), max_size=len(names), unique=True)
    )
    messages = []
    for name, can_id in zip(names, ids, strict=True):
        widths = draw(st.lists(st.integers(1, 16), min_size=1, max_size=6))
        signals, start = [], 0
        for k, width in enumerate(widths):
            if start + width > 64:
                break
            signals.append((f"{name[:10]}_S{k}", start, width))
            start += width
        messages.append((name, can_id, signals))
    return messages


def _render(messages: list[tuple[str, int, list[tuple[str, int, int]]]]) -> str:
    lines = ['VERSION ""', "", "NS_ :", "", "BS_:", "", "BU_: TCU GW", ""]
    for name, can_id, signals in messages:
        lines.append(f"BO_ {can_id} {name}: 8 TCU")
        for sig, start, width in signals:
            lines.append(f' SG_ {sig} : {start}|{width}@1+ (1,0) [0|{2**width - 1}] "" GW')
        lines.append("")
    return "\n".join(lines) + "\n"


@SLOW
@given(_dbc_messages(), st.sampled_from(["utf-8", "cp1252"]))
def test_generated_dbc_loads_with_its_messages(
    scratch: Path, messages: list[tuple[str, int, list[tuple[str, int, int]]]], encoding: str
) -> None:
    path = _write(scratch, "gen.dbc", _render(messages).encode(encoding))
    db = load_dbc(path)
    assert {(m.name, m.frame_id) for m in db.messages.values()} == {
        (name, can_id) for name, can_id, _ in messages
    }
    for name, _, signals in messages:
        got = db.message(name).signals
        assert [(s.name, s.start, s.length) for s in got.values()] == signals


@SLOW
@given(_dbc_messages().filter(lambda m: len(m) >= 2), st.data())
def test_generated_dbc_with_a_shared_frame_id_is_refused_naming_both(
    scratch: Path, messages: list[tuple[str, int, list[tuple[str, int, int]]]], data: st.DataObject
) -> None:
    i, j = data.draw(
        st.lists(st.integers(0, len(messages) - 1), min_size=2, max_size=2, unique=True)
    )
    name, _, signals = messages[j]
    messages[j] = (name, messages[i][1], signals)
    path = _write(scratch, "dup.dbc", _render(messages).encode())
    with pytest.raises(DbcError) as info:
        load_dbc(path)
    text = str(info.value)
    assert messages[i][0] in text and name in text and "same frame ID" in text


# -- ASN.1 ---------------------------------------------------------------------------------------
@SLOW
@given(st.binary(max_size=3000))
def test_asn1_arbitrary_bytes_compile_or_raise_input_error(scratch: Path, data: bytes) -> None:
    path = _write(scratch, "any.asn", data)
    try:
        Asn1Module(path)
    except InputError as exc:
        assert str(exc).startswith(str(path))


@SLOW
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyz0123456789 ::=,{}()-.\n", max_size=400))
def test_asn1_token_soup_compiles_or_raises_input_error(scratch: Path, text: str) -> None:
    path = _write(scratch, "soup.asn", f"M DEFINITIONS ::= BEGIN\n{text}\nEND\n".encode())
    with contextlib.suppress(InputError):
        Asn1Module(path)


_lower = st.from_regex(r"[a-z][a-zA-Z0-9]{0,10}", fullmatch=True)


@st.composite
def _asn1_types(draw: st.DrawFn) -> dict[str, list[tuple[str, int, int]]]:
    type_names = st.from_regex(r"Ty[A-Za-z0-9]{0,10}", fullmatch=True)  # ASN.1: no '_'
    names = draw(st.lists(type_names, min_size=1, max_size=5, unique=True))
    types = {}
    for name in names:
        members = draw(st.lists(_lower, min_size=1, max_size=5, unique=True))
        ranges = [
            (m, lo, lo + draw(st.integers(0, 1000)))
            for m in members
            for lo in [draw(st.integers(-1000, 1000))]
        ]
        types[name] = ranges
    return types


@SLOW
@given(_asn1_types(), st.data())
def test_generated_asn1_module_compiles_and_round_trips(
    scratch: Path, types: dict[str, list[tuple[str, int, int]]], data: st.DataObject
) -> None:
    body = "\n".join(
        f"{name} ::= SEQUENCE {{\n"
        + ",\n".join(f"  {m} INTEGER ({lo}..{hi})" for m, lo, hi in members)
        + "\n}"
        for name, members in types.items()
    )
    path = _write(scratch, "gen.asn", f"Gen DEFINITIONS ::= BEGIN\n{body}\nEND\n".encode())
    module = Asn1Module(path)
    assert set(types) <= set(module.types)
    for name, members in types.items():
        assert module.members(name) == [m for m, _, _ in members]
        value = {m: data.draw(st.integers(lo, hi)) for m, lo, hi in members}
        assert module.decode(name, module.encode(name, value)) == value


def test_parse_deadline_interrupts_a_runaway_parser() -> None:
    """The bound that keeps every reader from hanging: a loop that never ends is stopped."""
    with pytest.raises(ParseTimeout), parse_deadline(0.2):
        while True:
            pass
    with parse_deadline(5):  # a parser that finishes in time is left alone
        sum(range(1000))
    # in another thread too (the pytest plugin and qualify's workers load profiles there)
    caught: list[BaseException] = []

    def runaway() -> None:
        try:
            with parse_deadline(0.2):
                while True:
                    pass
        except ParseTimeout as exc:
            caught.append(exc)

    worker = threading.Thread(target=runaway)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive() and len(caught) == 1


def test_a_big_allowed_dbc_past_its_deadline_is_an_input_error(scratch: Path) -> None:
    blocks = "".join(
        f'BO_ {0x80000000 | (0x1000 + i)} M{i}: 8 TCU\n SG_ S{i} : 0|8@1+ (1,0) [0|255] "" GW\n\n'
        for i in range(20000)
    )
    path = _write(scratch, "big.dbc", _SHIPPED + blocks.encode())
    with pytest.raises(
        DbcError, match=r"big\.dbc: expected a DBC that parses within 0\.01 s of CPU time"
    ):
        load_dbc(path, deadline=0.01)
