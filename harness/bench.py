"""The bench: which bus the harness and the DUT meet on, and how to open it.

A bench file says which python-can interface and channel to use (``virtual``,
``udp_multicast``, ``socketcan``, ``pcan``, ``vector``, ...), the bitrate and any extra
interface options, and how the simulator identifies itself when it plays the DUT::

    format: cc-harness-bench/1
    name: lab bench 3
    can:
      interface: udp_multicast
      channel: 239.74.163.2
      options: {port: 43113}
    dut:
      station_id: 0x0C0FFEE1

``can.receive_buffer`` (bytes) sets a socket-based interface's kernel receive buffer
(default 8 MiB); frames lost before the harness read them are counted in ``run.json``.

Without a bench file the harness uses python-can's ``virtual`` interface in real time, and
its own in-memory bus on the virtual clock in simulated mode.
"""

from __future__ import annotations

import difflib
import os
import uuid
from pathlib import Path
from typing import Any, Literal

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

from harness.errors import BenchError, InterfaceError
from harness.mqtt.config import MqttBenchConfig
from harness.profile.errors import describe_value, located_error
from harness.uds.config import DiagBenchConfig
from harness.yamlsafe import YamlDocument, load_yaml_file

__all__ = ["Bench", "CanConfig", "DutConfig", "load_bench", "open_bus"]

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
    station_id: int = Field(default=0x0C0FFEE1, ge=0, le=0xFFFFFFFF)
    vin: str = Field(default="KMHCC00TCU1000001", min_length=17, max_length=17)
    serial: str = Field(default="CCTCU0000001", min_length=12, max_length=12)
    sw_version: str = "CCTCU-1.0.0"
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
    source: str | None = Field(default=None, exclude=True)

    def describe(self) -> dict[str, Any]:
        """The bench as it goes into records and reports (no secrets live here)."""
        return {
            "name": self.name,
            "source": self.source,
            "can": {
                "interface": self.can.interface,
                "channel": self.can.channel,
                "bitrate": self.can.bitrate,
                "options": dict(self.can.options),
            },
            "mqtt": self._describe_mqtt(),
        }

    def _describe_mqtt(self) -> dict[str, Any]:
        # An allow-list: the password, the PSK and their variables' values never appear.
        broker = self.mqtt.broker
        if broker is None:
            return {"broker": "embedded"}
        return {
            "broker": {
                "host": broker.host,
                "port": broker.port,
                "protocol": broker.protocol,
                "username": broker.username,
                "tls": broker.tls is not None,
            }
        }

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


def _interfaces() -> list[str]:
    names = set(can.interfaces.VALID_INTERFACES)
    names.add(SIM_INTERFACE)
    return sorted(names)


def load_bench(path: str | os.PathLike[str] | None) -> Bench:
    """The bench from a file, or the defaults when ``path`` is None."""
    if path is None:
        return Bench()
    doc = load_yaml_file(path, error_cls=BenchError)
    return bench_from_document(doc)


def bench_from_document(doc: YamlDocument) -> Bench:
    if not isinstance(doc.data, dict):
        raise doc.error(
            BenchError,
            (),
            message="expected a mapping of bench keys (format, name, can, dut) at the top, "
            f"but got {describe_value(doc.data)}",
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
    try:
        bench = Bench.model_validate(doc.data)
    except ValidationError as exc:
        raise located_error(exc, doc, Bench, {}, BenchError) from None
    if bench.can.interface not in _interfaces():
        names = _interfaces()
        close = difflib.get_close_matches(bench.can.interface, names, n=2)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        # Every name, not the first 20 the choices list shows: 'virtual' sorts last.
        raise doc.error(
            BenchError,
            ("can", "interface"),
            message=f"unknown interface '{bench.can.interface}'; {hint}"
            f"expected a python-can interface: {', '.join(names)}",
        )
    return bench.model_copy(update={"source": str(Path(doc.source))})


def open_bus(config: CanConfig, **extra: Any) -> can.BusABC:
    """Open the configured python-can bus; a failure is an :class:`InterfaceError` (exit 3)."""
    kwargs: dict[str, Any] = dict(config.options)
    kwargs.update(extra)
    if config.bitrate is not None and config.interface not in ("virtual", "udp_multicast"):
        kwargs.setdefault("bitrate", config.bitrate)
    try:
        return can.Bus(interface=config.interface, channel=config.channel, **kwargs)
    except (can.CanError, OSError, ValueError, ImportError, TypeError) as exc:
        hint = _OPEN_HINTS.get(config.interface, _OPEN_HINT)
        raise InterfaceError(
            f"cannot open CAN interface {config.interface!r} channel {config.channel!r}: "
            f"{str(exc).rstrip('.')}; check {hint.format(channel=config.channel)}, and the "
            "bench file's can.interface, can.channel and can.options"
        ) from None


_OPEN_HINT = "that the interface is connected and its driver installed"
_OPEN_HINTS = {
    "socketcan": "that the network interface exists and is up ('ip link show {channel}') "
    "and that this kernel has SocketCAN",
    "udp_multicast": "that the channel is an IPv4 or IPv6 multicast group address "
    "(such as 239.74.163.2) and that this host has a multicast route",
    "virtual": "the channel name",
}
