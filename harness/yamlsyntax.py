"""Positions and syntax messages for the strict YAML loader (:mod:`harness.yamlsafe`).

:class:`Mark` is a 1-based line and column; :func:`syntax_message` turns PyYAML's scanner and
parser problems into plain words (token names spelled out, where an open bracket or quote
started, a hint for the usual mistakes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml
from yaml.error import Mark as _YamlMark

__all__ = ["Mark", "mark_at", "syntax_message", "to_mark"]


@dataclass(frozen=True)
class Mark:
    """A position in a YAML file, both numbers 1-based."""

    line: int
    col: int


_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


def mark_at(text: str, index: int) -> Mark:
    """1-based line/col of character index in text, counting line breaks as PyYAML does."""
    line = 1
    start = 0
    for match in _LINE_BREAK.finditer(text, 0, index):
        line += 1
        start = match.end()
    return Mark(line, index - start + 1)


def to_mark(mark: object) -> Mark:
    if isinstance(mark, _YamlMark):
        return Mark(mark.line + 1, mark.column + 1)
    line = getattr(mark, "line", None)
    column = getattr(mark, "column", None)
    if isinstance(line, int) and isinstance(column, int):
        return Mark(line + 1, column + 1)
    return Mark(1, 1)


# PyYAML's token names, in words.
_TOKENS = {
    "<block end>": "the end of the indented block",
    "<block mapping start>": "a key indented differently from the keys above it",
    "<block sequence start>": "a list indented differently from the lines above it",
    "<scalar>": "a value",
    "<stream end>": "the end of the file",
    "<stream start>": "the start of the file",
    "<document start>": "'---'",
    "<document end>": "'...'",
    "<directive>": "a directive",
    "<anchor>": "an anchor",
    "<alias>": "an alias",
    "<tag>": "a tag",
    "?": "a new key",
    "-": "a list item '-'",
}
_TOKEN_IN_PROBLEM = re.compile(r"(?P<lead>expected |but (?:found|got) )'?(?P<tok><[a-z ]+>|\?|-)'?")


def syntax_message(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's syntax problem in plain words, with where the open construct started."""
    problem = exc.problem or exc.context or "invalid YAML"
    context = exc.context if exc.problem else None
    hint = ""
    opened = context or ""
    if "'\\t'" in problem:
        hint = "; indent with spaces: YAML does not allow tabs"
    elif "cannot start any token" in problem:
        hint = "; quote a value that starts with this character"
    elif re.search(r"but found '(<block (mapping|sequence) start>|\?|-)'", problem):
        hint = "; check the indentation of this line"
    elif "quoted scalar" in opened and "end of stream" in problem:
        hint = "; is a closing quote missing?"
    elif "escape character" in problem:
        hint = "; write \\\\ for a backslash, or use single quotes"
    elif "flow sequence" in opened or "flow mapping" in opened:
        close = "]" if "sequence" in opened else "}"
        hint = f"; is a '{close}' missing" + (
            ", or a quote not closed?" if "<scalar>" in problem else "?"
        )
    problem = _TOKEN_IN_PROBLEM.sub(
        lambda m: m.group("lead") + _TOKENS.get(m.group("tok"), m.group(0)[len(m.group("lead")) :]),
        problem,
    )
    where = ""
    if context and exc.context_mark is not None and exc.context_mark != exc.problem_mark:
        start = to_mark(exc.context_mark)
        where = f" ({context} that starts at line {start.line}, column {start.col})"
    return problem + where + hint
