"""The supplier's implementation conformance statement (ICS): which optional features the
part has.

A profile declares the optional features a part may have (``features: {will: "..."}``) and
each case that needs one says so (``needs: [will]``). A supplier states what its part has,
in the bench or in a file of its own named with ``harness certify --ics FILE``::

    format: cc-harness-ics/1
    part: EPS-7 rev B               # free text, for people
    features:
      will: false                   # true: the part has it; false or omitted: it has not

(in a bench: ``conformance: {features: {will: false}}``; ``--ics`` wins over the bench). A
feature the profile does not declare is an error naming its place (exit 2). A case that
needs a feature the statement does not claim is NOT_APPLICABLE: not run, never a pass, and
a requirement that only such cases trace is listed as not claimed in the certificate. With
no statement at all every case applies: nothing is excused unless a supplier says so.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from harness.errors import BenchError, InputError
from harness.profile.errors import describe_shape, located_error
from harness.yamlsafe import YamlDocument, load_yaml_file

__all__ = [
    "ICS_FORMAT",
    "BenchConformance",
    "Conformance",
    "IcsFile",
    "conformance_for",
    "load_ics",
]

ICS_FORMAT = "cc-harness-ics/1"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class BenchConformance(BaseModel):
    """The bench's ``conformance`` key: the part's optional features."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    part: str | None = Field(default=None, description="the part the statement is for")
    features: dict[str, StrictBool] = Field(
        default_factory=dict, description="optional feature -> whether the part has it"
    )


class IcsFile(BenchConformance):
    """A conformance statement file (``--ics FILE``)."""

    format: Literal["cc-harness-ics/1"]


@dataclass(frozen=True)
class Conformance:
    """A checked statement: where it came from, and for every optional feature of the
    profile whether the part has it."""

    source: str
    features: Mapping[str, bool]

    def missing(self, needs: Sequence[str]) -> list[str]:
        """The features of ``needs`` the part does not claim."""
        return [n for n in needs if not self.features.get(n, False)]

    def reason(self, needs: Sequence[str]) -> str | None:
        """Why a case that needs ``needs`` does not apply, or None when it does."""
        missing = self.missing(needs)
        if not missing:
            return None
        return (
            f"needs optional feature(s) {', '.join(missing)}, which the part's conformance "
            f"statement ({self.source}) does not claim"
        )

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "features": dict(self.features)}


def _checked(
    stated: Mapping[str, bool],
    declared: Mapping[str, str],
    profile_id: str,
    source: str,
    error: Any,
) -> Conformance:
    for name in stated:
        if name not in declared:
            close = difflib.get_close_matches(name, list(declared), n=2)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise error(
                name,
                f"profile {profile_id} declares no optional feature '{name}'{hint}",
                list(declared) or ["(the profile declares no features)"],
            )
    return Conformance(source, {n: bool(stated.get(n, False)) for n in declared})


def load_ics(
    path: str | os.PathLike[str], declared: Mapping[str, str], profile_id: str
) -> Conformance:
    """The statement in ``path``, checked against the profile's ``declared`` features;
    InputError at ``file:line:col`` of what is wrong (exit 2)."""
    doc = load_yaml_file(path, error_cls=InputError, kind_marker=("format", ICS_FORMAT))
    if not isinstance(doc.data, dict):
        raise doc.error(
            InputError,
            (),
            message="expected a conformance statement (format, part, features) at the top, "
            f"but got {describe_shape(doc.data)}",
        )
    if doc.data.get("format") != ICS_FORMAT:
        raise doc.error(
            InputError,
            ("format",),
            expected=f"format: {ICS_FORMAT} (a conformance statement)",
            got=doc.data.get("format"),
        )
    try:
        ics = IcsFile.model_validate(doc.data)
    except ValidationError as exc:
        raise located_error(exc, doc, IcsFile, {}, InputError) from None

    def error(name: str, message: str, choices: list[str]) -> InputError:
        return _located(doc, name, message, choices)

    return _checked(ics.features, declared, profile_id, str(Path(doc.source)), error)


def _located(doc: YamlDocument, name: str, message: str, choices: list[str]) -> InputError:
    """The error at the feature's key (the name is what is wrong, not its value)."""
    error = doc.error(InputError, ("features", name), message=message, choices=choices)
    mark = doc.key_marks.get(("features", name))
    if mark is None:
        return error
    return InputError(
        message, source=doc.source, line=mark.line, col=mark.col, path=error.path, choices=choices
    )


def conformance_for(
    declared: Mapping[str, str],
    profile_id: str,
    bench: BenchConformance | None,
    bench_source: str | None,
    ics: str | os.PathLike[str] | None,
) -> Conformance | None:
    """The run's statement: the ``--ics`` file, else the bench's ``conformance``, else None
    (every case applies)."""
    if ics is not None:
        return load_ics(ics, declared, profile_id)
    if bench is None:
        return None
    where = f"bench {bench_source}" if bench_source else "the bench"

    def error(name: str, message: str, choices: list[str]) -> InputError:
        return BenchError(
            f"{where} conformance.features.{name}: {message}",
            expected="an optional feature the profile declares",
            got=name,
            choices=choices,
        )

    return _checked(bench.features, declared, profile_id, f"{where} conformance", error)
