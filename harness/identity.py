"""The part's identity, as the profile declares it: never a default.

A profile's ``identity`` section names the items that identify a unit (any names: ``vin``,
``serial``, ``station_id``, ``hw_number``...), how long each is or what pattern it follows,
and for each the diagnostic DID it is read from, with the decoding of its bytes (``ascii``,
``hex``, ``unsigned``). At the start of a run the harness reads every item that has a DID
from the part; an item without one (a part with no diagnostics) takes its value from the
bench (``dut.identity``) or the command line (``--identity NAME=VALUE``, which wins). Nothing
is ever filled in from a built-in value: a run whose identity is not complete gets no
certificate, and the error says what to declare.

One item names the certificate's subject: the one marked ``subject: true``, else the first
declared. This module is pure: it knows no profile models, buses or files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.errors import InputError

__all__ = [
    "FORMATS",
    "SOURCES",
    "GivenIdentity",
    "IdentityField",
    "given_identity",
    "identity_gap",
    "parse_assignments",
    "subject_field",
]

FORMATS = ("ascii", "hex", "unsigned")
SOURCES = ("part", "bench", "command-line")  # where one item's value came from
PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.-]+)\}")


@dataclass(frozen=True)
class IdentityField:
    """One identity item: its name, the DID it is read from (None: given by the bench or
    the command line), how its bytes read, and what a valid value looks like."""

    name: str
    did: int | None = None
    format: str = "ascii"
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    subject: bool = False

    def decode(self, data: bytes) -> str:
        if self.format == "hex":
            return data.hex().upper()
        if self.format == "unsigned":
            return str(int.from_bytes(data, "big")) if data else ""
        return data.decode("ascii", errors="replace").rstrip("\x00 ").strip()

    def expectation(self) -> str:
        """What the profile expects of a value, for error messages."""
        parts = []
        if self.min_length is not None and self.min_length == self.max_length:
            parts.append(f"{self.min_length} characters")
        elif self.min_length is not None or self.max_length is not None:
            parts.append(f"{self.min_length or 0}..{self.max_length or 'any'} characters")
        if self.pattern is not None:
            parts.append(f"matching {self.pattern}")
        return " ".join(parts) or "a non-empty value"

    def problem(self, value: str) -> str | None:
        """None when ``value`` is what the profile declares, else what is wrong."""
        if not value:
            return f"expected {self.expectation()}, but the value is empty"
        n = len(value)
        if (self.min_length is not None and n < self.min_length) or (
            self.max_length is not None and n > self.max_length
        ):
            return f"expected {self.expectation()}, but {value!r} has {n}"
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            return f"expected a value matching {self.pattern}, but got {value!r}"
        return None


def subject_field(fields: Sequence[IdentityField]) -> str | None:
    """The item that names the certificate's subject: the one marked, else the first."""
    for f in fields:
        if f.subject:
            return f.name
    return fields[0].name if fields else None


def parse_assignments(texts: Iterable[str], option: str = "--identity") -> dict[str, str]:
    """``NAME=VALUE`` texts as a mapping; InputError naming the bad one."""
    out: dict[str, str] = {}
    for text in texts:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise InputError(
                f"{option} {text}", expected="NAME=VALUE, e.g. serial=EPS0001", got=text
            )
        out[name.strip()] = value
    return out


def identity_gap(
    fields: Sequence[IdentityField], given: Mapping[str, str], profile_id: str
) -> str | None:
    """None when every item either is read from the part or has a given value; else one
    line saying what to declare, for the error that refuses a certificate."""
    if not fields:
        return (
            f"profile {profile_id} declares no identity, so the certificate could not name the "
            "part: declare its items in the profile's identity section (name: {did: 0xF190, "
            "format: ascii, length: 17} for an item the part answers over diagnostics, or "
            "name: {length: 12} for one it has no DID for), then give those without a DID "
            "with --identity NAME=VALUE or the bench's dut.identity"
        )
    missing = [f.name for f in fields if f.did is None and f.name not in given]
    if not missing:
        return None
    return (
        f"the part's identity item(s) {', '.join(missing)} have no DID in profile "
        f"{profile_id} and no value was given: give them with "
        + " ".join(f"--identity {n}=VALUE" for n in missing)
        + " or the bench's dut.identity, or declare the DID the part answers "
        f"(identity.{missing[0]}.did)"
    )


def placeholders(template: str) -> list[str]:
    """The identity items a template such as ``v2x/bsm/{station_id}`` names."""
    return PLACEHOLDER.findall(template)


def fill(template: str, identity: Mapping[str, str]) -> str:
    """The template with each ``{name}`` replaced by that identity item's value."""
    return PLACEHOLDER.sub(lambda m: identity.get(m.group(1), m.group(0)), template)


@dataclass(frozen=True)
class GivenIdentity:
    """Values of identity items without a DID, from the bench and the command line."""

    values: Mapping[str, str]
    sources: Mapping[str, str]  # item -> "bench" or "command-line"

    def with_read(
        self, fields: Sequence[IdentityField], read: Mapping[str, str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """The part's identity in the fields' order, and where each value came from: what
        was read from the part ("part"), else what was given here. Never a built-in value."""
        identity: dict[str, str] = {}
        sources: dict[str, str] = {}
        for f in fields:
            if f.name in read:
                identity[f.name], sources[f.name] = read[f.name], "part"
            elif f.name in self.values:
                identity[f.name], sources[f.name] = self.values[f.name], self.sources[f.name]
        return identity, sources


def given_identity(
    fields: Sequence[IdentityField],
    bench: Mapping[str, str],
    command_line: Mapping[str, str],
    bench_where: str = "the bench's dut.identity",
) -> GivenIdentity:
    """Check the given values against the profile's items (command line over bench);
    InputError naming the place of the first that is unknown, read from the part, or not as
    declared."""
    by_name = {f.name: f for f in fields}
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for source, where, given in (
        ("bench", bench_where, bench),
        ("command-line", "--identity", command_line),
    ):
        for name, value in given.items():
            place = f"{where} {name}" if source == "command-line" else f"{where}.{name}"
            f = by_name.get(name)
            if f is None:
                raise InputError(
                    f"{place}: the profile declares no identity item {name}",
                    expected="an item of the profile's identity section",
                    got=name,
                    choices=list(by_name) or ["(the profile has no identity section)"],
                )
            if f.did is not None:
                raise InputError(
                    f"{place}: identity item {name} is read from the part (DID 0x{f.did:04X}); "
                    "only items without a DID take a value from the bench or --identity"
                )
            problem = f.problem(value)
            if problem is not None:
                raise InputError(f"{place}: {problem} (identity.{name} in the profile)")
            values[name] = value
            sources[name] = source
    return GivenIdentity(values, sources)
