"""Tests for harness.yamlsafe: the strict YAML loader."""

from __future__ import annotations

import contextlib
import math
import random
from pathlib import Path

import pytest

from harness.errors import BenchError, InputError, ProfileError
from harness.yamlsafe import (
    MAX_BYTES,
    Mark,
    YamlDocument,
    format_path,
    load_yaml_file,
    load_yaml_text,
)

SRC = "profiles/x.yaml"


def load(text: str | bytes, **kwargs: int) -> YamlDocument:
    return load_yaml_text(text, SRC, error_cls=ProfileError, **kwargs)


def fails(
    text: str | bytes, line: int | None, col: int | None, phrase: str, **kwargs: int
) -> ProfileError:
    """Assert that text is refused with a ProfileError at line:col whose message has phrase."""
    with pytest.raises(ProfileError) as info:
        load(text, **kwargs)
    err = info.value
    assert type(err) is ProfileError
    assert (err.line, err.col) == (line, col), str(err)
    assert phrase in str(err)
    if line is not None:
        assert str(err).startswith(f"{SRC}:{line}:{col}"), str(err)
    return err


def value(text: str) -> object:
    return load(f"v: {text}\n").data["v"]


# -- happy path ------------------------------------------------------------------------------

PROFILE = """\
# a profile
id: door-lock
cases:
  - name: first
    checks:
      - {signal: Speed, max: 120}
  - name: second
    checks:
      - signal: Lock
        max: 1.5
        ratio: .5
"""


def test_nested_data_and_order() -> None:
    doc = load(PROFILE)
    assert doc.source == SRC
    assert doc.data == {
        "id": "door-lock",
        "cases": [
            {"name": "first", "checks": [{"signal": "Speed", "max": 120}]},
            {"name": "second", "checks": [{"signal": "Lock", "max": 1.5, "ratio": 0.5}]},
        ],
    }
    assert list(doc.data) == ["id", "cases"]
    assert list(doc.data["cases"][1]["checks"][0]) == ["signal", "max", "ratio"]


def test_marks_of_values_and_keys() -> None:
    doc = load(PROFILE)
    assert doc.marks[()] == Mark(2, 1)
    assert doc.marks[("id",)] == Mark(2, 5)
    assert doc.key_marks[("id",)] == Mark(2, 1)
    assert doc.marks[("cases",)] == Mark(4, 3)
    assert doc.marks[("cases", 0, "checks", 0, "max")] == Mark(6, 30)
    assert doc.marks[("cases", 1, "checks", 0, "max")] == Mark(10, 14)
    assert doc.key_marks[("cases", 1, "checks", 0, "max")] == Mark(10, 9)
    assert doc.marks[("cases", 1, "checks", 0)] == Mark(9, 9)


def test_mark_for_falls_back_to_longest_prefix() -> None:
    doc = load(PROFILE)
    assert doc.mark_for(["cases", 1, "checks", 0, "max"]) == Mark(10, 14)
    assert doc.mark_for(("cases", 1, "checks", 0, "min")) == Mark(9, 9)
    assert doc.mark_for(("cases", 7, "name")) == Mark(4, 3)
    assert doc.mark_for(("nope", "deeper")) == Mark(2, 1)
    assert YamlDocument("x", None, {}, {}).mark_for(("a",)) is None


def test_document_error_builds_located_error() -> None:
    doc = load(PROFILE)
    err = doc.error(
        BenchError,
        ("cases", 1, "checks", 0, "signal"),
        expected="a known signal",
        got="Lock",
        choices=["Speed", "Door"],
    )
    assert isinstance(err, BenchError)
    assert str(err) == (
        f"{SRC}:9:17 cases[1].checks[0].signal: expected a known signal, "
        "but got 'Lock' (valid: Speed, Door)"
    )
    missing = doc.error(ProfileError, ("cases", 0, "timeout"), message="missing timeout")
    assert str(missing) == f"{SRC}:4:5 cases[0].timeout: missing timeout"


def test_format_path() -> None:
    assert format_path(("cases", 3, "checks", 0, "max")) == "cases[3].checks[0].max"
    assert format_path(["a", "x y"]) == 'a["x y"]'
    assert format_path(("can-id",)) == '["can-id"]'
    assert format_path((0, "a")) == "[0].a"
    assert format_path(('say "hi"',)) == '["say \\"hi\\""]'
    assert format_path(()) == "(document)"


def test_top_level_sequence_and_scalar_documents() -> None:
    assert load("- a\n- b\n").data == ["a", "b"]
    assert load("hello\n").data == "hello"


# -- scalar resolution (YAML 1.2 core schema) ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0x1A", 26),
        ("0o17", 15),
        ("'NO'", "NO"),
        ('"NO"', "NO"),
        ("'010'", "010"),
        ("'1:30'", "1:30"),
        ("1.0e+3", 1000.0),
        ("-5", -5),
        ("+5", 5),
        ("0", 0),
        ("-0", 0),
        ("1.5", 1.5),
        ("-.5", -0.5),
        ("1.", 1.0),
        ("2.5E-3", 0.0025),
        ("010.5", 10.5),
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("null", None),
        ("~", None),
        ("", None),
        ("NULL", None),
        ("yes please", "yes please"),
        ("2024-01-01", "2024-01-01"),
        ("0X1A", "0X1A"),
        ("0x", "0x"),
        ("1.2.3", "1.2.3"),
        ("12:60", "12:60"),
        ("'<<'", "<<"),
        ("|\n  NO\n", "NO\n"),
        (">\n  010\n", "010\n"),
    ],
)
def test_scalar_resolution(text: str, expected: object) -> None:
    got = value(text)
    assert got == expected
    assert type(got) is type(expected)


def test_special_floats() -> None:
    assert value(".inf") == math.inf
    assert value("+.Inf") == math.inf
    assert value("-.INF") == -math.inf
    nan = value(".NaN")
    assert isinstance(nan, float) and math.isnan(nan)


def test_keys_keep_their_types() -> None:
    doc = load("1: one\n'1': text one\n0x10: sixteen\n")
    assert doc.data == {1: "one", "1": "text one", 16: "sixteen"}
    assert doc.key_marks[(16,)] == Mark(3, 1)


# -- YAML 1.1 hazards ------------------------------------------------------------------------


def test_yaml11_boolean_is_an_error() -> None:
    fails(
        "id: x\nenabled: NO\n",
        2,
        10,
        f"{SRC}:2:10 enabled: ambiguous value 'NO': YAML 1.1 reads it as a boolean; "
        "write true/false or quote it",
    )


@pytest.mark.parametrize("word", ["yes", "No", "ON", "off", "y", "N"])
def test_yaml11_boolean_words(word: str) -> None:
    fails(f"a: [1, {word}]\n", 1, 8, "reads it as a boolean")


def test_leading_zero_is_an_error() -> None:
    fails(
        "can:\n  id: 010\n",
        2,
        7,
        "can.id: ambiguous number '010': YAML 1.1 reads it as octal; write 10, 0o10 or quote it",
    )
    fails("a: -007\n", 1, 4, "ambiguous number '-007'")
    fails("a: 09\n", 1, 4, "ambiguous number '09'")


def test_sexagesimal_is_an_error() -> None:
    fails("t: 1:30\n", 1, 4, "ambiguous value '1:30': YAML 1.1 reads it as a base-60 number")
    fails("t: 190:20:30\n", 1, 4, "base-60")


def test_underscore_number_is_an_error() -> None:
    fails("num: 1_000\n", 1, 6, "ambiguous number '1_000'")
    fails("num: 1_000.5\n", 1, 6, "ambiguous number")


def test_other_yaml11_numbers_are_errors() -> None:
    fails("num: 0b101\n", 1, 6, "binary")
    fails("num: -0x1A\n", 1, 6, "ambiguous number '-0x1A'")


def test_hazard_in_a_key_is_an_error() -> None:
    fails("on: push\n", 1, 1, "ambiguous value 'on'")


# -- structural rules ------------------------------------------------------------------------


def test_duplicate_key_reports_second_occurrence() -> None:
    err = fails(
        "name: a\nchecks:\n  id: 1\n  max: 2\n  id: 3\n",
        5,
        3,
        "checks.id: duplicate key 'id' (first at line 3)",
    )
    assert err.path == "checks.id"


def test_duplicate_key_after_resolution() -> None:
    fails("1: a\n0x1: b\n", 2, 1, "duplicate key '1' (first at line 1)")


def test_explicit_tags_are_errors() -> None:
    fails(
        "a: !!python/object:os.system ls\n",
        1,
        4,
        "expected a plain value, but got tag '!!python/object:os.system'",
    )
    fails("a: !!python/object\n", 1, 4, "but got tag '!!python/object'")
    fails("a: !!str 1\n", 1, 4, "tag '!!str'")
    fails("a:\n  - !foo x\n", 2, 5, "tag '!foo'")
    fails("a: !!map {b: 1}\n", 1, 4, "tag '!!map'")


def test_merge_key_is_an_error() -> None:
    fails("base:\n  x: 1\nother:\n  <<: {x: 2}\n", 4, 3, "merge keys ('<<') are not allowed")


def test_anchor_and_alias_are_errors() -> None:
    fails("a: &anchor 1\nb: 2\n", 1, 4, "anchors are not allowed")
    fails("a: 1\nb: *nothing\n", 2, 4, "aliases are not allowed")
    fails("- &x [1]\n", 1, 3, "anchors are not allowed")


def test_billion_laughs_rejected_without_expansion() -> None:
    lines = ['lol0: &lol0 "lol"']
    for i in range(1, 30):
        refs = ", ".join([f"*lol{i - 1}"] * 10)
        lines.append(f"lol{i}: &lol{i} [{refs}]")
    lines.append("bomb: *lol29")
    # 10**29 expansions if anything were expanded: one call must simply fail.
    fails("\n".join(lines) + "\n", 1, 7, "anchors are not allowed")


def test_complex_and_non_text_keys_are_errors() -> None:
    fails("? [a, b]\n: 1\n", 1, 3, "expected a text key, but got a sequence")
    fails("{[a]: 1}\n", 1, 2, "expected a text key, but got a sequence")
    fails("? {a: 1}\n: 1\n", 1, 3, "expected a text key, but got a mapping")
    fails("a: 1\ntrue: 2\n", 2, 1, "expected a text key, but got 'true'")
    fails("~: 1\n", 1, 1, "expected a text key")
    fails("1.5: x\n", 1, 1, "expected a text key, but got '1.5'")


def test_two_documents_are_an_error() -> None:
    fails("a: 1\n---\nb: 2\n", 2, 1, "expected exactly one YAML document, but got a second")
    fails("---\na: 1\n...\n---\nb: 2\n", 4, 1, "a second document")


def test_document_end_marker_alone_is_fine() -> None:
    assert load("---\na: 1\n...\n").data == {"a": 1}


@pytest.mark.parametrize("text", ["", "# only a comment\n\n# and another\n", "\n\n"])
def test_empty_document_is_an_error(text: str) -> None:
    fails(text, 1, 1, "expected a YAML mapping (one document), but got an empty document")


def test_explicit_empty_document_is_an_error() -> None:
    fails("---\n# nothing\n", 3, 1, "but got an empty document")


def test_deep_nesting_is_an_error_not_a_recursion_error() -> None:
    fails("[" * 5000, 1, 101, "nesting deeper than 100 levels")


# -- syntax, encoding and size ---------------------------------------------------------------


def test_syntax_error_has_position_and_problem() -> None:
    err = fails("id: x\nname: z\ncases:\n  first: a: b\n", 4, 11, "")
    assert str(err) == f"{SRC}:4:11: mapping values are not allowed here"
    fails("a: [1, 2\n", 2, 1, "expected ',' or ']'")
    fails("a: 'open\n", 2, 1, "found unexpected end of stream")
    fails("a:\n\t- b\n", 2, 1, "found character '\\t' that cannot start any token")


def test_control_character_is_an_error() -> None:
    fails("a: 1\nb: x\x07\n", 2, 5, "unacceptable character #x0007")


def test_invalid_utf8_has_position() -> None:
    fails(b"a: 1\nb: caf\xc3\xa9 \xff\n", 2, 9, "expected UTF-8 text, but found byte 0xFF")
    fails(b"\xff\xfea\x00:\x00", 1, 1, "not valid UTF-8")


def test_utf8_bytes_and_bom_are_accepted() -> None:
    assert load("a: café\n".encode()).data == {"a": "café"}
    assert load(b"\xef\xbb\xbfa: 1\n").data == {"a": 1}


def test_oversize_text_is_rejected_before_parsing() -> None:
    # Unparseable, so only the size check can produce this message.
    err = fails(
        "a: [" * 20, None, None, "expected at most 10 bytes, but got 80 bytes", max_bytes=10
    )
    assert str(err).startswith(f"{SRC}: ")
    # The limit counts bytes, not characters.
    fails("a: éé\n", None, None, "expected at most 6 bytes", max_bytes=6)
    assert load("a: é\n", max_bytes=6).data == {"a": "é"}
    assert MAX_BYTES == 1_048_576


# -- files -----------------------------------------------------------------------------------


def test_load_file(tmp_path: Path) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text("iface: vcan0\nbitrate: 500000\n", encoding="utf-8")
    doc = load_yaml_file(path, error_cls=BenchError)
    assert doc.data == {"iface": "vcan0", "bitrate": 500000}
    assert doc.source == str(path)
    assert doc.marks[("bitrate",)] == Mark(2, 10)
    assert load_yaml_file(str(path), display="bench.yaml").source == "bench.yaml"


def test_file_errors_use_display_name(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("a: 1\na: 2\n", encoding="utf-8")
    with pytest.raises(BenchError) as info:
        load_yaml_file(path, error_cls=BenchError, display="profiles/p.yaml")
    assert str(info.value) == "profiles/p.yaml:2:1 a: duplicate key 'a' (first at line 1)"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(BenchError) as info:
        load_yaml_file(path, error_cls=BenchError)
    assert str(info.value) == f"{path}: expected a readable YAML file, but got a missing file"
    assert info.value.source == str(path)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as info:
        load_yaml_file(tmp_path, error_cls=ProfileError, display="profiles/")
    assert str(info.value) == "profiles/: expected a readable YAML file, but got a directory"


def test_oversize_file(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: 1\n" * 10, encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_yaml_file(path, error_cls=ProfileError, max_bytes=20, display="big.yaml")
    assert str(info.value) == "big.yaml: expected at most 20 bytes, but got 50 bytes"
    path.write_text("a: 12345678901234\n", encoding="utf-8")  # exactly 20 bytes
    assert load_yaml_file(path, max_bytes=20).data == {"a": 12345678901234}


def test_invalid_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: café\n".encode("latin-1"))
    with pytest.raises(ProfileError) as info:
        load_yaml_file(path, error_cls=ProfileError, display="latin1.yaml")
    assert str(info.value).startswith("latin1.yaml:1:10: expected UTF-8 text")


def test_default_error_class_is_input_error() -> None:
    with pytest.raises(InputError) as info:
        load_yaml_text("a: NO\n", "x.yaml")
    assert type(info.value) is InputError
    assert info.value.exit_code == 2


def test_mangled_input_only_raises_the_given_error_class() -> None:
    rng = random.Random(1234)
    pieces = [*"[]{}:,-?!&*|>'\"#%\t\n ~.019aNy_\x00\x85\ufeff", "---", "<<", "0x"]
    for _ in range(400):
        text = list(PROFILE)
        for _ in range(rng.randint(1, 5)):
            pos = rng.randrange(len(text))
            if rng.random() < 0.5:
                text.insert(pos, rng.choice(pieces))
            else:
                del text[pos]
        with contextlib.suppress(ProfileError):  # any other exception fails the test
            load("".join(text))


@pytest.mark.parametrize(
    ("text", "hint"), [("1e3", "1.0e+3"), ("0E0", "0.0e+0"), ("2.5e3", "2.5e+3")]
)
def test_floats_yaml11_reads_as_text_are_errors(text: str, hint: str) -> None:
    """YAML 1.1 (PyYAML) floats need a '.' and a signed exponent; YAML 1.2 reads these as
    numbers. Found by the emitter round-trip property test (tests/hostile)."""
    fails(f"a: {text}\n", 1, 4, f"ambiguous number '{text}': YAML 1.1 reads it as a string")
    fails(f"a: {text}\n", 1, 4, f"such as {hint}, or quote it")


# -- libyaml and PyYAML's Python parser read every file alike -----------------------------------
def _read_with(text: str, loader: object) -> object:
    from harness.yamlsafe import _Reject, _walk

    try:
        walker, data = _walk(text, loader)
    except _Reject as exc:
        return ("rejected", exc.mark, exc.path, exc.message)
    return (data, walker.marks, walker.key_marks)


_YAML_FILES = sorted(
    p
    for p in Path(__file__).resolve().parents[1].rglob("*.yaml")
    if ".venv" not in p.parts and "runs" not in p.parts
)


@pytest.mark.parametrize("path", _YAML_FILES, ids=lambda p: p.name)
def test_libyaml_and_the_python_parser_give_the_same_data_and_marks(path: Path) -> None:
    """The fast path (libyaml) must not change a value, a mark or a rejection: every YAML
    file of the repository (profiles, benches, the corpus of broken files) read both ways."""
    import yaml

    if not hasattr(yaml, "CSafeLoader"):
        pytest.fail("PyYAML was built without libyaml: the fast path is not tested")
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    try:
        fast = _read_with(text, yaml.CSafeLoader)
    except yaml.YAMLError:
        return  # a syntax error: load_yaml_text reads it again with the Python parser
    assert fast == _read_with(text, yaml.SafeLoader)
