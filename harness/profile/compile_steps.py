"""Compiling the CAN steps of a case (set, wait, stop/start, send, inject, wait_frames,
noise, fuzz_can, observe): every message and signal resolved against the DBC, every check
built, into the typed step data of :mod:`harness.can.steps`. Diagnostic and MQTT steps have
their own compilers (:mod:`compile_diag`, :mod:`compile_mqtt`);
:meth:`harness.profile.compile._Compiler._step` dispatches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from harness.can.dbc import MessageCodec, SignalCodec
from harness.can.e2e import Protection
from harness.can.fuzz import CanFuzzPlan, FuzzWatchPlan
from harness.can.steps import (
    InjectFault,
    RestbusSwitch,
    SendFrame,
    SetSignals,
    SignalSet,
    WaitFrames,
)
from harness.observe import FD_LENGTHS
from harness.profile.compile_buses import pick_bus
from harness.profile.compile_diag import DiagCompiler
from harness.profile.model import (
    FuzzCanStep,
    InjectStep,
    NoiseStep,
    ObserveStep,
    SendStep,
    SetStep,
    StartStep,
    StepBase,
    StopStep,
    WaitFramesStep,
    WaitStep,
)
from harness.yamlsafe import format_path

if TYPE_CHECKING:
    from harness.plan import PlannedBus, PlannedStep

__all__ = ["compile_can_step"]


class CanStepCompiler(DiagCompiler, Protocol):
    """What the CAN step compiler needs of the profile compiler."""

    e2e: dict[str, Protection]

    buses: dict[str, PlannedBus]

    def _message(
        self, path: Sequence[str | int], name: str, bus: str | None = None
    ) -> MessageCodec: ...

    def _restbus_message(self, path: Sequence[str | int], name: str) -> MessageCodec: ...

    def _signal(self, path: Sequence[str | int], msg: MessageCodec, name: str) -> SignalCodec: ...


def compile_can_step(
    c: CanStepCompiler,
    step: StepBase,
    path: tuple[str | int, ...],
    markers: Sequence[str],
    later: Mapping[str, str] | None = None,
) -> PlannedStep:
    from harness.plan import PlannedStep

    where = format_path(path)
    name = step.name
    if isinstance(step, WaitStep):
        return PlannedStep("wait", where, name, duration=step.wait)
    if isinstance(step, ObserveStep):
        checks = tuple(
            c._check(spec, (*path, "checks", k), markers, later)
            for k, spec in enumerate(step.checks)
        )
        return PlannedStep("observe", where, name, duration=step.observe, checks=checks)
    if isinstance(step, SetStep):
        sets = []
        for key, value in step.set.items():
            kpath = (*path, "set", key)
            msg_name, dot, sig_name = key.partition(".")
            if not dot:
                raise c.err(kpath, expected="'Message.Signal' as the key", got=key)
            msg = c._restbus_message(kpath, msg_name)
            sig = c._signal(kpath, msg, sig_name)
            raw = c._resolver(path, []).raw_value(("set", key), sig, value)
            sets.append(SignalSet(msg, sig, raw))
        return PlannedStep("set", where, name, data=SetSignals(tuple(sets)))
    if isinstance(step, (StopStep, StartStep)):
        action = "stop" if isinstance(step, StopStep) else "start"
        target = step.stop if isinstance(step, StopStep) else step.start
        msg = c._restbus_message((*path, action), target)
        return PlannedStep(action, where, name, data=RestbusSwitch(msg))
    if isinstance(step, SendStep):
        frame = step.send
        try:
            data = bytes.fromhex(frame.data)
        except ValueError:
            digits = len(frame.data.replace(" ", ""))
            why = "an odd number of hex digits" if digits % 2 else "a byte split by a space"
            raise c.err(
                (*path, "send", "data"),
                f"the data has {why}",
                expected="whole hex bytes such as '01 02 FF'",
                got=frame.data,
            ) from None
        bus = pick_bus(c, (*path, "send"), frame.bus, "a raw frame")
        if frame.fd and not bus.fd:
            raise c.err(
                (*path, "send", "fd"),
                _classic(c, bus, "to send CAN FD frames"),
                expected="false",
                got="true",
            )
        if not frame.fd and frame.brs is not None:
            raise c.err((*path, "send", "brs"), "brs is for a CAN FD frame: add fd: true")
        if frame.fd and len(data) not in FD_LENGTHS:
            raise c.err(
                (*path, "send", "data"),
                f"expected a CAN FD data length ({', '.join(map(str, FD_LENGTHS))} bytes), "
                f"but got {len(data)}",
            )
        if not frame.fd and len(data) > 8:
            raise c.err(
                (*path, "send", "data"),
                f"expected at most 8 data bytes (classic CAN; fd: true on a CAN FD bus for "
                f"more), but got {len(data)}",
            )
        if not frame.extended and frame.id > 0x7FF:
            raise c.err(
                (*path, "send", "id"),
                expected="an 11-bit identifier (or extended: true)",
                got=hex(frame.id),
            )
        return PlannedStep(
            "send",
            where,
            name,
            data=SendFrame(
                frame.id,
                data,
                frame.extended,
                fd=frame.fd,
                brs=frame.fd and (bus.brs if frame.brs is None else frame.brs),
                bus=bus.name,
            ),
        )
    if isinstance(step, InjectStep):
        inject = step.inject
        msg = c._restbus_message((*path, "inject", "message"), inject.message)
        if inject.fault in ("crc", "repeat_counter") and msg.name not in c.e2e:
            raise c.err(
                (*path, "inject", "message"),
                f"fault '{inject.fault}' corrupts E2E protection, and {msg.name} has none "
                "in the profile's e2e section",
                expected="a message of the e2e section (or fault: dlc)",
                got=msg.name,
                choices=sorted(c.e2e),
            )
        prot = c.e2e.get(msg.name)
        if prot is not None and (
            (inject.fault == "crc" and prot.checksum is None)
            or (inject.fault == "repeat_counter" and prot.alive is None)
        ):
            what = "checksum" if inject.fault == "crc" else "alive counter"
            raise c.err(
                (*path, "inject", "fault"),
                f"{msg.name}'s protection ({prot.describe()}) has no {what} to corrupt",
                expected="a fault the message's scheme can show",
                got=inject.fault,
            )
        return PlannedStep(
            "inject",
            where,
            name,
            data=InjectFault(msg, inject.fault, inject.count, inject.dlc, inject.wait),
        )
    if isinstance(step, WaitFramesStep):
        msg = c._restbus_message((*path, "wait_frames", "message"), step.wait_frames.message)
        return PlannedStep("wait_frames", where, name, data=WaitFrames(msg, step.wait_frames.count))
    if isinstance(step, NoiseStep):
        noise = step.noise
        bus = pick_bus(c, (*path, "noise"), noise.bus, "a noise step (raw frames)")
        plan = CanFuzzPlan(
            ids=_fuzz_ids(c, path, "noise", noise.ids, noise.id_ranges),
            dlcs=tuple(noise.dlc),
            payload=noise.payload,
            order="random",
            rate=None,
            load_percent=noise.load_percent,
            duration=noise.duration,
            seed=noise.seed,
            bus=bus.name,
            **_fd_fuzz(c, path, "noise", noise.fd, bus),
        )
        return PlannedStep("noise", where, name, duration=noise.duration, data=plan)
    if isinstance(step, FuzzCanStep):
        fz = step.fuzz_can
        bus = pick_bus(c, (*path, "fuzz_can"), fz.bus, "a fuzz_can step (raw frames)")
        watch = None
        if fz.watch is not None:
            msg = c._message((*path, "fuzz_can", "watch", "message"), fz.watch.message, bus.name)
            watch = FuzzWatchPlan(msg.name, msg.frame_id, fz.watch.silence)
        if fz.load_percent is not None and fz.load_percent <= 0:
            raise c.err(
                (*path, "fuzz_can", "load_percent"),
                expected="a load above 0 %",
                got=fz.load_percent,
            )
        plan = CanFuzzPlan(
            ids=_fuzz_ids(c, path, "fuzz_can", fz.ids, fz.id_ranges),
            dlcs=tuple(sorted(set(fz.dlc))),
            payload=fz.payload,
            order=fz.order,
            rate=fz.rate,
            load_percent=fz.load_percent,
            duration=fz.duration,
            seed=fz.seed,
            watch=watch,
            bus=bus.name,
            **_fd_fuzz(c, path, "fuzz_can", fz.fd, bus),
        )
        checks = tuple(
            c._check(spec, (*path, "checks", k), markers, later)
            for k, spec in enumerate(step.checks)
        )
        return PlannedStep(
            "fuzz_can", where, name, duration=fz.duration or 0.0, data=plan, checks=checks
        )
    raise c.err(path, expected="a known step", got=type(step).__name__)


def _fd_fuzz(
    c: CanStepCompiler, path: Sequence[str | int], key: str, fd: bool, bus: PlannedBus
) -> dict[str, Any]:
    """The CAN FD settings of a noise or fuzz_can step (fd: true needs an FD bus)."""
    if not fd:
        return {}
    if not bus.fd:
        raise c.err(
            (*path, key, "fd"),
            _classic(c, bus, "to fuzz with CAN FD frames"),
            expected="false",
            got="true",
        )
    fast = bus.data_bitrate or bus.bitrate
    return {"fd": True, "brs": bus.brs, "fast_ratio": bus.bitrate / fast}


def _classic(c: CanStepCompiler, bus: PlannedBus, why: str) -> str:
    """The error for FD frames on a classic bus, naming how to declare it FD."""
    if c.p.buses:
        return f"bus {bus.name} is classic CAN: declare it with fd: true under buses {why}"
    return f"the profile's bus is classic CAN: declare `bus: {{fd: true, ...}}` {why}"


def _fuzz_ids(
    c: CanStepCompiler,
    path: Sequence[str | int],
    key: str,
    ids: Sequence[int],
    ranges: Sequence[Sequence[int]],
) -> tuple[int, ...]:
    out = set(ids)
    for k, (lo, hi) in enumerate(ranges):
        if hi < lo:
            raise c.err(
                (*path, key, "id_ranges", k),
                expected=f"[low, high] with low <= high, e.g. [0x{hi:X}, 0x{lo:X}]",
                got=f"[0x{lo:X}, 0x{hi:X}]",
            )
        out.update(range(lo, hi + 1))
    return tuple(sorted(out))
