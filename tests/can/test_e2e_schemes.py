"""Laws of every protection scheme: protect then verify passes for any payload and counter,
and a corruption the scheme can see is seen (hypothesis); each AUTOSAR profile agrees with the
``autosar-e2e`` library, both ways; the registry holds every built-in scheme."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.can.dbc import CanDatabase, load_dbc
from harness.can.e2e import E2E_SCHEMES, E2EProtection, Protection, crc8_sae_j1850
from harness.can.e2e_autosar import AutosarProtection
from harness.can.e2e_oem import ChecksumProtection, CounterOnly, NibbleSum
from harness.errors import InputError
from tests.can.helpers import GW_DBC, OEM_DBC, load_text_dbc, protection

ROOT = Path(__file__).resolve().parents[2]
LIST16 = [0x10 + 7 * i for i in range(16)]


@dataclass(frozen=True)
class Config:
    label: str
    dbc: str  # "tcu", "gw" or "oem"
    message: str
    scheme: str
    params: dict[str, Any]


CONFIGS = [
    Config("cc_tcu_1", "tcu", "TCU_Status", "cc_tcu_1", {"counter": "AliveCounter", "crc": "CRC"}),
    *(
        Config(
            f"p01-{mode}",
            "gw",
            "BODY_VehInfo",
            "autosar_p01",
            {"data_id": 0x0210, "data_id_mode": mode},
        )
        for mode in ("both", "alt", "low", "nibble")
    ),
    Config("p01-offset", "gw", "SHORT_8", "autosar_p01", {"data_id": 0x0601, "offset": 2}),
    Config("p02", "gw", "SHORT_8", "autosar_p02", {"data_id_list": LIST16}),
    Config("p04", "gw", "LONG_24", "autosar_p04", {"data_id": 0x0A0B0C0D}),
    Config("p04-offset", "gw", "LONG_24", "autosar_p04", {"data_id": 0x12345678, "offset": 4}),
    Config("p05", "gw", "PT_Status", "autosar_p05", {"data_id": 0x00C0}),
    Config("p05-length", "gw", "PT_Status", "autosar_p05", {"data_id": 0x00C0, "length": 20}),
    Config("p06", "gw", "SHORT_8", "autosar_p06", {"data_id": 0x0601}),
    Config("p06-offset", "gw", "LONG_24", "autosar_p06", {"data_id": 0x0600, "offset": 3}),
    Config("p07", "gw", "LONG_24", "autosar_p07", {"data_id": 0x11223344}),
    Config("p11-both", "gw", "SHORT_8", "autosar_p11", {"data_id": 0x0601}),
    Config(
        "p11-nibble", "gw", "SHORT_8", "autosar_p11", {"data_id": 0x0A01, "data_id_mode": "nibble"}
    ),
    Config(
        "byte_sum",
        "oem",
        "LKAS11",
        "byte_sum",
        {"checksum": "CF_Lkas_Chksum", "counter": "CF_Lkas_MsgCount"},
    ),
    Config(
        "byte_sum-6B",
        "oem",
        "LKAS11",
        "byte_sum",
        {"checksum": "CF_Lkas_Chksum", "counter": "CF_Lkas_MsgCount", "bytes": [0, 1, 2, 3, 4, 5]},
    ),
    Config(
        "byte_sum-4bit",
        "oem",
        "SCC12",
        "byte_sum",
        {"checksum": "CR_VSM_ChkSum", "counter": "CR_VSM_Alive", "final": "invert"},
    ),
    Config(
        "nibble_sum",
        "oem",
        "SCC12",
        "nibble_sum",
        {"checksum": "CR_VSM_ChkSum", "counter": "CR_VSM_Alive", "final": "negate"},
    ),
    Config(
        "xor-motorola",
        "oem",
        "MDPS12",
        "xor",
        {"checksum": "CF_Mdps_Chksum2", "counter": "CF_Mdps_MsgCount2", "init": 0x5A},
    ),
    Config("counter_only", "oem", "WHL_SPD11", "counter_only", {"counter": "WHL_SPD_AliveCounter"}),
    Config(
        "counter_only-range",
        "oem",
        "LKAS11",
        "counter_only",
        {"counter": "CF_Lkas_MsgCount", "counter_min": 1, "counter_max": 14, "counter_step": 3},
    ),
]


@pytest.fixture(scope="module")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CanDatabase]:
    folder = tmp_path_factory.mktemp("dbc")
    return {
        "tcu": load_dbc(ROOT / "dbc" / "cc-tcu-1.dbc"),
        "gw": load_text_dbc(folder, "gw.dbc", GW_DBC),
        "oem": load_text_dbc(folder, "oem.dbc", OEM_DBC),
    }


def built(dbs: dict[str, CanDatabase], cfg: Config) -> Protection:
    return protection(dbs[cfg.dbc], cfg.message, cfg.scheme, **cfg.params)


def payloads(size: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=size, max_size=size)


def detects_bit(prot: Protection, bit: int) -> bool:
    """Whether the scheme must see payload bit ``bit`` (byte * 8 + bit in byte) flipped."""
    assert prot.checksum is not None
    if prot.checksum.payload_mask()[bit // 8] >> (bit % 8) & 1:
        return True  # the stored checksum itself
    if bit // 8 not in prot.covers():
        return False
    if isinstance(prot, NibbleSum):
        return True  # a flip moves the nibble sum by 1, 2, 4 or 8: never a multiple of 16
    if isinstance(prot, ChecksumProtection):  # sums and XOR keep the low `width` bits
        return bit % 8 < prot.checksum.width
    return True  # every CRC sees every single-bit error in what it covers


PARAMS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.label)
@PARAMS
@given(data=st.data())
def test_protect_then_verify_holds_for_any_payload_and_counter(
    dbs: dict[str, CanDatabase], cfg: Config, data: st.DataObject
) -> None:
    prot = built(dbs, cfg)
    size = dbs[cfg.dbc].message(cfg.message).length
    payload = data.draw(payloads(size))
    alive = prot.alive
    counter = data.draw(st.integers(alive.minimum, alive.high)) if alive else 0
    sealed = prot.protect(payload, counter)
    assert len(sealed) == size
    assert prot.verify(sealed)
    if alive is not None:
        assert prot.counter_of(sealed) == counter
        # the next counter after the wrap, in the counter's own steps
        nxt = alive.next(counter)
        assert alive.minimum <= nxt <= alive.high
        assert (
            prot.verify(prot.protect(sealed, nxt))
            and prot.counter_of(prot.protect(sealed, nxt)) == nxt
        )
    if prot.checksum is not None:
        assert not prot.verify(prot.corrupt(sealed))
        assert prot.expected(sealed) == prot.checksum.read(sealed)


@pytest.mark.parametrize(
    "cfg", [c for c in CONFIGS if c.scheme != "counter_only"], ids=lambda c: c.label
)
@PARAMS
@given(data=st.data())
def test_a_single_flipped_bit_is_seen_exactly_where_the_scheme_covers_it(
    dbs: dict[str, CanDatabase], cfg: Config, data: st.DataObject
) -> None:
    prot = built(dbs, cfg)
    size = dbs[cfg.dbc].message(cfg.message).length
    alive = prot.alive
    counter = data.draw(st.integers(alive.minimum, alive.high)) if alive else 0
    sealed = prot.protect(data.draw(payloads(size)), counter)
    bit = data.draw(st.integers(0, 8 * size - 1))
    flipped = bytearray(sealed)
    flipped[bit // 8] ^= 1 << (bit % 8)
    assert prot.verify(bytes(flipped)) is not detects_bit(prot, bit), (
        f"bit {bit} (byte {bit // 8}) flipped"
    )


# A sum or XOR reduced to 8 bits sees any change of one whole byte; a 4-bit one cannot.
BYTE_SAFE = [
    c
    for c in CONFIGS
    if (c.scheme in ("cc_tcu_1", "byte_sum", "xor") and c.label != "byte_sum-4bit")
    or c.scheme.startswith("autosar")
]


@pytest.mark.parametrize("cfg", BYTE_SAFE, ids=lambda c: c.label)
@PARAMS
@given(data=st.data())
def test_any_corrupted_byte_in_protected_data_is_seen(
    dbs: dict[str, CanDatabase], cfg: Config, data: st.DataObject
) -> None:
    prot = built(dbs, cfg)
    assert prot.checksum is not None
    size = dbs[cfg.dbc].message(cfg.message).length
    alive = prot.alive
    counter = data.draw(st.integers(alive.minimum, alive.high)) if alive else 0
    sealed = prot.protect(data.draw(payloads(size)), counter)
    crc_bytes = set(prot.checksum.bytes_touched())
    # whole bytes of data, or the checksum's own bytes when they hold nothing else
    candidates = [i for i in prot.covers() if i not in crc_bytes]
    if not isinstance(prot, ChecksumProtection):
        candidates += sorted(crc_bytes)
    if cfg.scheme == "autosar_p02" and alive is not None:
        # P02 picks its Data ID by the counter: a corrupted counter changes two inputs of the
        # CRC-8 at once, which then collide once in 256 (hypothesis found one: counter 1 to
        # 13 in an all-zero frame). AUTOSAR accepts that; the law holds for the other bytes.
        counter_bytes = set(alive.field.bytes_touched())
        candidates = [i for i in candidates if i not in counter_bytes]
    index = data.draw(st.sampled_from(candidates))
    corrupted = bytearray(sealed)
    corrupted[index] ^= data.draw(st.integers(1, 255))
    assert not prot.verify(bytes(corrupted))


AUTOSAR = [c for c in CONFIGS if c.scheme.startswith("autosar")]


@pytest.mark.parametrize("cfg", AUTOSAR, ids=lambda c: c.label)
@PARAMS
@given(data=st.data())
def test_autosar_schemes_agree_with_the_library_both_ways(
    dbs: dict[str, CanDatabase], cfg: Config, data: st.DataObject
) -> None:
    prot = built(dbs, cfg)
    assert isinstance(prot, AutosarProtection)
    lib = prot.profile
    size = prot.size
    counter = data.draw(st.integers(prot.alive.minimum, prot.alive.high))
    sealed = prot.protect(data.draw(payloads(size)), counter)
    # the library accepts what the harness sealed ...
    assert lib.check(bytearray(sealed), prot.data_id, **prot._kw)
    # ... and its own next frame (it steps the counter itself) is the harness's next frame
    buf = bytearray(sealed)
    lib.protect(buf, prot.data_id, increment_counter=True, **prot._kw)
    assert bytes(buf) == prot.protect(sealed, prot.alive.next(counter))
    assert prot.verify(bytes(buf))


def test_registry_holds_every_built_in_scheme() -> None:
    assert set(E2E_SCHEMES.names()) >= {
        "cc_tcu_1",
        "autosar_p01",
        "autosar_p02",
        "autosar_p04",
        "autosar_p05",
        "autosar_p06",
        "autosar_p07",
        "autosar_p11",
        "byte_sum",
        "xor",
        "nibble_sum",
        "counter_only",
    }
    assert E2E_SCHEMES.group == "cc_harness.e2e_schemes"
    with pytest.raises(InputError, match="registered twice"):
        E2E_SCHEMES.register("byte_sum", CounterOnly)
    with pytest.raises(InputError, match="unknown E2E scheme"):
        E2E_SCHEMES.get("autosar_p03")


def test_cc_tcu_1_crc_is_unchanged(dbs: dict[str, CanDatabase]) -> None:
    """The check value of CRC-8/SAE-J1850 and CC-TCU-1's layout (reference-tcu.md)."""
    assert crc8_sae_j1850(b"123456789") == 0x4B
    prot = built(dbs, CONFIGS[0])
    assert isinstance(prot, E2EProtection)
    assert prot == dbs["tcu"].message("TCU_Status").e2e("AliveCounter", "CRC")
    assert (prot.data_id, prot.crc_byte, prot.alive.field.shift, prot.alive.span) == (
        0x3A0,
        7,
        48,
        16,
    )


def test_hyundai_checksums_match_the_formulas_oems_publish(dbs: dict[str, CanDatabase]) -> None:
    """The byte-sum and nibble-sum schemes give the values of the formulas open-source
    driver-assistance code applies to these Hyundai/Kia messages."""
    lkas = built(dbs, CONFIGS[[c.label for c in CONFIGS].index("byte_sum")])
    scc = built(dbs, CONFIGS[[c.label for c in CONFIGS].index("nibble_sum")])
    for seed in range(200):
        raw = bytes((seed * 37 + i * 101) & 0xFF for i in range(8))
        d = lkas.protect(raw, seed % 16)
        assert d[6] == (sum(d[:6]) + d[7]) % 256 and d[7] >> 4 == seed % 16
        d = scc.protect(raw, seed % 16)
        nibbles = sum((b % 16) + (b // 16) for b in d[:7]) + (d[7] & 0x0F)
        assert d[7] >> 4 == (16 - nibbles % 16) % 16 and d[7] & 0x0F == seed % 16
