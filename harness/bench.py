"""The bench: which bus the harness and the DUT meet on, and how to open it.

A bench file says which python-can interface and channel to use (``virtual``,
``udp_multicast``, ``socketcan``, ``pcan``, ``vector``, ...), the bitrate and any extra
interface options, the identity items of a part without DIDs for them, and the part's
conformance statement (which optional features it has, see :mod:`harness.conformance`)::

    format: cc-harness-bench/1
    name: lab bench 3
    can:
      interface: udp_multicast
      channel: 239.74.163.2
      options: {port: 43113}
    dut:
      identity: {serial: EPS0000000000001}   # the profile's identity items without a DID
    conformance:
      features: {will: false}                # --ics FILE wins

``dut.station_id``, ``vin``, ``serial`` and ``sw_version`` configure only the built-in
simulator's own identity; an external part's identity is never taken from them.

``can.receive_buffer`` (bytes) sets a socket-based interface's kernel receive buffer
(default 8 MiB); frames lost before the harness read them are counted in ``run.json``.

Without a bench file the harness uses python-can's ``virtual`` interface in real time, and
its own in-memory bus on the virtual clock in simulated mode.

A profile with several named buses (its ``buses`` section) needs each bus mapped to its
interface and channel: ``can`` is then a mapping of bus names, all on one clock::

    can:
      backbone: {interface: socketcan, channel: can0, options: {fd: true}}
      body: {interface: socketcan, channel: can1}

The single form (``can: {interface, channel, ...}``) maps to the sole bus of a one-bus
profile; with ``virtual`` (and without a bench file) each bus of a several-bus profile gets
a channel of its own (``CHANNEL.NAME``). A bus name the profile does not declare, or a bus of
the profile missing here, is an error naming the place (exit 2).
"""

from __future__ import annotations

import contextlib
import difflib
import os
import socket
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import can
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

from harness.bench_realtime import RealtimeBenchConfig
from harness.can.interfaces import interface_options
from harness.conformance import BenchConformance
from harness.errors import BenchError, InterfaceError
from harness.mqtt.config import MqttBenchConfig
from harness.profile.errors import describe_shape, located_error
from harness.uds.config import DiagBenchConfig
from harness.yamlsafe import YamlDocument, load_yaml_file

__all__ = [
    "Bench",
    "CanConfig",
    "DutConfig",
    "RealtimeBenchConfig",
    "check_references",
    "fd_config",
    "interface_options",
    "load_bench",
    "open_bus",
    "with_fd",
]

SIM_INTERFACE = "harness_sim"
# Interfaces that hand a process its own frames back (python-can issue: udp_multicast).
ECHOING_INTERFACES = frozenset({"udp_multicast"})

OptionValue = StrictInt | StrictFloat | StrictStr | StrictBool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class CanConfig(_Strict):
    interface: str = Field(default="virtual", description="python-can interface name")
    channel: StrictStr | StrictInt | None = None
    bitrate: int | None = Field(default=None, gt=0, le=1_000_000)
    options: dict[str, OptionValue] = Field(
        default_factory=dict, description="further keyword arguments for can.Bus"
    )
    receive_buffer: int | None = Field(
        default=None,
        ge=1,
        le=1 << 30,
        description="bytes of kernel receive buffer asked for a socket-based interface "
        "(udp_multicast, socketcan); default 8 MiB (rmem_max caps it unless root)",
    )


class DutConfig(_Strict):
    """The part on this bench. ``identity`` gives the values of the profile's identity items
    that have no DID (a part without diagnostics); items with a DID are always read from the
    part. ``station_id``, ``vin``, ``serial`` and ``sw_version`` configure the built-in
    simulator when it plays the DUT (it has its own identity otherwise): they are never taken
    as an external part's identity."""

    identity: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")], StrictStr] = (
        Field(
            default_factory=dict,
            description="identity item -> value, for the profile's items without a DID",
        )
    )
    station_id: int | None = Field(
        default=None, ge=0, le=0xFFFFFFFF, description="the simulator's station id"
    )
    vin: str | None = Field(
        default=None, min_length=17, max_length=17, description="the simulator's VIN"
    )
    serial: str | None = Field(
        default=None,
        min_length=12,
        max_length=16,
        description="the simulator's serial (12 characters for cc-tcu-1, 16 for cc-gw-1)",
    )
    sw_version: str | None = Field(default=None, description="the simulator's software version")
    firmware_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 (lower-case hex) of the DUT's firmware image; certificates "
        "name it as a second subject",
    )


class Bench(_Strict):
    format: Literal["cc-harness-bench/1"] = "cc-harness-bench/1"
    name: str = "default bench"
    can: CanConfig = Field(default_factory=CanConfig)
    dut: DutConfig = Field(default_factory=DutConfig)
    mqtt: MqttBenchConfig = Field(
        default_factory=MqttBenchConfig, description="V2X broker and remote-command key"
    )
    diagnostics: DiagBenchConfig = Field(
        default_factory=DiagBenchConfig, description="this lab tester's ISO-TP framing"
    )
    conformance: BenchConformance | None = Field(
        default=None,
        description="the part's implementation conformance statement: which optional "
        "features of the profile it has (harness.conformance; --ics FILE wins)",
    )
    realtime: RealtimeBenchConfig = Field(
        default_factory=RealtimeBenchConfig,
        description="real-time runs: the scheduling priority of their processes",
    )
    source: str | None = Field(default=None, exclude=True)
    # ``can`` as a mapping of bus names (``can`` is then the first's), and where each name is
    can_buses: dict[str, CanConfig] = Field(default_factory=dict, exclude=True)
    can_marks: dict[str, tuple[int, int]] = Field(default_factory=dict, exclude=True)

    def bus_configs(self, buses: Sequence[str]) -> dict[str, CanConfig]:
        """The interface of each of the profile's ``buses`` (names, first is the primary).

        A mapped bench must name exactly those buses; the single form serves one bus, or
        several on ``virtual`` (a channel each); anything else is a :class:`BenchError`.
        """
        names = list(buses)
        if self.can_buses:
            for name in self.can_buses:
                if name not in names:
                    raise self._error(
                        name,
                        f"no bus '{name}' in the profile",
                        expected="a bus the profile declares",
                        choices=names,
                        got=name,
                    )
            missing = [n for n in names if n not in self.can_buses]
            if missing:
                raise self._error(
                    None,
                    f"no interface for the profile's bus(es) {', '.join(missing)}",
                    expected=f"can: a mapping of every bus of the profile ({', '.join(names)}) "
                    "to {interface, channel, ...}",
                    choices=names,
                )
            return {n: self.can_buses[n] for n in names}
        if len(names) == 1:
            return {names[0]: self.can}
        if self.can.interface != "virtual":
            raise self._error(
                None,
                f"the profile has {len(names)} buses ({', '.join(names)}) and this bench one "
                f"{self.can.interface} interface",
                expected=f"can: a mapping of every bus ({', '.join(names)}) to "
                "{interface, channel, ...}",
                choices=names,
            )
        base = self.can.channel if self.can.channel is not None else "cc-harness"
        return {
            n: self.can.model_copy(update={"channel": f"{base}.{n}"}) if i else self.can
            for i, n in enumerate(names)
        }

    def _error(
        self,
        name: str | None,
        message: str,
        expected: str,
        choices: Sequence[str],
        got: str | None = None,
    ) -> BenchError:
        mark = self.can_marks.get(name or "")
        return BenchError(
            message,
            source=self.source or "bench",
            line=mark[0] if mark else None,
            col=mark[1] if mark else None,
            path="can" + (f".{name}" if name else ""),
            expected=expected,
            got=got,
            choices=choices,
        )

    def describe(self) -> dict[str, Any]:
        """The bench as it goes into records and reports (no secrets live here)."""
        out = {
            "name": self.name,
            "source": self.source,
            "can": _describe_can(self.can),
            "mqtt": self._describe_mqtt(),
        }
        if self.can_buses:  # a bench of several named buses
            out["can_buses"] = {n: _describe_can(c) for n, c in self.can_buses.items()}
        return out

    def _describe_mqtt(self) -> dict[str, Any]:
        # An allow-list: the password, the PSK and their variables' values never appear.
        broker = self.mqtt.broker
        if broker is None:
            return {"broker": "embedded"}
        out: dict[str, Any] = {
            "broker": {
                "host": broker.host,
                "port": broker.port,
                "protocol": broker.protocol,
                "username": broker.username,
                "tls": broker.tls is not None,
            }
        }
        relay = self.mqtt.relay
        if relay is not None:  # the address the part connects to (harness/mqtt/relay.py)
            out["relay"] = f"{relay.host}:{relay.port}"
        return out

    def with_channel_default(self) -> Bench:
        """A bench whose ``virtual`` channel is unique to this process unless one is set."""
        if self.can.channel is not None:
            return self
        if self.can.interface == "virtual":
            chan: str | None = f"cc-harness-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        elif self.can.interface == "udp_multicast":
            chan = "239.74.163.2"
        else:
            return self
        return self.model_copy(update={"can": self.can.model_copy(update={"channel": chan})})


def _describe_can(can: CanConfig) -> dict[str, Any]:
    return {
        "interface": can.interface,
        "channel": can.channel,
        "bitrate": can.bitrate,
        "options": dict(can.options),
    }


class _CanBuses(_Strict):
    """The ``can`` mapping of a bench for several named buses (validated on its own)."""

    can: dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")], CanConfig]


def _bus_map(value: object) -> bool:
    """Whether ``can:`` is a mapping of bus names (no key of its own, every value a mapping)."""
    return (
        isinstance(value, dict)
        and bool(value)
        and not any(k in CanConfig.model_fields for k in value)
        and all(isinstance(v, dict) for v in value.values())
    )


def _interfaces() -> list[str]:
    names = set(can.interfaces.VALID_INTERFACES)
    names.add(SIM_INTERFACE)
    return sorted(names)


def load_bench(path: str | os.PathLike[str] | None) -> Bench:
    """The bench from a file, or the defaults when ``path`` is None."""
    if path is None:
        return Bench()
    doc = load_yaml_file(path, error_cls=BenchError, kind_marker=("format", "cc-harness-bench/1"))
    return bench_from_document(doc)


def bench_from_document(doc: YamlDocument) -> Bench:
    if not isinstance(doc.data, dict):
        raise doc.error(
            BenchError,
            (),
            message="expected a mapping of bench keys (format, name, can, dut) at the top, "
            f"but got {describe_shape(doc.data)}",
        )
    if "format" not in doc.data:
        raise doc.error(
            BenchError,
            (),
            message="missing required key 'format' (the bench format version): "
            "write 'format: cc-harness-bench/1' first",
        )
    if doc.data.get("format") != "cc-harness-bench/1":
        raise doc.error(
            BenchError,
            ("format",),
            expected="format: cc-harness-bench/1 (the bench format version)",
            got=doc.data.get("format"),
        )
    for key in ("can_buses", "can_marks"):
        if key in doc.data:
            raise doc.error(BenchError, (key,), message=f"unknown key '{key}'")
    data = dict(doc.data)
    buses: dict[str, CanConfig] = {}
    if _bus_map(data.get("can")):
        try:
            buses = _CanBuses.model_validate({"can": data["can"]}).can
        except ValidationError as exc:
            raise located_error(exc, doc, _CanBuses, {}, BenchError) from None
        data["can"] = data["can"][next(iter(buses))]
    try:
        bench = Bench.model_validate(data)
    except ValidationError as exc:
        raise located_error(exc, doc, Bench, {}, BenchError) from None
    places = {n: ("can", n) for n in buses} if buses else {"": ("can",)}
    for name, place in places.items():
        _check_can(buses.get(name, bench.can), doc, place)
    marks = {
        n: (m.line, m.col)
        for n in buses
        if (m := doc.key_marks.get(("can", n)) or doc.mark_for(("can", n)))
    }
    if (m := doc.mark_for(("can",))) is not None:
        marks[""] = (m.line, m.col)
    return bench.model_copy(
        update={"source": str(Path(doc.source)), "can_buses": buses, "can_marks": marks}
    )


def _check_can(config: CanConfig, doc: YamlDocument, place: tuple[str, ...]) -> None:
    """The interface is python-can's and takes every option given."""
    if config.interface not in _interfaces():
        names = _interfaces()
        close = difflib.get_close_matches(config.interface, names, n=2)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        # Every name, not the first 20 the choices list shows: 'virtual' sorts last.
        raise doc.error(
            BenchError,
            (*place, "interface"),
            message=f"unknown interface '{config.interface}'; {hint}"
            f"expected a python-can interface: {', '.join(names)}",
        )
    _check_options(config, doc, place)


def _check_options(config: CanConfig, doc: YamlDocument, place: tuple[str, ...]) -> None:
    """A bench option the interface does not take is an error naming it (python-can would
    silently ignore it, and the lab would run on a bus configured otherwise than written)."""
    known = interface_options(config.interface)
    if known is None:
        return
    for name in config.options:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=2)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise doc.error(
                BenchError,
                (*place, "options", name),
                message=f"python-can interface {config.interface} takes no option '{name}'{hint}",
                choices=sorted(known),
            )


def check_references(bench: Bench, *, broker: bool = True) -> None:
    """Resolve now what the bench names outside itself (the command PSK; with ``broker``, the
    broker password and TLS files, which only real-time runs use), so a bad reference fails
    before any evidence folder is created."""
    from harness.mqtt.config import BrokerAddress

    bench.mqtt.resolve_psk()
    if broker and bench.mqtt.broker is not None:
        base = Path(bench.source).parent if bench.source else None
        BrokerAddress.from_config(bench.mqtt.broker, base)


def with_fd(bench: Bench, plan: Any) -> Bench:
    """``bench`` with python-can's FD keyword arguments added to can.options for a profile on
    a CAN FD bus (``plan.fd``): ``fd: true``, and on a real interface the profile's
    ``data_bitrate``; what the bench's can.options give wins. Both ends opened from it (the
    harness's and a simulated part's, in a thread or its own process) can carry FD frames."""
    config = fd_config(bench.can, getattr(plan, "fd", False), getattr(plan, "data_bitrate", 0))
    if config is bench.can:
        return bench
    return bench.model_copy(update={"can": config})


def fd_config(config: CanConfig, fd: bool, data_bitrate: int) -> CanConfig:
    """``config`` with ``fd: true`` (and on a real interface ``data_bitrate``) added to its
    options for a CAN FD bus; its own options win; unchanged (the same object) otherwise."""
    if not fd:
        return config
    found: dict[str, OptionValue] = {"fd": True}
    if config.interface not in ("virtual", "udp_multicast") and data_bitrate:
        found["data_bitrate"] = data_bitrate
    options = {**found, **config.options}
    if options == config.options:
        return config
    return config.model_copy(update={"options": options})


def open_bus(config: CanConfig, **extra: Any) -> can.BusABC:
    """Open the configured python-can bus; a failure is an :class:`InterfaceError` (exit 3)."""
    kwargs: dict[str, Any] = dict(config.options)
    kwargs.update(extra)
    if config.bitrate is not None and config.interface not in ("virtual", "udp_multicast"):
        kwargs.setdefault("bitrate", config.bitrate)
    try:
        bus = can.Bus(interface=config.interface, channel=config.channel, **kwargs)
    except (can.CanError, OSError, ValueError, ImportError, TypeError) as exc:
        hint = _OPEN_HINTS.get(config.interface, _OPEN_HINT)
        raise InterfaceError(
            f"cannot open CAN interface {config.interface!r} channel {config.channel!r}: "
            f"{str(exc).rstrip('.')}; check {hint.format(channel=config.channel)}, and the "
            "bench file's can.interface, can.channel and can.options"
        ) from None
    if config.interface == "udp_multicast":
        _widen_receive_buffer(bus)
    return bus


UDP_RECEIVE_BUFFER = 4 * 1024 * 1024


def _widen_receive_buffer(bus: can.BusABC) -> None:
    """Every process on a udp_multicast bus also receives its own frames back: at 50 % bus
    load that is some 2000 datagrams a second, and the kernel's default receive buffer
    (about 200 KiB, a few hundred datagrams) overflows after a stall of about 100 ms on a busy
    machine, silently dropping the other side's frames. A larger buffer (up to the system's
    net.core.rmem_max) rides out such stalls; python-can has no option for it, so this sets
    it on the bus's socket where the interface keeps it, and does nothing if it does not."""
    sock = getattr(getattr(bus, "_multicast", None), "_socket", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)


_OPEN_HINT = "that the interface is connected and its driver installed"
_OPEN_HINTS = {
    "socketcan": "that the network interface exists and is up ('ip link show {channel}') "
    "and that this kernel has SocketCAN",
    "udp_multicast": "that the channel is an IPv4 or IPv6 multicast group address "
    "(such as 239.74.163.2) and that this host has a multicast route",
    "virtual": "the channel name",
}
