"""Compiling the profile's buses, and resolving a message name to the bus it is on.

A profile declares its buses in one of two forms:

* the **single-bus form** (top-level ``dbc``, ``bitrate`` and ``bus``, as every profile
  before named buses was written): one bus, named ``can`` (:data:`harness.plan.DEFAULT_BUS`);
* a **buses section**: ``buses: {NAME: {dbc, fd, bitrate, data_bitrate, brs}, ...}``, one or
  more named buses, each with its own DBC (written as ``dbc:`` is: a path, or ``{path,
  encoding, lenient}``). It replaces ``dbc``, ``bitrate`` and ``bus``; giving both is an
  error.

The rule for naming a bus (``bus: NAME`` on a rest-bus entry, ``dut.ready``, a ``send``,
``noise`` or ``fuzz_can`` step, or a check): with one bus it is optional (and may be ``can``
in the single-bus form); with several, a message name resolves to the one bus whose DBC has
it, and ``bus:`` is needed where a name is on more than one bus or the frames are raw
(``send``, ``noise``, ``fuzz_can``). A check that names neither a message nor a bus reads the
first bus. Every error names the place and the buses there are.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.can.dbc import CanDatabase, MessageCodec, classic_misfit, load_dbc
from harness.checks import Resolver
from harness.errors import DbcError, ProfileError
from harness.plan import PlannedBus, buses_manifest
from harness.profile.errors import describe_value
from harness.profile.model import DbcSource, Profile

if TYPE_CHECKING:
    from harness.yamlsafe import YamlDocument

__all__ = [
    "BusCompiler",
    "BusResolver",
    "CaseResolver",
    "DbcFiles",
    "buses_digest",
    "compile_buses",
    "locate_message",
    "pick_bus",
]


class BusCompiler(Protocol):
    """What bus resolution needs of the profile compiler."""

    p: Profile
    buses: dict[str, PlannedBus]

    def err(
        self, path: Sequence[str | int], message: str | None = None, **kw: Any
    ) -> ProfileError: ...


class _Loading(BusCompiler, Protocol):
    doc: YamlDocument


@dataclass(frozen=True)
class DbcFiles:
    """DBC files given in place of the profile's, by bus name (``harness evaluate --dbc
    BUS=PATH``); the other buses' from ``folder`` (``NAME/FILE``: an evidence folder's
    ``dbc/``) when given, else the profile's own paths."""

    per_bus: Mapping[str, Path] = field(default_factory=dict)
    folder: Path | None = None


def compile_buses(
    c: _Loading, base_dir: Path, dbc_override: Path | DbcFiles | None
) -> dict[str, PlannedBus]:
    """Every bus of the profile with its DBC loaded, in the profile's order.

    ``dbc_override`` (an evidence folder's copies, or files named on the command line): a
    file is the DBC of a profile with one bus; a folder holds ``NAME/FILE`` for each bus
    ``NAME`` of a buses section; :class:`DbcFiles` names a file per bus (a name the profile
    does not declare is an error naming it).
    """
    p = c.p
    if p.buses and p.dbc is not None:
        raise c.err(
            ("dbc",),
            "the profile gives both dbc and buses: with a buses section each bus names its DBC",
            expected="buses only (or dbc without buses)",
            got=p.dbc.path,
        )
    if p.buses:
        for top in ("bitrate", "bus"):
            if top in p.model_fields_set:
                raise c.err(
                    (top,),
                    f"top-level {top} is for the single-bus form: with a buses section give "
                    "each bus its bitrate, fd, data_bitrate and brs",
                    expected=f"buses.NAME.{'bitrate' if top == 'bitrate' else 'fd ...'}",
                    got=top,
                )
    named = p.named_buses()
    if not named:
        raise c.err(
            (),
            "missing required key 'dbc' (the part's DBC), or a buses section naming each "
            "bus with its DBC",
            expected="dbc: FILE, or buses: {NAME: {dbc: FILE, ...}}",
        )
    if isinstance(dbc_override, DbcFiles):
        for given in dbc_override.per_bus:
            if given not in named:
                raise c.err(
                    ("buses",) if p.buses else ("dbc",),
                    f"--dbc names bus '{given}', which this profile does not declare",
                    expected="--dbc BUS=PATH with BUS one of the profile's buses",
                    got=given,
                    choices=list(named),
                )
    elif dbc_override is not None and len(named) > 1 and not dbc_override.is_dir():
        raise c.err(
            ("buses",),
            f"one DBC given in place of the profile's (--dbc {dbc_override}), but this "
            f"profile has {len(named)} buses ({', '.join(named)})",
            expected="--dbc BUS=PATH for each bus to replace (the others: the folder's or "
            "the profile's own)",
            got=str(dbc_override),
        )
    out: dict[str, PlannedBus] = {}
    for name, (source, spec) in named.items():
        key: tuple[str, ...] = ("dbc",) if not p.buses else ("buses", str(name), "dbc")
        declared = Path(source.path).name
        path = _bus_dbc_path(dbc_override, name, declared) or (base_dir / source.path).resolve()
        db = _load_dbc(c, source, key, path)
        out[name] = PlannedBus(
            name,
            db,
            path,
            spec.bitrate,
            spec.fd,
            spec.fast_bitrate if spec.fd else 0,
            spec.fd and spec.brs,
            declared if path.name != declared else "",
        )
    return out


def _bus_dbc_path(override: Path | DbcFiles | None, name: str, declared: str) -> Path | None:
    """Where bus ``name``'s DBC (declared as file ``declared``) is read from in place of
    the profile's path (None: the profile's path)."""
    if isinstance(override, DbcFiles):
        given = override.per_bus.get(name)
        if given is not None:
            return given
        return override.folder / name / declared if override.folder is not None else None
    if override is not None and override.is_dir():
        return override / name / declared
    return override


def _load_dbc(c: _Loading, source: DbcSource, key: tuple[str, ...], dbc_path: Path) -> CanDatabase:
    """A bus's DBC; a missing or broken one is an error at that bus's dbc key."""
    shown = source.path
    if (*key, "path") in c.doc.marks:
        key = (*key, "path")
    if not dbc_path.exists() or dbc_path.is_dir():
        try:
            looked = os.path.relpath(dbc_path)
        except ValueError:  # another drive (Windows)
            looked = str(dbc_path)
        what = f"{looked} is a directory" if dbc_path.is_dir() else f"looked for {looked}"
        raise c.err(
            key,
            f"DBC file not found: {what} (the path is relative to the profile's folder); "
            f"expected an existing .dbc file, but got '{shown}'",
        )
    try:
        return load_dbc(dbc_path, display=shown, encoding=source.encoding, lenient=source.lenient)
    except DbcError as exc:
        detail = re.sub(r'^(not a valid DBC: )DBC: "(.*)"$', r"\1\2", exc.detail or "")
        at = f" line {exc.line}, column {exc.col}" if exc.col is not None else ""
        at = f" line {exc.line}" if exc.line is not None and not at else at
        text = f"DBC file {shown}{at}: {detail or 'cannot be used'}"
        if exc.expected:
            text += f"; expected {exc.expected}"
            if exc.got is not None:
                text += f", but got {describe_value(exc.got)}"
        if "encoding" in detail and source.encoding != "auto":
            key = (*key[: -1 if key[-1] == "path" else len(key)], "encoding")
        raise c.err(key, text, choices=exc.choices) from None


def pick_bus(c: BusCompiler, path: Sequence[str | int], bus: str | None, what: str) -> PlannedBus:
    """The bus ``bus`` names; without a name, the sole bus, or an error (``what`` says what
    needs a bus: raw frames have no DBC to find one by)."""
    names = list(c.buses)
    if bus is not None:
        if bus in c.buses:
            return c.buses[bus]
        raise c.err(
            (*path, "bus"),
            "no bus of this name in the profile",
            expected="a bus the profile declares",
            got=bus,
            choices=names,
        )
    if len(names) == 1:
        return c.buses[names[0]]
    raise c.err(
        path,
        f"the profile has several buses ({', '.join(names)}): {what} needs bus: NAME",
        expected=f"bus: one of {', '.join(names)}",
        choices=names,
    )


def locate_message(
    c: BusCompiler,
    path: Sequence[str | int],
    name: str,
    bus: str | None = None,
    bus_path: Sequence[str | int] | None = None,
) -> tuple[PlannedBus, MessageCodec]:
    """The bus a message is on and the message: on bus ``bus`` when one is named (its
    place is ``bus_path``), else on the one bus whose DBC has it. Unknown, ambiguous, or
    an FD message on a classic bus: an error at ``path``."""
    if bus is not None:
        where = [pick_bus(c, bus_path if bus_path is not None else path, bus, "")]
    else:
        where = [b for b in c.buses.values() if name in b.dbc.messages]
        if len(where) > 1:
            names = [b.name for b in where]
            raise c.err(
                path,
                f"message {name} is on several buses ({', '.join(names)}): say which with "
                "bus: NAME",
                expected=f"bus: one of {', '.join(names)}",
                got=name,
                choices=names,
            )
        if not where:
            where = list(c.buses.values())[:1] if len(c.buses) == 1 else []
    if not where or name not in where[0].dbc.messages:
        dbs = where or list(c.buses.values())
        close = [m for db in dbs for m in db.dbc.suggest_message(name)]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        sources = ", ".join(b.dbc.source for b in dbs)
        on = f" (bus {dbs[0].name})" if len(c.buses) > 1 and len(dbs) == 1 else ""
        raise c.err(
            path,
            f"unknown message in {sources}{on}{hint}",
            expected="a message of the DBC" if len(dbs) == 1 else "a message of a bus's DBC",
            got=name,
            choices=sorted(m for b in dbs for m in b.dbc.messages),
        )
    found = where[0]
    msg = found.dbc.messages[name]
    misfit = None if found.fd else classic_misfit(msg)
    if misfit is not None:  # refused before any run, not found as a send error mid-run
        raise c.err(path, misfit)
    return found, msg


class BusResolver(Resolver):
    """A check's resolver on a profile of several buses: the check's messages pin the one bus
    it reads (``bus:`` on the check pins it first); a message of another bus, or one on
    several buses with none named, is an error at its place."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.buses: dict[str, PlannedBus] = {}
        self.pinned: PlannedBus | None = None  # the bus the check reads (several buses)
        self._named = False

    def pin(self, bus: PlannedBus, *, by_name: bool = False) -> None:
        """The check reads ``bus``: its messages resolve in that bus's DBC."""
        self.pinned = bus
        self._named = by_name
        self.db = bus.dbc
        self.fd = bus.fd

    def message(self, field: str, name: str) -> MessageCodec:
        if len(self.buses) <= 1:
            return super().message(field, name)
        if self.pinned is None:
            on = [b for b in self.buses.values() if name in b.dbc.messages]
            if len(on) > 1:
                names = [b.name for b in on]
                raise self.error(
                    field,
                    f"message {name} is on several buses ({', '.join(names)}): say which "
                    "with bus: NAME on the check",
                    expected=f"bus: one of {', '.join(names)}",
                    got=name,
                    choices=names,
                )
            if on:
                self.pin(on[0])
        elif name not in self.pinned.dbc.messages:
            elsewhere = [b.name for b in self.buses.values() if name in b.dbc.messages]
            if elsewhere:
                why = "named by its bus:" if self._named else "of its other messages"
                raise self.error(
                    field,
                    f"message {name} is on bus {', '.join(elsewhere)}, but this check reads bus "
                    f"{self.pinned.name} ({why}); one check reads one bus",
                    expected=f"a message of bus {self.pinned.name}",
                    got=name,
                    choices=sorted(self.pinned.dbc.messages),
                )
        if self.pinned is None:  # on no bus at all: name every bus's messages
            raise self.error(
                field,
                "unknown message in "
                + ", ".join(f"{b.dbc.source} (bus {b.name})" for b in self.buses.values()),
                expected="a message of a bus's DBC",
                got=name,
                choices=sorted(m for b in self.buses.values() for m in b.dbc.messages),
            )
        return super().message(field, name)


def buses_digest(buses: Sequence[PlannedBus], digest: Any) -> str:
    """The DBC digest a run records: the one DBC's sha256 with one bus (as before named
    buses); with several, the sha256 of their :func:`~harness.plan.buses_manifest`."""
    if len(buses) == 1:
        return str(digest(buses[0].dbc.text).hexdigest())
    return str(digest(buses_manifest(buses)).hexdigest())


class CaseResolver(BusResolver):
    """A resolver that also knows the case's later steps, to say so when a check names one."""

    def __init__(self, *args: Any, later: Mapping[str, str]) -> None:
        super().__init__(*args)
        self.later = dict(later)

    def marker(self, field: str, name: str) -> str:
        if name not in self.markers and name in self.later:
            raise self.error(
                field,
                f"step '{name}' is at {self.later[name]}, after this check; "
                "a check can only refer to an earlier step",
                expected="the name of an earlier step",
                got=name,
                choices=self.markers or ["(no earlier step of this case is named)"],
            )
        return super().marker(field, name)
