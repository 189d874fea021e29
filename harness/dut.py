"""DUT providers: the simulated parts the harness can certify, each with its faulty variants.

A DUT is one of

- **simulated on the virtual clock**: the provider builds its part on the session's own
  :class:`~harness.clock.EventLoop` and the DUT's end of the session's in-memory bus
  (``harness certify --dut sim:NAME``, the default mode: fast and deterministic);
- **simulated in real time**: the same part on its own real-time loop and a python-can bus
  from the bench, in a thread beside the harness (``--realtime``) or in its own process
  (``harness sim run NAME --bench FILE``, or ``harness certify --sim-process``);
- **external**: a real part, or a supplier's program, on the bench's bus (``--dut external``);
  nothing is built.

A provider is a :class:`DutProvider` registered in :data:`DUTS` under its name: the built-in
reference part ``cc-tcu-1`` (:mod:`harness.sim.provider`) and whatever a lab's package
declares under the entry point group ``cc_harness.duts``::

    [project.entry-points."cc_harness.duts"]
    acme-bcm = "acme_sim:PROVIDER"     # a DutProvider instance whose name is acme-bcm

Its variants (:class:`Variant`: name, the requirement it breaks, one line on how) belong to
it: ``--dut sim:acme-bcm:stuck-alive`` picks one, ``harness sim list`` lists them, and
``harness qualify`` runs them. Whichever way it is hosted, a simulated part talks only over
the python-can bus (and MQTT) it is given: it is a part, not a mock.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import can

from harness.clock import EventLoop
from harness.errors import InputError
from harness.registry import Registry

if TYPE_CHECKING:
    from harness.bench import Bench
    from harness.can.dbc import CanDatabase
    from harness.mqtt.config import BrokerAddress
    from harness.uds.exchange import DiagIds

__all__ = [
    "DEFAULT_DUT",
    "DUTS",
    "DutProvider",
    "DutSetup",
    "RunningDut",
    "Variant",
    "check_variant",
    "get_provider",
    "provider_for",
]

DEFAULT_DUT = "cc-tcu-1"
"""The provider ``--dut sim`` and ``--dut sim:VARIANT`` mean (the reference CC-TCU-1)."""

_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*\Z")
_REQUIREMENT = re.compile(r"[A-Z0-9]+-[0-9]{3}\Z")


@dataclass(frozen=True)
class Variant:
    """One faulty variant of a simulated part: which requirement it breaks and how."""

    name: str  # kebab-case
    requirement: str  # the requirement ID it breaks, e.g. "CAN-001"
    description: str  # one line: what is wrong


def check_variant(variant: Variant) -> None:
    """Refuse a variant with a name that is not kebab-case, a bad ID or a multi-line text."""
    if not _NAME.match(variant.name):
        raise ValueError(f"variant name {variant.name!r} is not kebab-case")
    if not _REQUIREMENT.match(variant.requirement):
        raise ValueError(
            f"variant {variant.name!r}: requirement {variant.requirement!r} is not an ID "
            "like 'CAN-001'"
        )
    if not variant.description or "\n" in variant.description:
        raise ValueError(f"variant {variant.name!r}: the description must be one line")


@dataclass(frozen=True)
class DutSetup:
    """What a provider builds its part from.

    ``loop`` runs the part's timers (the session's virtual-clock loop, or a real-time loop of
    its own) and ``bus`` is the part's end of the CAN bus; both belong to the caller. When
    the profile has MQTT, the part reaches the broker through ``mqtt_transport`` (simulated
    mode: a factory of transports on the session's simulated broker) or ``mqtt_address`` (real
    time: a real broker), with the command key ``psk`` and the profile's ASN.1 module.
    """

    loop: EventLoop
    bus: can.BusABC
    db: CanDatabase
    bench: Bench
    variant: str | None = None
    mqtt_transport: Callable[..., Any] | None = None
    mqtt_address: BrokerAddress | None = None
    psk: bytes = b""
    asn1: Any = None
    diag: DiagIds | None = None  # the profile's diagnostic addressing (None: the part's own)
    # every named bus of the profile: the part's end of each and its DBC (``bus`` and ``db``
    # are the first's); a part on several buses reads these
    buses: Mapping[str, can.BusABC] = field(default_factory=dict)
    dbs: Mapping[str, CanDatabase] = field(default_factory=dict)


class RunningDut(Protocol):
    """A built part: :meth:`start` is power-up, :meth:`stop` power-off (the bus stays open).

    ``part`` is the simulated object itself, for a lab's tests (``ReferenceTcu`` for
    cc-tcu-1).
    """

    @property
    def part(self) -> object: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class DutProvider(ABC):
    """A simulated part the harness can certify, with its faulty variants.

    A subclass sets ``name`` (the registry key, kebab-case), ``description`` (one line),
    ``requirement_set`` (what it implements, e.g. CC-TCU-1) and ``variants``, and builds the
    part in :meth:`build`. A variant name the provider does not know never reaches
    :meth:`build`: :meth:`variant` refuses it first.
    """

    name: str
    description: str
    requirement_set: str = ""
    variants: Mapping[str, Variant] = {}

    @abstractmethod
    def build(self, setup: DutSetup) -> RunningDut:
        """The part on ``setup.loop`` and ``setup.bus``, not yet powered up."""

    def default_dbc(self) -> Path | None:
        """The DBC the part speaks, for ``harness sim run`` without ``--dbc`` (None: none)."""
        return None

    def variant(self, name: str) -> Variant:
        """The variant ``name``; an unknown name is an InputError listing this provider's."""
        try:
            return self.variants[name]
        except KeyError:
            raise InputError(
                f"unknown simulator variant of {self.name}",
                expected=f"the name of a faulty variant of {self.name} (see 'harness sim list')",
                got=name,
                choices=sorted(self.variants) or ["(this DUT has no variants)"],
            ) from None


def _check_provider(name: str, item: object) -> None:
    """Refuse a malformed provider at registration, naming it (a plug-in's mistake)."""
    problem = None
    if not isinstance(item, DutProvider):
        problem = f"not a harness.dut.DutProvider instance but {type(item).__name__}"
    elif item.name != name:
        problem = f"it calls itself {item.name!r}"
    elif not _NAME.match(name):
        problem = "the name is not kebab-case"
    else:
        for key, variant in item.variants.items():
            try:
                check_variant(variant)
            except ValueError as exc:
                problem = str(exc)
                break
            if variant.name != key:
                problem = f"variant {variant.name!r} is listed as {key!r}"
                break
    if problem is not None:
        raise InputError(
            f"DUT provider {name!r} cannot be registered: {problem}",
            expected="a DutProvider whose name is its registry name, with kebab-case variants",
        )


DUTS: Registry[DutProvider] = Registry("DUT provider", "cc_harness.duts", check=_check_provider)
"""Every DUT provider by name. The built-in ``cc-tcu-1`` registers when
:mod:`harness.sim.provider` is imported (the session and the CLI do)."""


def get_provider(name: str) -> DutProvider:
    """The provider ``name``; an unknown name is an InputError listing the registered ones."""
    return DUTS.get(name)


def provider_for(requirement_set: str) -> str:
    """The registered provider implementing ``requirement_set`` (a profile's requirements
    id, e.g. CC-GW-1), else :data:`DEFAULT_DUT`: what a bare ``--dut sim`` qualifies."""
    for name in DUTS.names():
        if DUTS.get(name).requirement_set == requirement_set:
            return name
    return DEFAULT_DUT
