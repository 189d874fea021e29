"""Diagnostic oracles are a registry: a lab's part specification is named like cc-tcu-1."""

from __future__ import annotations

import pytest

from harness.errors import InputError
from harness.uds.oracle import CC_TCU_1, ORACLES, UdsOracle, get_oracle


def test_a_registered_oracle_is_found_and_a_second_registration_refused() -> None:
    lab = UdsOracle(
        "acme-bcm-2", CC_TCU_1.services, CC_TCU_1.dids, key_length=2, s3=5.0, reset_quiet=0.5
    )
    ORACLES.add("acme-bcm-2", lab, origin="entry point acme-bcm-2 (acme-oracles)")
    try:
        assert get_oracle("acme-bcm-2").key_length == 2
        with pytest.raises(InputError) as err:
            ORACLES.add("acme-bcm-2", lab, origin="entry point acme-bcm-2 (other-package)")
        assert "acme-oracles" in str(err.value) and "other-package" in str(err.value)
        with pytest.raises(InputError, match="registered twice"):
            ORACLES.register("cc-tcu-1", CC_TCU_1)
    finally:
        ORACLES.unregister("acme-bcm-2")


def test_an_oracle_under_another_name_or_unknown_name_is_refused() -> None:
    with pytest.raises(InputError, match="cannot be registered"):
        ORACLES.add("acme", CC_TCU_1, origin="test")
    with pytest.raises(InputError) as err:
        get_oracle("acme")
    assert err.value.choices == ["cc-tcu-1"]
