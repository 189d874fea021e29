"""The certification profile format, version 1, as pydantic models.

A profile says what is certified (metadata and the requirement set it traces), against which
DBC, what rest-bus the harness plays, and the test cases: each traced to requirement IDs,
mandatory or optional, a list of steps (stimuli, waits, observation windows with checks) and
checks over the whole case. ``identity`` declares the part's identity items
(:mod:`harness.identity`); ``features`` the optional features a part may have, which cases
name in ``needs`` (:mod:`harness.conformance`). ``harness schema`` prints the JSON Schema
these models give.

The models only check shape; :mod:`harness.profile.compile` resolves names against the DBC.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from harness.checks.spec import CheckSpec
from harness.profile.diag_model import DIAG_STEP_MODELS, DiagnosticsSection, IdentityItem
from harness.profile.model_bus import (
    BUS_NAME_PATTERN,
    DBC_SCHEMA,
    DEFAULT_BUS,
    BusSpec,
    DbcSource,
    NamedBus,
    Strict,
    bus_field,
    dbc_long_form,
)
from harness.profile.mqtt_model import MQTT_STEP_MODELS, MqttSection
from harness.profile.prompt_model import PromptStep
from harness.units import CanId, Duration, Percent, SignalValue

__all__ = [
    "ACTIONS",
    "DEFAULT_BUS",
    "FORMAT",
    "STEP_MODELS",
    "BusSpec",
    "Case",
    "CheckSpec",
    "DbcSource",
    "NamedBus",
    "Profile",
    "Step",
]

FORMAT = "cc-harness-profile/1"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class RequirementSet(Strict):
    id: str = Field(description="identifier of the requirement set, e.g. CC-TCU-1")
    version: str
    source: str | None = Field(default=None, description="where the requirements are written")
    ids: list[Annotated[str, Field(pattern=_NAME)]] = Field(
        min_length=1, description="every requirement ID of the set this profile traces"
    )


class Meta(Strict):
    id: str = Field(pattern=_NAME)
    version: str = Field(pattern=r"^[0-9]+(\.[0-9]+)*([-+][A-Za-z0-9.]+)?$")
    title: str
    description: str | None = None
    requirements: RequirementSet


class E2ESpec(BaseModel):
    """One protected message: its scheme and the scheme's parameters beside it.

    The parameters depend on the scheme, which may come from a lab's package, so they are
    checked when the profile compiles, against the scheme's own model (as it is registered
    then): e.g. ``{scheme: autosar_p01, data_id: 0x0210}``, ``{scheme: byte_sum, checksum:
    CHKSUM, counter: ALV_CNT}``; without ``scheme``, CC-TCU-1's ``{counter: .., crc: ..}``.
    """

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    scheme: str = Field(
        default="cc_tcu_1",
        description="protection scheme: cc_tcu_1 (the default), autosar_p01, autosar_p02, "
        "autosar_p04, autosar_p05, autosar_p06, autosar_p07, autosar_p11, byte_sum, xor, "
        "nibble_sum, counter_only, or one a lab registers (entry point group "
        "cc_harness.e2e_schemes); the other keys are the scheme's parameters",
    )

    def parameters(self) -> dict[str, Any]:
        """``scheme`` and every parameter written beside it."""
        return {"scheme": self.scheme, **(self.model_extra or {})}


class RestbusMessage(Strict):
    bus: str | None = bus_field()
    signals: dict[str, SignalValue] = Field(default_factory=dict)
    cycle: Duration | None = Field(default=None, description="defaults to GenMsgCycleTime")
    enabled: bool = True


class ReadySpec(Strict):
    message: str = Field(description="a message the DUT sends once it is up")
    bus: str | None = bus_field()
    timeout: Duration = 2.0
    lost_after: Duration = Field(
        default=5.0,
        gt=0,
        description="at the start of a case, a message older than this gets as long again to "
        "come; then the DUT counts as gone and the run ends INCOMPLETE (exit 3). Longer than "
        "any silence the profile causes on purpose (ECUReset, ignition OFF cycle)",
    )


class DutSpec(Strict):
    node: str = Field(description="DBC node of the DUT: the messages it sends are observed")
    ready: ReadySpec


# -- steps ------------------------------------------------------------------------------------

# CheckSpec: validated against the check registry as it stands when a profile loads.


class StepBase(Strict):
    name: str | None = Field(
        default=None, pattern=_NAME, description="names the moment of this step for checks"
    )


class SetStep(StepBase):
    set: dict[str, SignalValue] = Field(
        min_length=1, description="'Message.Signal': value (number or value-table name)"
    )


class WaitStep(StepBase):
    wait: Duration


class StopStep(StepBase):
    stop: str = Field(description="rest-bus message to stop sending")


class StartStep(StepBase):
    start: str = Field(description="rest-bus message to send again")


class RawFrame(Strict):
    bus: str | None = bus_field()
    id: CanId
    data: str = Field(default="", pattern=r"^[0-9A-Fa-f ]*$", description="hex bytes")
    extended: bool = False
    fd: bool = Field(default=False, description="a CAN FD frame (the bus must be FD)")
    brs: bool | None = Field(
        default=None, description="FD bit rate switch (default: the bus's brs)"
    )


class SendStep(StepBase):
    send: RawFrame


class InjectSpec(Strict):
    message: str
    fault: Literal["crc", "repeat_counter", "dlc"]
    count: int = Field(default=1, ge=1, le=100000)
    dlc: int | None = Field(default=None, ge=0, le=8, description="the DLC, for fault: dlc")
    wait: bool = Field(
        default=True,
        description="wait until every faulty frame is sent (the step's moment is the last one);"
        " false queues them and goes on at once",
    )

    @model_validator(mode="after")
    def _dlc_only_for_dlc(self) -> InjectSpec:
        if self.fault == "dlc" and self.dlc is None:
            raise ValueError("fault 'dlc' needs dlc: the length to send")
        return self


class InjectStep(StepBase):
    inject: InjectSpec


class WaitFramesSpec(Strict):
    message: str
    count: int = Field(ge=1, le=100000)


class WaitFramesStep(StepBase):
    wait_frames: WaitFramesSpec


class CanFrameSet(Strict):
    """The frames a noise or fuzz_can step draws from: identifiers, DLCs, payload kind."""

    ids: list[CanId] = Field(default_factory=list)
    id_ranges: list[Annotated[list[CanId], Field(min_length=2, max_length=2)]] = Field(
        default_factory=list, description="[low, high] identifier ranges, inclusive"
    )
    dlc: list[Annotated[int, Field(ge=0, le=15)]] = Field(
        default_factory=lambda: list(range(9)),
        min_length=1,
        description="DLC codes: 0..8 bytes; with fd: true also 9..15 (12, 16, 20, 24, 32, 48, "
        "64 bytes)",
    )
    payload: Literal["random", "zeros", "ones"] = "random"
    bus: str | None = bus_field()
    fd: bool = Field(
        default=False, description="send CAN FD frames (the profile's bus must be CAN FD)"
    )

    @model_validator(mode="after")
    def _classic_dlcs(self) -> CanFrameSet:
        long = sorted(d for d in self.dlc if d > 8)
        if long and not self.fd:
            raise ValueError(
                f"DLC codes {long} are CAN FD lengths: add fd: true (on a CAN FD bus), or "
                "keep to 0..8"
            )
        return self


class NoiseSpec(CanFrameSet):
    load_percent: Percent
    duration: Duration = Field(alias="for")
    seed: int = 0

    @model_validator(mode="after")
    def _some_ids(self) -> NoiseSpec:
        if not self.ids and not self.id_ranges:
            raise ValueError("noise needs ids or id_ranges")
        return self


class NoiseStep(StepBase):
    noise: NoiseSpec


class FuzzWatch(Strict):
    message: str = Field(description="a message the DUT sends cyclically, e.g. TCU_Status")
    silence: Duration = Field(
        description="a gap longer than this is a finding: the fuzz frames sent just before "
        "the gap began are recorded as suspects"
    )


class FuzzCanSpec(CanFrameSet):
    order: Literal["sweep", "shuffled", "random"] = Field(
        default="shuffled",
        description="sweep: every (identifier, DLC) pair once, identifiers ascending; "
        "shuffled: every pair once, in a seeded order; random: independent seeded draws "
        "(needs 'for')",
    )
    rate: Annotated[float, Field(gt=0, le=20000)] | None = Field(
        default=None, description="frames per second (or load_percent)"
    )
    load_percent: Percent | None = Field(
        default=None, description="the bus load of the fuzz frames alone (or rate)"
    )
    duration: Duration | None = Field(
        default=None,
        alias="for",
        description="how long to fuzz; sweep and shuffled default to one pass over every pair "
        "and start another pass when this is longer",
    )
    seed: Annotated[int, Field(ge=0, lt=2**63)] | None = Field(
        default=None,
        description="fixed seed: the same frames on every run; omitted: derived from the "
        "run seed (harness certify --seed), recorded in run.json",
    )
    watch: FuzzWatch | None = Field(
        default=None, description="liveness monitor: record findings when the DUT goes silent"
    )

    @model_validator(mode="after")
    def _consistent(self) -> FuzzCanSpec:
        if not self.ids and not self.id_ranges:
            raise ValueError("fuzz_can needs ids or id_ranges")
        if (self.rate is None) == (self.load_percent is None):
            raise ValueError("fuzz_can needs exactly one of rate (frames/s) and load_percent")
        if self.order == "random" and self.duration is None:
            raise ValueError("order 'random' needs 'for': how long to fuzz")
        return self


class FuzzCanStep(StepBase):
    fuzz_can: FuzzCanSpec
    checks: list[CheckSpec] = Field(
        default_factory=list,
        description="evaluated over the fuzzing window, e.g. the DUT's cycle time and counter",
    )


class ObserveStep(StepBase):
    observe: Duration = Field(description="length of the observation window")
    checks: list[CheckSpec] = Field(min_length=1)


STEP_MODELS: dict[str, type[BaseModel]] = {
    "set": SetStep,
    "wait": WaitStep,
    "stop": StopStep,
    "start": StartStep,
    "send": SendStep,
    "inject": InjectStep,
    "wait_frames": WaitFramesStep,
    "noise": NoiseStep,
    "fuzz_can": FuzzCanStep,
    "observe": ObserveStep,
    **DIAG_STEP_MODELS,
    **MQTT_STEP_MODELS,
    "prompt": PromptStep,
}
ACTIONS = tuple(STEP_MODELS)


def step_action(value: Any) -> str | None:
    """The action key of a step mapping (pydantic discriminator)."""
    if isinstance(value, BaseModel):
        for action in ACTIONS:
            if action in type(value).model_fields:
                return action
        return None
    if not isinstance(value, dict):
        return None
    found = [a for a in ACTIONS if a in value]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        return "+".join(found)
    return None


if TYPE_CHECKING:
    Step = StepBase
else:
    Step = Annotated[
        Union[tuple(Annotated[m, Tag(a)] for a, m in STEP_MODELS.items())],  # noqa: UP007
        Discriminator(step_action),
    ]


MAX_CASE_ID = 64
"""Longest case ID: it names files, report anchors and JUnit test cases."""


class Case(Strict):
    id: str = Field(pattern=_NAME, max_length=MAX_CASE_ID)
    title: str
    requirements: list[str] = Field(min_length=1)
    mandatory: bool = True
    needs: list[Annotated[str, Field(pattern=_NAME)]] = Field(
        default_factory=list,
        description="optional features (of the profile's features section) the part must "
        "have for this case to apply; a part whose conformance statement lacks one gets it "
        "NOT_APPLICABLE",
    )
    steps: list[Step] = Field(min_length=1)
    checks: list[CheckSpec] = Field(default_factory=list, description="checks over the whole case")


class Profile(Strict):
    format: Literal["cc-harness-profile/1"]
    profile: Meta
    dbc: Annotated[DbcSource | None, BeforeValidator(dbc_long_form), DBC_SCHEMA] = Field(
        default=None,
        description="DBC file, relative to the profile; or {path, encoding, lenient} (the "
        "single-bus form: one bus named 'can'; or declare buses)",
    )
    bitrate: int = Field(default=500000, gt=0, le=1_000_000)
    bus: BusSpec | None = Field(
        default=None,
        description="the bus: {fd, bitrate, data_bitrate, brs}; without it a classic bus at "
        "`bitrate`",
    )
    dut: DutSpec
    e2e: dict[str, E2ESpec] = Field(default_factory=dict)
    restbus: dict[str, RestbusMessage] = Field(default_factory=dict)
    mqtt: MqttSection | None = Field(default=None, description="V2X topics and their codecs")
    diagnostics: DiagnosticsSection = Field(default_factory=DiagnosticsSection)
    identity: dict[
        Annotated[str, Field(pattern=_NAME)], Annotated[int, Field(ge=0, le=0xFFFF)] | IdentityItem
    ] = Field(
        default_factory=dict,
        description="the part's identity items (any names): name -> DID, or name -> {did, "
        "format, length, pattern, subject}; the certificate names the part by them",
    )
    features: dict[Annotated[str, Field(pattern=_NAME)], str] = Field(
        default_factory=dict,
        description="the optional features a part may have: name -> what it means; a "
        "supplier's conformance statement (bench conformance, --ics FILE) says which it has",
    )
    buses: dict[Annotated[str, Field(pattern=BUS_NAME_PATTERN)], NamedBus] | None = Field(
        default=None,
        min_length=1,
        description="the part's buses by name: {dbc, fd, bitrate, data_bitrate, brs} each, "
        "instead of top-level dbc, bitrate and bus",
    )
    before_each: list[Step] = Field(
        default_factory=list, description="steps run at the start of every case"
    )
    cases: list[Case] = Field(min_length=1)

    def bus_spec(self) -> BusSpec:
        """The bus as declared (``bus:``), or a classic bus at ``bitrate``; with a ``buses``
        section, the first of them."""
        if self.buses:
            return next(iter(self.buses.values()))
        return self.bus if self.bus is not None else BusSpec(bitrate=self.bitrate)

    def named_buses(self) -> dict[str, tuple[DbcSource, BusSpec]]:
        """Every bus by name with its DBC: the ``buses`` section, or the single-bus form as
        one bus named :data:`DEFAULT_BUS`. Empty when neither ``dbc`` nor ``buses`` is given
        (the compiler says so, at its place)."""
        if self.buses:
            return {name: (bus.dbc, bus) for name, bus in self.buses.items()}
        if self.dbc is None:
            return {}
        return {DEFAULT_BUS: (self.dbc, self.bus_spec())}
