"""Load a profile file and compile it into a :class:`Plan`: every name resolved, nothing run.

Loading is strict (see :mod:`harness.yamlsafe`); validation is the pydantic models of
:mod:`harness.profile.model`; then every message, signal, value, marker and check kind is
resolved against the DBC and the case, so that a profile which loads is a profile which can
run. Errors name ``file:line:col``, the path in the document, what was expected and what was
found. Nothing here touches a bus.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.can.dbc import MessageCodec, SignalCodec
from harness.can.steps import SignalSet
from harness.checks import CHECKS, Check, Resolver
from harness.checks.spec import check_params_models
from harness.errors import ProfileError
from harness.mqtt.plan import MqttPlan
from harness.plan import Plan, PlannedCase, PlannedStep, RestbusPlan
from harness.profile.compile_buses import (
    CaseResolver,
    DbcFiles,
    buses_digest,
    compile_buses,
    locate_message,
    pick_bus,
)
from harness.profile.compile_diag import (
    DIAG_STEPS,
    check_diag_format,
    compile_diag_step,
    diag_config,
    identity_dids,
)
from harness.profile.compile_e2e import compile_e2e
from harness.profile.compile_identity import check_identity
from harness.profile.compile_mqtt import compile_mqtt_section, compile_mqtt_step
from harness.profile.compile_prompt import compile_prompt_step
from harness.profile.compile_steps import compile_can_step
from harness.profile.errors import TaggedUnions, describe_shape, located_error
from harness.profile.model import (
    STEP_MODELS,
    Case,
    Profile,
    StepBase,
)
from harness.profile.mqtt_model import MQTT_STEP_TYPES
from harness.profile.oracle_model import profile_oracle
from harness.profile.prompt_model import PromptStep
from harness.safeio import YAML, read_input
from harness.uds.oracle import UdsOracle
from harness.yamlsafe import YamlDocument, format_path, load_yaml_text

__all__ = [
    "Plan",
    "PlannedCase",
    "PlannedStep",
    "RestbusPlan",
    "SignalSet",
    "load_profile",
    "load_profile_text",
]


def unions() -> TaggedUnions:
    """The tagged unions of the profile models, checks as registered now."""
    return {"step": dict(STEP_MODELS), "check": dict(check_params_models())}


PROFILE_MARKER = ("format", "cc-harness-profile/1")
"""What makes a YAML file a profile: only then may an error quote its values."""


def load_profile(
    path: str | os.PathLike[str],
    display: str | None = None,
    *,
    dbc_override: str | os.PathLike[str] | DbcFiles | None = None,
) -> Plan:
    """Load, validate and compile the profile at ``path``.

    ``dbc_override`` loads that DBC file instead of the one the profile names (an evidence
    folder keeps the profile and its DBC side by side, not at their original paths), that
    folder's ``BUS/FILE`` for each bus, or :class:`DbcFiles` a file per bus name.
    """
    shown = display or str(path)
    raw = read_input(path, YAML, error_cls=ProfileError, display=shown)
    doc = load_yaml_text(raw, shown, error_cls=ProfileError, kind_marker=PROFILE_MARKER)
    return _compile(
        doc,
        raw,
        Path(path).resolve().parent,
        Path(path),
        dbc_override
        if dbc_override is None or isinstance(dbc_override, DbcFiles)
        else Path(dbc_override),
    )


def load_profile_text(text: str, source: str, base_dir: str | os.PathLike[str]) -> Plan:
    """Load a profile from text (``base_dir`` resolves its DBC path)."""
    doc = load_yaml_text(text, source, error_cls=ProfileError, kind_marker=PROFILE_MARKER)
    return _compile(doc, text.encode(), Path(base_dir), Path(base_dir) / source)


def _compile(
    doc: YamlDocument,
    raw: bytes,
    base_dir: Path,
    path: Path,
    dbc_override: Path | DbcFiles | None = None,
) -> Plan:
    if not isinstance(doc.data, dict):
        raise doc.error(
            ProfileError,
            (),
            message="expected a mapping of profile keys (format, profile, dbc, dut, cases, ...) "
            f"at the top, but got {describe_shape(doc.data)}",
        )
    if "format" not in doc.data:
        raise doc.error(
            ProfileError,
            (),
            message="missing required key 'format' (the profile format version): "
            "write 'format: cc-harness-profile/1' first",
        )
    fmt = doc.data.get("format")
    if fmt != "cc-harness-profile/1":
        raise doc.error(
            ProfileError,
            ("format",),
            expected="format: cc-harness-profile/1 (the profile format version)",
            got=fmt,
        )
    try:
        profile = Profile.model_validate(doc.data)
    except ValidationError as exc:
        raise located_error(exc, doc, Profile, unions(), ProfileError) from None
    return _Compiler(doc, profile, raw, base_dir, path, dbc_override).plan()


class _Compiler:
    def __init__(
        self,
        doc: YamlDocument,
        profile: Profile,
        raw: bytes,
        base_dir: Path,
        path: Path,
        dbc_override: Path | DbcFiles | None = None,
    ) -> None:
        self.doc = doc
        self.p = profile
        self.raw = raw
        self.base_dir = base_dir
        self.path = path
        self.dbc_override = dbc_override

    def err(self, path: Sequence[str | int], message: str | None = None, **kw: Any) -> ProfileError:
        return self.doc.error(ProfileError, path, message=message, **kw)

    def plan(self) -> Plan:
        p = self.p
        self.buses = compile_buses(self, self.base_dir, self.dbc_override)
        first = next(iter(self.buses.values()))
        db = first.dbc
        dbc_path = first.dbc_path
        self.db = db
        if p.bus is not None and "bitrate" in p.model_fields_set:
            raise self.err(
                ("bitrate",),
                "the bit rate is given twice: with a bus section, give it as bus.bitrate",
                expected="bus.bitrate only",
                got=str(p.bitrate),
            )
        bus = p.bus_spec()
        self.fd = bus.fd
        e2e = {name: compile_e2e(self, name, spec) for name, spec in p.e2e.items()}
        self.e2e = e2e
        self.mqtt: MqttPlan | None = None
        if p.mqtt is not None:
            near = (dbc_path.parent, dbc_path.parent.parent / "mqtt") if self.dbc_override else ()
            self.mqtt = compile_mqtt_section(p.mqtt, self.base_dir, self.err, near)
        check_identity(p, self.err)
        self.oracle = profile_oracle(p, self.err)  # the part's diagnostic facts, if declared
        node = p.dut.node
        nodes = list(dict.fromkeys(n for b in self.buses.values() for n in b.dbc.nodes()))
        if node not in nodes:
            sources = ", ".join(b.dbc.source for b in self.buses.values())
            raise self.err(
                ("dut", "node"),
                f"no node {node} in {sources}{_hint(node, nodes)}",
                expected="a node (BU_) of the DBC",
                got=node,
                choices=nodes,
            )
        dut_messages = tuple(
            m for b in self.buses.values() for m in b.dbc.messages.values() if node in m.senders
        )
        ready_bus, ready = locate_message(
            self,
            ("dut", "ready", "message"),
            p.dut.ready.message,
            p.dut.ready.bus,
            ("dut", "ready"),
        )
        self.dut_names = [m.name for m in dut_messages]
        restbus = tuple(self._restbus(name) for name in p.restbus)
        self.restbus_names = [r.message.name for r in restbus]
        diag_bus = (
            pick_bus(self, ("diagnostics",), p.diagnostics.bus, "")
            if p.diagnostics.bus is not None
            else first
        )
        check_diag_format(self, p.diagnostics, diag_bus.fd)
        self.diag_bus_fd = diag_bus.fd
        req_ids = tuple(p.profile.requirements.ids)
        before_names: dict[str, str] = {}
        before_steps: list[PlannedStep] = []
        for i, step in enumerate(p.before_each):
            planned = self._step(step, ("before_each", i), [])
            self._name_step(planned, ("before_each", i), before_names)
            before_steps.append(planned)
        before = tuple(before_steps)
        cases: list[PlannedCase] = []
        seen: dict[str, int] = {}
        for ci, case in enumerate(p.cases):
            if case.id in seen:
                raise self.err(
                    ("cases", ci, "id"),
                    f"case id '{case.id}' is used twice (first at cases[{seen[case.id]}])",
                )
            seen[case.id] = ci
            cases.append(self._case(case, ci, req_ids, before_names))
        return Plan(
            profile=p,
            source=self.doc.source,
            path=self.path,
            digest=hashlib.sha256(self.raw).hexdigest(),
            dbc=db,
            dbc_path=dbc_path,
            dbc_digest=buses_digest(tuple(self.buses.values()), hashlib.sha256),
            bitrate=bus.bitrate,
            fd=bus.fd,
            data_bitrate=bus.fast_bitrate if bus.fd else 0,
            brs=bus.fd and bus.brs,
            e2e=e2e,
            restbus=restbus,
            dut_messages=dut_messages,
            ready_message=ready,
            ready_timeout=p.dut.ready.timeout,
            ready_lost_after=p.dut.ready.lost_after,
            before_each=before,
            cases=tuple(cases),
            requirement_ids=req_ids,
            extra={"mqtt": self.mqtt} if self.mqtt is not None else {},
            diag_config=diag_config(p.diagnostics),
            identity_dids=identity_dids(p),
            buses=tuple(self.buses.values()),
            ready_bus=ready_bus.name,
            diag_bus=diag_bus.name,
        )

    def diag_oracle(self) -> UdsOracle | None:
        """The oracle the profile's ``diagnostics: oracle:`` declares (None: none)."""
        if not hasattr(self, "oracle"):
            self.oracle = profile_oracle(self.p, self.err)
        return self.oracle

    def _name_step(
        self, planned: PlannedStep, path: tuple[str | int, ...], names: dict[str, str]
    ) -> None:
        """Record a step's name; a name used twice (in the case or before_each) is an error."""
        if not planned.name:
            return
        first = names.get(planned.name)
        if first is not None:
            raise self.err(
                (*path, "name"),
                f"step name '{planned.name}' is used twice (first at {first}); "
                "checks refer to steps by name, so each name must be unique",
            )
        names[planned.name] = format_path(path)

    # -- references ---------------------------------------------------------------------------
    def _message(
        self, path: Sequence[str | int], name: str, bus: str | None = None
    ) -> MessageCodec:
        """A message of the profile's DBCs, on bus ``bus`` or the one bus that has it."""
        return locate_message(self, path, name, bus)[1]

    def _signal(self, path: Sequence[str | int], msg: MessageCodec, name: str) -> SignalCodec:
        if name not in msg.signals:
            raise self.err(
                path,
                f"message {msg.name} has no such signal{_hint(name, msg.signals)}",
                expected=f"a signal of {msg.name}",
                got=name,
                choices=sorted(msg.signals),
            )
        return msg.signals[name]

    def _resolver(
        self,
        base: tuple[str | int, ...],
        markers: Sequence[str],
        later: Mapping[str, str] | None = None,
    ) -> Resolver:
        return self._case_resolver(base, markers, later)

    def _case_resolver(
        self,
        base: tuple[str | int, ...],
        markers: Sequence[str],
        later: Mapping[str, str] | None = None,
    ) -> CaseResolver:
        resolver = CaseResolver(
            self.db,
            self.e2e,
            markers,
            lambda path, **kw: self.err(path, **kw),
            base,
            self.dut_names,
            later=later or {},
        )
        resolver.mqtt = getattr(self, "mqtt", None)
        resolver.diagnostics = self.p.diagnostics
        resolver.diag_oracle = self.diag_oracle()
        resolver.fd = getattr(self, "fd", False)
        resolver.buses = getattr(self, "buses", {})
        return resolver

    def _restbus(self, name: str) -> RestbusPlan:
        spec = self.p.restbus[name]
        bus, msg = locate_message(self, ("restbus", name), name, spec.bus)
        if msg.outside:  # a lenient reading kept them; no frame of msg.length can carry them
            raise self.err(
                ("restbus", name),
                f"the harness cannot send {name}: signal(s) {', '.join(sorted(msg.outside))} "
                f"lie beyond its {msg.length} data bytes in {bus.dbc.source}",
            )
        resolver = self._resolver(("restbus", name), [])
        values = {sig: 0 for sig in msg.signals}
        for sig_name, value in spec.signals.items():
            sig = self._signal(("restbus", name, "signals", sig_name), msg, sig_name)
            values[sig_name] = resolver.raw_value(("signals", sig_name), sig, value)
        cycle = spec.cycle if spec.cycle is not None else msg.cycle_time
        if not cycle:
            raise self.err(
                ("restbus", name),
                f"{name} has no GenMsgCycleTime in {bus.dbc.source}: "
                "give the rest-bus message a cycle, e.g. 'cycle: 100 ms'",
            )
        fd = bus.fd and (msg.is_fd or msg.length > 8)  # the DBC's frame format, on an FD bus
        return RestbusPlan(
            msg,
            values,
            cycle,
            spec.enabled,
            self.e2e.get(name),
            fd=fd,
            brs=fd and bus.brs,
            bus=bus.name,
        )

    def _restbus_message(self, path: Sequence[str | int], name: str) -> MessageCodec:
        msg = self._message(path, name)
        if name not in self.restbus_names:
            raise self.err(
                path,
                "the harness only changes messages it sends",
                expected="a message of the restbus section",
                got=name,
                choices=self.restbus_names,
            )
        return msg

    # -- cases and steps ----------------------------------------------------------------------
    def _case(
        self, case: Case, ci: int, req_ids: tuple[str, ...], before_names: dict[str, str]
    ) -> PlannedCase:
        base: tuple[str | int, ...] = ("cases", ci)
        for ri, req in enumerate(case.requirements):
            if req not in req_ids:
                raise self.err(
                    (*base, "requirements", ri),
                    "not a requirement of the set this profile traces",
                    expected="a requirement ID listed under profile.requirements.ids",
                    got=req,
                    choices=list(req_ids),
                )
        for ni, need in enumerate(case.needs):
            if need not in self.p.features:
                raise self.err(
                    (*base, "needs", ni),
                    "not an optional feature of this profile",
                    expected="a feature declared under features",
                    got=need,
                    choices=list(self.p.features) or ["(the profile declares no features)"],
                )
        names = dict(before_names)
        # Every named step of the case, so that a check naming a later one is told so.
        later: dict[str, str] = {}
        for si, s in enumerate(case.steps):
            step_name = getattr(s, "name", None)
            if step_name and step_name not in names and step_name not in later:
                later[step_name] = format_path((*base, "steps", si))
        steps: list[PlannedStep] = []
        for si, step in enumerate(case.steps):
            planned = self._step(step, (*base, "steps", si), list(names), later)
            self._name_step(planned, (*base, "steps", si), names)
            steps.append(planned)
        checks = tuple(
            self._check(spec, (*base, "checks", k), list(names))
            for k, spec in enumerate(case.checks)
        )
        traced = list(case.requirements)
        for check in (*checks, *(c for s in steps for c in s.checks)):
            if not check.requirements:  # a check shows its case's declared requirements
                check.requirements = tuple(case.requirements)
            traced.extend(r for r in check.requirements if r not in traced)
        return PlannedCase(
            case_id=case.id,
            title=case.title,
            requirements=tuple(traced),
            mandatory=case.mandatory,
            steps=tuple(steps),
            checks=checks,
            path=format_path(base),
            needs=tuple(case.needs),
        )

    def _check(
        self,
        spec: BaseModel,
        path: tuple[str | int, ...],
        markers: Sequence[str],
        later: Mapping[str, str] | None = None,
    ) -> Check:
        kind = getattr(spec, "kind", "")
        for i, req in enumerate(getattr(spec, "requirements", None) or ()):
            if req not in self.p.profile.requirements.ids:
                raise self.err(
                    (*path, "requirements", i),
                    "not a requirement of the set this profile traces",
                    expected="a requirement ID listed under profile.requirements.ids",
                    got=req,
                    choices=list(self.p.profile.requirements.ids),
                )
        cls = CHECKS.get(kind)
        resolver = self._case_resolver(path, markers, later)
        named = getattr(spec, "bus", None)
        if named is not None:
            resolver.pin(pick_bus(self, path, named, "a check"), by_name=True)
        check = cls(spec, resolver)  # type: ignore[arg-type]
        if len(self.buses) > 1:  # the check reads its bus's frames (Window.on_bus)
            check.bus = (resolver.pinned or next(iter(self.buses.values()))).view
        return check

    def _step(
        self,
        step: StepBase,
        path: tuple[str | int, ...],
        markers: Sequence[str],
        later: Mapping[str, str] | None = None,
    ) -> PlannedStep:
        if isinstance(step, DIAG_STEPS):
            return compile_diag_step(self, step, path, markers, later)
        if isinstance(step, MQTT_STEP_TYPES):
            planned = compile_mqtt_step(step, path, getattr(self, "mqtt", None), self.err)
            return PlannedStep(planned.kind, format_path(path), step.name, data=planned)
        if isinstance(step, PromptStep):
            return compile_prompt_step(self, step, path)
        return compile_can_step(self, step, path, markers, later)


def _hint(name: str, choices: Sequence[str] | Mapping[str, object]) -> str:
    """'; did you mean X?' for the closest choices, ignoring case ('Crc' finds 'CRC')."""
    folded = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(name.lower(), list(folded), n=2)
    return f"; did you mean {' or '.join(folded[c] for c in close)}?" if close else ""
