"""Running the diagnostic steps, and reading the DUT's identity at the start of a run.

:class:`DiagDriver` is what the case runner calls for a ``diag``, ``security_access``,
``read_dtcs`` or ``fuzz_diag`` step (:mod:`harness.uds.fuzz`): it carries out the exchange(s)
with the :class:`UdsClient` and returns the span of the step, over which the runner evaluates
the step's check (a pure evaluator of the recorded frames). It never decides a verdict
itself: a DUT that does not answer is a FAIL the check reports, naming the request and the
timeout, and the run goes on.

:meth:`DiagDriver.read_identity` reads the identity DIDs the profile declares (VIN, software
version, serial, station id...). Without them a report or certificate cannot name the part, so
a read that fails ends the run INCOMPLETE with a message naming the DID and the timeout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

from udsoncan.exceptions import InvalidResponseException
from udsoncan.Response import Response
from udsoncan.services.ReadDataByIdentifier import ReadDataByIdentifier
from udsoncan.services.SecurityAccess import SecurityAccess

from harness.adapter import STEP_KINDS, StepContext, StepKind, StepOutcome
from harness.can.port import CanPort
from harness.clock import EventLoop
from harness.errors import DutNotResponding, StepFailed
from harness.fuzz import FuzzContext
from harness.plan import Plan, PlannedStep
from harness.uds.client import Outcome, UdsClient
from harness.uds.codec import decode_response, describe_request, hexs
from harness.uds.config import DiagBenchConfig
from harness.uds.diaglog import DIAG_LOG_FILE, DiagLog
from harness.uds.fuzz import DiagFuzzPlan, run_fuzz_step
from harness.uds.plan import DiagPlan
from harness.uds.seedkey import make_key
from harness.units import format_duration

__all__ = ["DIAG_STEP_KINDS", "DiagDriver", "open_diagnostics"]

IDENTITY_ATTEMPTS = 3  # requests per identity DID before the run ends INCOMPLETE


class DiagDriver:
    """The tester's diagnostics for one run: identity read and diagnostic steps.

    The adapter (:mod:`harness.adapter`) of the step kinds ``diag``, ``security_access``,
    ``read_dtcs`` and ``fuzz_diag``, whose data is a :class:`DiagPlan` or a
    :class:`DiagFuzzPlan`. It adds no stream of its own: what the DUT answered is in the
    ``can`` stream, where the UDS checks read it (``diag.jsonl`` is its evidence).
    """

    name = "uds"

    def __init__(
        self,
        loop: EventLoop,
        port: CanPort,
        plan: Plan,
        log: DiagLog | None = None,
        bench: DiagBenchConfig | None = None,
    ) -> None:
        self.loop = loop
        self.port = port
        self.plan = plan
        self.fuzz: FuzzContext | None = None  # the run's fuzz seeds and records (the session's)
        if plan.diag_config is None:  # pragma: no cover - the compiler always sets it
            raise ValueError(f"{plan.source}: a plan without its diagnostics settings")
        self.config = plan.diag_config
        if bench is not None:
            self.config = bench.apply(self.config)
        self.dids = plan.identity_dids
        self.log = log
        self.client = UdsClient(loop, port, self.config, log)
        self.identity_bytes: dict[str, bytes] = {}

    def streams(self) -> Mapping[str, object]:
        return {}

    def begin_case(self) -> None:
        pass

    def end_case(self) -> None:
        pass

    def close(self) -> None:
        self.client.close()
        if self.log is not None:
            self.log.close()

    # -- identity ----------------------------------------------------------------------------
    def read_identity(self) -> dict[str, str]:
        """Read every identity DID of the profile; RunIncomplete when one cannot be read (no
        answer to IDENTITY_ATTEMPTS requests, a negative answer, or a value unlike the
        profile's declaration)."""
        out: dict[str, str] = {}
        for item in self.dids:
            assert item.did is not None  # identity_dids: the items with a DID
            request = ReadDataByIdentifier.make_request([item.did], None).get_payload()
            # A lost frame (a flooded bus, a receiver that dropped) must not end the run:
            # a request without any answer is asked again, at most IDENTITY_ATTEMPTS times.
            for _ in range(IDENTITY_ATTEMPTS):
                outcome = self.client.exchange(request, note=f"identity {item.name}")
                if outcome.final is not None:
                    break
            final = outcome.final
            what = f"identity {item.name} (DID 0x{item.did:04X})"
            if final is None:
                why = outcome.error or (
                    f"no response to {describe_request(request, False)} within "
                    f"{format_duration(self.config.timeout)} (asked {IDENTITY_ATTEMPTS} "
                    f"times) with {self.config.ids.describe()}: "
                    "check diagnostics.addressing"
                )
                raise DutNotResponding(f"could not read the DUT's {what}: {why}")
            decoded = decode_response(final.payload)
            if not decoded.positive or final.payload[:3] != bytes([0x62]) + request[1:3]:
                raise DutNotResponding(
                    f"could not read the DUT's {what}: it answered {decoded.describe(24)}"
                )
            value = final.payload[3:]
            self.identity_bytes[item.name] = value
            text = item.decode(value)
            problem = item.problem(text)
            if problem is not None:  # the certificate would name the part by it
                raise DutNotResponding(
                    f"the DUT's {what} is not as the profile declares it (identity."
                    f"{item.name}): {problem}"
                )
            out[item.name] = text
        return out

    # -- steps -------------------------------------------------------------------------------
    def run(self, step: PlannedStep) -> tuple[float, float]:
        """Carry out a diagnostic step; returns (start, moment): the moment is the final
        response's last frame (or the request's, when nothing answered)."""
        diag = step.data
        assert isinstance(diag, (DiagPlan, DiagFuzzPlan))
        if isinstance(diag, DiagFuzzPlan):
            return run_fuzz_step(self, step, diag)
        start = self.loop.now()
        outcome: Outcome | None
        if diag.kind == "security":
            outcome = self._security(step)
        else:
            payload = diag.payload
            if diag.data_identity is not None:
                try:
                    payload += self.identity_bytes[diag.data_identity]
                except KeyError:
                    raise StepFailed(
                        f"{step.path}: identity item {diag.data_identity} was not read"
                    ) from None
            outcome = self.client.exchange(
                payload,
                functional=diag.functional,
                expect_response=diag.expect_response,
                timeout=diag.timeout,
                note=step.path,
            )
        return start, self._moment(outcome, start)

    @staticmethod
    def _moment(outcome: Outcome | None, start: float) -> float:
        if outcome is None:
            return start
        if outcome.responses:
            return outcome.responses[-1].last
        return outcome.sent_at if outcome.sent_at is not None else start

    def _security(self, step: PlannedStep) -> Outcome | None:
        diag = step.data_as(DiagPlan)
        seed_request = SecurityAccess.make_request(
            diag.level, SecurityAccess.Mode.RequestSeed
        ).get_payload()
        seed_out = self.client.exchange(seed_request, note=f"{step.path} requestSeed")
        final = seed_out.final
        if final is None:
            return seed_out
        response = Response.from_payload(final.payload)
        if not response.positive:
            return seed_out
        try:
            data = SecurityAccess.interpret_response(
                response, mode=SecurityAccess.Mode.RequestSeed
            ).service_data
        except InvalidResponseException:
            return seed_out
        seed = bytes(data.seed or b"")
        if not any(seed) or diag.already_unlocked:  # no key to send (the check judges)
            return seed_out
        try:
            key = make_key(diag.algorithm, seed, diag.level, diag.key)
        except ValueError:
            return seed_out  # the check reports the seed the algorithm refused
        key_request = SecurityAccess.make_request(
            diag.level + 1, SecurityAccess.Mode.SendKey, data=key
        ).get_payload()
        return self.client.exchange(
            key_request,
            expect_response=diag.expect_response,
            timeout=diag.timeout,
            note=f"{step.path} sendKey {hexs(key)}",
        )


def _diag_step(ctx: StepContext, step: PlannedStep) -> StepOutcome:
    driver = ctx.adapter("uds", DiagDriver, "this run has no diagnostic client")
    t0, moment = driver.run(step)
    return StepOutcome(moment, window_from=t0)


DIAG_STEP_KINDS = ("diag", "security_access", "read_dtcs", "fuzz_diag")
for _kind in DIAG_STEP_KINDS:
    STEP_KINDS.add(_kind, StepKind(_kind, "uds", (DiagPlan, DiagFuzzPlan), _diag_step))


def open_diagnostics(
    loop: EventLoop,
    port: CanPort,
    plan: Plan,
    out_dir: Path | None,
    stack: contextlib.ExitStack,
    bench: DiagBenchConfig | None = None,
) -> DiagDriver:
    """The run's diagnostics, with ``diag.jsonl`` in the evidence folder; closed with ``stack``.
    ``bench`` (the bench file's ``diagnostics:``) overrides the tester's ISO-TP framing."""
    log = DiagLog(out_dir / DIAG_LOG_FILE) if out_dir is not None else None
    driver = DiagDriver(loop, port, plan, log, bench)
    stack.callback(driver.close)
    return driver
