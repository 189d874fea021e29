"""What ``--dut`` chose: a registered simulated DUT (and variant) or an external part.

Parsed once from the command line (or a queued request) and carried by the session, run.json
and the qualification; the spellings from before DUT providers (``sim``, ``sim:VARIANT``)
stay valid and are how such a choice prints.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.dut import DEFAULT_DUT, DUTS, DutProvider, get_provider, provider_for
from harness.errors import InputError
from harness.plan import Plan
from harness.sim.provider import PROVIDER as _REFERENCE_TCU  # registers cc-tcu-1
from harness.uds.exchange import DiagIds

__all__ = ["DUT_SPELLINGS", "DutChoice", "sim_addressing"]

DUT_SPELLINGS = "sim, sim:NAME, sim:NAME:VARIANT, sim:VARIANT (of cc-tcu-1) or external"


@dataclass(frozen=True)
class DutChoice:
    """What ``--dut`` chose: ``sim:NAME[:VARIANT]`` (a registered DUT provider, see
    :mod:`harness.dut`) or ``external``.

    ``sim`` is ``sim:cc-tcu-1`` and ``sim:VARIANT`` is ``sim:cc-tcu-1:VARIANT``, the spellings
    from before providers; they are also how such a choice prints (run.json keeps them).
    """

    kind: str
    variant: str | None = None
    provider: str = DEFAULT_DUT

    @classmethod
    def parse(cls, text: str) -> DutChoice:
        kind, _, rest = text.partition(":")
        if kind == "external" and not rest:
            return cls("external")
        if kind != "sim":
            raise InputError(
                "--dut",
                expected=DUT_SPELLINGS,
                got=text,
                choices=["sim", "sim:NAME", "sim:NAME:VARIANT", "external"],
            )
        if not rest:
            return cls("sim")
        name, colon, variant = rest.partition(":")
        default_variant = name in _REFERENCE_TCU.variants
        if name in DUTS:
            if not colon and default_variant and name != DEFAULT_DUT:
                raise InputError(
                    f"--dut {text} is ambiguous: {name} is a DUT provider and a variant of "
                    f"{DEFAULT_DUT}",
                    expected=f"sim:{name}: for the provider or sim:{DEFAULT_DUT}:{name} for "
                    "the variant",
                    got=text,
                )
            if variant:
                get_provider(name).variant(variant)  # InputError with the provider's names
            return cls("sim", variant or None, name)
        if default_variant and not colon:
            return cls("sim", name)
        raise InputError(
            "--dut: unknown simulator variant or simulated DUT",
            expected=f"the name of a faulty variant of {DEFAULT_DUT} (sim:VARIANT) or of a "
            "simulated DUT (sim:NAME[:VARIANT]); 'harness sim list' lists them",
            got=text,
            choices=[f"sim:{n}" for n in DUTS.names()] + sorted(_REFERENCE_TCU.variants),
        )

    @classmethod
    def parse_for(cls, text: str, plan: Plan) -> DutChoice:
        """:meth:`parse`, where a bare ``sim`` is the registered part implementing the
        profile's requirement set (cc-gw-1 for CC-GW-1's profile), else the reference
        cc-tcu-1: what ``certify`` runs by default, as ``qualify`` does."""
        if text == "sim":
            return cls("sim", None, provider_for(plan.profile.profile.requirements.id))
        return cls.parse(text)

    @property
    def simulator(self) -> DutProvider:
        """The provider of a ``sim`` choice."""
        return get_provider(self.provider)

    def __str__(self) -> str:
        if self.kind != "sim" or self.provider == DEFAULT_DUT:
            return self.kind + (f":{self.variant}" if self.variant else "")
        return f"sim:{self.provider}" + (f":{self.variant}" if self.variant else "")


def sim_addressing(plan: Plan) -> DiagIds | None:
    """The addressing a simulated part is asked to serve: the profile's, when it declares a
    mode other than 11-bit normal; with 11-bit normal the part keeps its own identifiers (a
    profile naming others tests a part that does not answer there)."""
    cfg = plan.diag_config
    if cfg is None or cfg.ids.mode == "normal_11":
        return None
    return cfg.ids
