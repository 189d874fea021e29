"""Named registries that a lab fills from its own package, without editing the harness.

Every extension point of the harness (check kinds, step kinds, E2E and checksum schemes,
seed-to-key algorithms, diagnostic oracles, DUT providers, outputs) is a :class:`Registry`:
an explicit, insertion-ordered mapping from a name to an object, filled

- by the harness's own modules, with :meth:`Registry.register` (usually as a decorator), and
- from installed distributions, through the entry point group the registry names, loaded
  lazily the first time the registry is read (so a lab's package costs nothing until used).

A lab package declares its additions in its ``pyproject.toml``::

    [project.entry-points."cc_harness.checks"]
    torque_ripple = "acme_checks:TorqueRipple"

A name registered twice (in code, in two entry points, or in code and an entry point) is an
error naming both places, never a silent override. An entry point that fails to import is an
:class:`~harness.errors.InputError` naming the distribution and the entry point, so a broken
plug-in is reported as the plug-in's fault, not as a harness crash.

This module is at the bottom of the layers: it imports nothing of the harness but
:mod:`harness.errors`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Generic, TypeVar, overload

from harness.errors import InputError

__all__ = ["DuplicateRegistration", "Registry", "all_registries"]

T = TypeVar("T")
V = TypeVar("V")

_REGISTRIES: dict[str, Registry[object]] = {}


class DuplicateRegistration(InputError):
    """A name registered twice in one registry."""


class Registry(Generic[T]):
    """An explicit registry of ``T`` by name, filled from code and from one entry point group.

    ``what`` names the kind of thing in messages ("check kind", "DUT provider"); ``group`` is
    the entry point group (``cc_harness.<something>``), or None for a registry only code fills.
    ``check`` validates an object before it is registered (raise TypeError/ValueError to
    refuse it); it runs for entry points too, so a plug-in's mistake is caught at load.
    """

    def __init__(
        self,
        what: str,
        group: str | None = None,
        check: Callable[[str, object], None] | None = None,
    ) -> None:
        self.what = what
        self.group = group
        self._check = check
        self._items: dict[str, T] = {}
        self._origin: dict[str, str] = {}
        self._loaded = group is None
        self._lock = threading.RLock()
        if group is not None:
            if group in _REGISTRIES:
                raise RuntimeError(f"entry point group {group!r} has two registries")
            _REGISTRIES[group] = self  # type: ignore[assignment]

    # ---- filling ---------------------------------------------------------------------------

    def add(self, name: str, item: T, origin: str = "harness") -> T:
        """Register ``item`` under ``name``; a name used twice is :class:`DuplicateRegistration`."""
        with self._lock:
            if name in self._items:
                # Both origins in the message itself: a "got" would be cut at 60 characters,
                # and the plug-in's distribution name is what the reader needs.
                raise DuplicateRegistration(
                    f"{self.what} {name!r} is registered twice: by {self._origin[name]} "
                    f"and by {origin}",
                    expected="each name registered once (rename one, or uninstall one package)",
                )
            if self._check is not None:
                self._check(name, item)
            self._items[name] = item
            self._origin[name] = origin
            return item

    @overload
    def register(self, name: str) -> Callable[[V], V]: ...

    @overload
    def register(self, name: str, item: V) -> V: ...

    def register(self, name: str, item: object = None) -> object:
        """``@registry.register("name")`` as a decorator, or ``registry.register("name", obj)``."""
        if item is not None:
            self.add(name, item)  # type: ignore[arg-type]
            return item

        def deco(obj: V) -> V:
            self.add(name, obj)  # type: ignore[arg-type]
            return obj

        return deco

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests and plug-in reloads); unknown names are ignored."""
        with self._lock:
            self._items.pop(name, None)
            self._origin.pop(name, None)

    def load_entry_points(self) -> None:
        """Load the group's entry points once; later calls do nothing."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            assert self.group is not None
            for ep in metadata.entry_points(group=self.group):
                dist = ep.dist.name if ep.dist is not None else "an installed package"
                origin = f"entry point {ep.name} = {ep.value} ({dist})"
                try:
                    obj = ep.load()
                except Exception as exc:  # a plug-in's import error is the plug-in's fault
                    raise InputError(
                        f"cannot load {self.what} {ep.name!r} from {dist}",
                        path=f"[project.entry-points.{self.group!r}] {ep.name}",
                        expected=f"an importable object at {ep.value}",
                        got=f"{type(exc).__name__}: {exc}",
                    ) from exc
                self.add(ep.name, obj, origin=origin)

    def reload_entry_points(self) -> None:
        """Forget what came from entry points and load the group again (after an install)."""
        with self._lock:
            for name, origin in list(self._origin.items()):
                if origin != "harness":
                    self.unregister(name)
            self._loaded = self.group is None
        self.load_entry_points()

    # ---- reading ---------------------------------------------------------------------------

    def get(self, name: str) -> T:
        """The item ``name``; an unknown name is an InputError listing the known ones."""
        self.load_entry_points()
        try:
            return self._items[name]
        except KeyError:
            where = (
                f" or one a lab registers under the entry point group {self.group}"
                if self.group
                else ""
            )
            raise InputError(
                f"unknown {self.what}",
                expected=f"a built-in {self.what}{where}",
                got=name,
                choices=self.names(),
            ) from None

    def origin(self, name: str) -> str:
        """Where ``name`` came from: ``harness`` or the entry point and distribution."""
        self.load_entry_points()
        return self._origin[name]

    def names(self) -> list[str]:
        self.load_entry_points()
        return list(self._items)

    def items(self) -> list[tuple[str, T]]:
        self.load_entry_points()
        return list(self._items.items())

    def __getitem__(self, name: str) -> T:
        """Mapping-style access: an unknown name is a KeyError (use :meth:`get` for users)."""
        self.load_entry_points()
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        self.load_entry_points()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self.load_entry_points()
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, group={self.group!r}, {len(self._items)} registered)"


def all_registries() -> dict[str, Registry[object]]:
    """Every registry that has an entry point group, keyed by the group."""
    return dict(_REGISTRIES)
