"""DUT providers: the reference TCU is provider cc-tcu-1, chosen by --dut sim:NAME[:VARIANT]."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.cli import main
from harness.dut import DUTS, DutProvider, DutSetup, RunningDut, Variant, get_provider
from harness.errors import InputError
from harness.session import DutChoice
from harness.sim.provider import PROVIDER
from harness.sim.variants import VARIANTS
from tests.conftest import PROFILE


class _Idle:
    part = None

    def start(self) -> None: ...

    def stop(self) -> None: ...


class _Provider(DutProvider):
    description = "a test part"

    def __init__(self, name: str, variants: dict[str, Variant] | None = None) -> None:
        self.name = name
        self.variants = variants or {}

    def build(self, setup: DutSetup) -> RunningDut:
        return _Idle()


@pytest.fixture
def flood_provider() -> Iterator[None]:
    DUTS.add("flood", _Provider("flood"), origin="test")
    try:
        yield
    finally:
        DUTS.unregister("flood")


def test_the_reference_tcu_is_a_provider_owning_its_variants() -> None:
    assert get_provider("cc-tcu-1") is PROVIDER
    assert PROVIDER.variants is VARIANTS
    assert PROVIDER.variant("bad-crc").requirement == "CAN-004"
    with pytest.raises(InputError) as err:
        PROVIDER.variant("bad-crcc")
    assert "bad-crc" in (err.value.choices or [])


@pytest.mark.parametrize(
    ("text", "provider", "variant", "shown"),
    [
        ("sim", "cc-tcu-1", None, "sim"),
        ("sim:cc-tcu-1", "cc-tcu-1", None, "sim"),
        ("sim:bad-crc", "cc-tcu-1", "bad-crc", "sim:bad-crc"),
        ("sim:cc-tcu-1:bad-crc", "cc-tcu-1", "bad-crc", "sim:bad-crc"),
    ],
)
def test_dut_spellings_and_aliases(
    text: str, provider: str, variant: str | None, shown: str
) -> None:
    choice = DutChoice.parse(text)
    assert (choice.kind, choice.provider, choice.variant) == ("sim", provider, variant)
    assert str(choice) == shown  # the old spellings stay what run.json says
    assert choice.simulator is PROVIDER


def test_unknown_dut_or_variant_lists_what_is_registered() -> None:
    with pytest.raises(InputError) as err:
        DutChoice.parse("sim:lamp")
    assert "sim:cc-tcu-1" in (err.value.choices or [])
    with pytest.raises(InputError, match="unknown simulator variant of cc-tcu-1"):
        DutChoice.parse("sim:cc-tcu-1:lamp")
    with pytest.raises(InputError):
        DutChoice.parse("simulated")
    assert DutChoice.parse("external").kind == "external"


def test_a_provider_named_like_a_reference_variant_must_be_spelled_out(
    flood_provider: None,
) -> None:
    with pytest.raises(InputError, match="ambiguous"):
        DutChoice.parse("sim:flood")
    assert DutChoice.parse("sim:flood:").provider == "flood"
    assert str(DutChoice.parse("sim:flood:")) == "sim:flood"
    assert DutChoice.parse("sim:cc-tcu-1:flood").variant == "flood"


def test_a_malformed_provider_is_refused_naming_it() -> None:
    with pytest.raises(InputError, match="calls itself 'b'"):
        DUTS.add("a", _Provider("b"), origin="test")
    with pytest.raises(InputError, match="not kebab-case"):
        DUTS.add("Lamp_ECU", _Provider("Lamp_ECU"), origin="test")
    bad = {"x": Variant("x", "LAMP1", "no ID")}
    with pytest.raises(InputError, match="is not an ID"):
        DUTS.add("lamp", _Provider("lamp", bad), origin="test")
    with pytest.raises(InputError, match=r"not a harness\.dut\.DutProvider"):
        DUTS.add("lamp", object(), origin="test")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="'cc-tcu-1' is registered twice: by harness and by"):
        DUTS.add("cc-tcu-1", _Provider("cc-tcu-1"), origin="test")
    assert DUTS.names() == ["cc-tcu-1", "cc-gw-1"]  # the built-in parts


def test_sim_list_shows_every_provider_and_variant(
    flood_provider: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", "list"]) == 0
    out = capsys.readouterr().out
    assert "sim:cc-tcu-1" in out and "sim:flood  a test part  [from test]" in out
    for v in VARIANTS.values():
        assert any(line.split()[:2] == [v.name, v.requirement] for line in out.splitlines()), v.name


def test_sim_run_refuses_unknown_names_before_opening_a_bus(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sim", "run", "lamp"]) == 2
    assert "unknown DUT provider" in capsys.readouterr().err
    assert main(["sim", "run", "cc-tcu-1:nope"]) == 2
    assert "unknown simulator variant of cc-tcu-1" in capsys.readouterr().err
    assert main(["sim", "run", "cc-tcu-1"]) == 2
    assert "needs a bench file" in capsys.readouterr().err


def test_sim_process_wants_a_simulated_dut(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certify", str(PROFILE), "--dut", "external", "--sim-process"]) == 2
    said = capsys.readouterr().err
    assert "--sim-process" in said and "a simulated DUT" in said
