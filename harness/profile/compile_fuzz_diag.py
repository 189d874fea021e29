"""Compiling a ``fuzz_diag`` step: pace, services and exclusions resolved, its checks built.

Pure, like the rest of the compiler: a pace that would not leave every answer its own slot
(an interval not above P2), an unknown oracle, a bad request prefix or a selection that leaves
nothing to send are errors at their place in the profile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from harness.errors import InputError
from harness.profile.compile_diag import DiagCompiler, diag_config
from harness.profile.fuzz_diag_model import FuzzDiagStep
from harness.uds.fuzz import (
    DEFAULT_EXCLUDE,
    DEFAULT_EXCLUDE_PREFIXES,
    DiagFuzzPlan,
    available_kinds,
)
from harness.uds.oracle import resolve_oracle
from harness.units import format_duration
from harness.yamlsafe import format_path

if TYPE_CHECKING:
    from harness.plan import PlannedStep

__all__ = ["compile_fuzz_diag_step"]


def _exclusions(
    c: DiagCompiler, base: tuple[str | int, ...], items: Sequence[int | str] | None
) -> tuple[tuple[int, ...], tuple[bytes, ...]]:
    if items is None:
        return DEFAULT_EXCLUDE, DEFAULT_EXCLUDE_PREFIXES
    sids: list[int] = []
    prefixes: list[bytes] = []
    for k, item in enumerate(items):
        if isinstance(item, int):
            sids.append(item)
            continue
        try:
            prefix = bytes.fromhex(item.replace(" ", ""))
        except ValueError:
            prefix = b""
        if not prefix:
            raise c.err(
                (*base, "exclude", k),
                expected="a service id such as 0x11 or a request prefix such as '10 02'",
                got=item,
            )
        if len(prefix) == 1:
            sids.append(prefix[0])
        else:
            prefixes.append(prefix)
    return tuple(sorted(set(sids))), tuple(prefixes)


def compile_fuzz_diag_step(
    c: DiagCompiler,
    step: FuzzDiagStep,
    path: tuple[str | int, ...],
    markers: Sequence[str],
    later: Mapping[str, str] | None = None,
) -> PlannedStep:
    from harness.plan import PlannedStep

    spec = step.fuzz_diag
    base = (*path, "fuzz_diag")
    cfg = diag_config(c.p.diagnostics)
    if cfg.ids.prefixed:
        raise c.err(
            base,
            "fuzz_diag draws raw ISO-TP frames without an address byte: not available with "
            "extended addressing this round",
            expected="diagnostics.addressing normal_11, normal_29 or normal_fixed_29",
            got=cfg.ids.mode,
        )
    interval = spec.interval if spec.interval is not None else 1.0 / (spec.rate or 1.0)
    if interval <= cfg.p2:
        raise c.err(
            (*base, "interval" if spec.interval is not None else "rate"),
            f"each answer must come before the next stimulus: the interval "
            f"({format_duration(interval)}) must exceed P2 ({format_duration(cfg.p2)})",
        )
    try:
        oracle = resolve_oracle(spec.oracle, c.diag_oracle())
    except InputError as exc:
        raise c.err(
            (*base, "oracle"), exc.detail, expected=exc.expected, got=exc.got, choices=exc.choices
        ) from None
    exclude, prefixes = _exclusions(c, base, spec.exclude)
    services = tuple(sorted(set(spec.services))) if spec.services is not None else None
    plan = DiagFuzzPlan(
        count=spec.count,
        interval=interval,
        addressing=spec.addressing,
        raw_isotp=spec.raw_isotp,
        services=services,
        exclude=exclude,
        exclude_prefixes=prefixes,
        kinds=tuple(dict.fromkeys(spec.kinds)),
        session=spec.session,
        oracle=oracle.name,
        ids=cfg.ids,
        padding=cfg.padding,
        p2=cfg.p2,
        p2_star=cfg.p2_star,
        seed=spec.seed,
        facts=oracle if oracle is c.diag_oracle() else None,
        can_fd=cfg.can_fd,
        bitrate_switch=cfg.bitrate_switch,
    )
    if services is not None and not any(plan.allows(s) for s in services):
        raise c.err(
            (*base, "services"),
            "every service listed is excluded: nothing would be sent",
            expected="a service id not in exclude (give exclude: [] to send any)",
            got=", ".join(f"0x{s:02X}" for s in services),
        )
    if not available_kinds(plan):
        raise c.err(
            (*base, "kinds"),
            "nothing to send: no kind listed has a service left (or isotp without raw_isotp)",
            expected="kinds that the services and exclusions leave something for",
            got=", ".join(spec.kinds),
        )
    checks = tuple(
        c._check(check, (*path, "checks", k), markers, later) for k, check in enumerate(step.checks)
    )
    return PlannedStep(
        "fuzz_diag",
        format_path(path),
        step.name,
        duration=plan.expected_duration,
        checks=checks,
        data=plan,
    )
