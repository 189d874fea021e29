"""Payload codecs (ASN.1 UPER, JSON Schema) and command signing/verification check values."""

from __future__ import annotations

import hashlib
import hmac
import json

import asn1tools
import pytest

from harness.mqtt.codec import JsonCodec, UperCodec, load_asn1
from harness.mqtt.commands import CommandSigner, command_mac, verify_command
from tests.conftest import ROOT

ASN1 = str(ROOT / "dbc" / "ccv2x.asn")
PSK = bytes(range(32))

BSM = {
    "msgCnt": 127,
    "id": b"\x0c\x0f\xfe\xe1",
    "secMark": 59999,
    "lat": 374563000,
    "long": -1799999999,
    "elev": -4096,
    "speed": 8191,
    "heading": 28800,
    "accelLong": -2000,
    "brakeApplied": True,
    "events": (b"\x40", 2),
}


def test_bsm_round_trip_normalises_octets_and_named_bits() -> None:
    module = load_asn1(ASN1)
    payload = module.encode("BasicSafetyMessage", BSM)
    value, error = UperCodec(module, "BasicSafetyMessage").decode(payload)
    assert error is None
    assert value["id"] == "0C0FFEE1"
    assert value["events"] == {"hardBraking": False, "vehDataFault": True}
    assert value["msgCnt"] == 127 and value["long"] == -1799999999


def test_out_of_range_is_refused_when_encoding() -> None:
    module = load_asn1(ASN1)
    with pytest.raises(asn1tools.ConstraintsError):
        module.encode("BasicSafetyMessage", dict(BSM, speed=8192))
    with pytest.raises(asn1tools.ConstraintsError):
        module.encode("BasicSafetyMessage", dict(BSM, accelLong=-2001))


def test_a_payload_that_does_not_decode_is_an_error_not_an_exception() -> None:
    codec = UperCodec(load_asn1(ASN1), "BasicSafetyMessage")
    value, error = codec.decode(b"\x01\x02")
    assert value is None and error is not None and "out of data" in error.lower()
    value, error = UperCodec(load_asn1(ASN1), "HazardEvent").decode(b"")
    assert value is None and error


def test_json_codec_validates_against_the_schema() -> None:
    codec = JsonCodec(
        {
            "type": "object",
            "required": ["seq", "result"],
            "properties": {"seq": {"type": "integer"}},
        }
    )
    assert codec.decode(b'{"seq": 1, "result": "ok"}') == ({"seq": 1, "result": "ok"}, None)
    _value, error = codec.decode(b'{"seq": "x", "result": "ok"}')
    assert error is not None and "seq" in error
    assert codec.decode(b"{nope")[1] is not None
    assert codec.decode(b"\xff\xfe")[1] is not None


def test_mac_check_value() -> None:
    mac = command_mac(PSK, "horn", 7, "00112233445566778899aabbccddeeff", 1700000000000)
    text = b"horn|7|00112233445566778899aabbccddeeff|1700000000000"
    assert mac == hmac.new(PSK, text, hashlib.sha256).hexdigest()
    # the same value as: openssl dgst -sha256 -mac HMAC -macopt hexkey:000102...1f
    assert mac == "01ecc3b2d845aa6c215e8a0744a04d10b71bc60fd774115cc00c18b7775b3aa8"


def _verify(
    payload: bytes, now: int = 1_000_000, seen: set[str] | None = None
) -> tuple[bool, int, str | None]:
    r = verify_command(payload, PSK, now, (seen or set()).__contains__)
    return r.ok, r.seq, r.reason


def test_signed_commands_and_the_deliberately_wrong_ones() -> None:
    signer = CommandSigner(PSK, seed=1)
    now = 1_000_000
    good = signer.build("horn", 7, now)
    assert _verify(good.payload, now) == (True, 7, None)
    assert _verify(signer.build("lock", 8, now, "bad_mac").payload, now) == (False, 8, "bad-mac")
    assert _verify(signer.build("lock", 9, now, "stale").payload, now) == (False, 9, "stale")
    seen = {json.loads(good.payload)["nonce"]}
    replay = signer.build("lock", 10, now, "replay")
    assert json.loads(replay.payload)["nonce"] == json.loads(good.payload)["nonce"]
    assert _verify(replay.payload, now, seen) == (False, 10, "replay")
    assert _verify(signer.build("x", 11, now, "malformed").payload, now) == (False, -1, "malformed")
    big = signer.build("horn", 12, now, "oversize")
    assert len(big.payload) > 1024 and big.seq == -1
    assert _verify(big.payload, now) == (False, -1, "malformed")
    assert _verify(signer.build("horn", 13, now, "missing_seq").payload, now) == (
        False,
        -1,
        "malformed",
    )
    assert _verify(signer.build("horn", 14, now, "bad_nonce").payload, now) == (
        False,
        14,
        "malformed",
    )
    assert _verify(signer.build("honk", 15, now).payload, now) == (False, 15, "unknown-cmd")


def test_reasons_come_in_the_page_order_and_replay_ignores_case() -> None:
    signer = CommandSigner(PSK)
    now = 5_000_000
    # unknown-cmd before bad-mac; bad-mac before stale; stale before replay
    body = json.loads(signer.build("honk", 1, now, "bad_mac").payload)
    assert _verify(json.dumps(body).encode(), now)[2] == "unknown-cmd"
    stale_forged = json.loads(signer.build("horn", 2, now - 60_000, "bad_mac").payload)
    assert _verify(json.dumps(stale_forged).encode(), now)[2] == "bad-mac"
    cmd = signer.build("horn", 3, now - 60_000)
    nonce = json.loads(cmd.payload)["nonce"]
    assert _verify(cmd.payload, now, {nonce})[2] == "stale"
    # nonce compared case-insensitively, MACed as sent
    upper = nonce.upper()
    ts = now
    mac = command_mac(PSK, "horn", 4, upper, ts)
    payload = json.dumps({"cmd": "horn", "seq": 4, "nonce": upper, "ts": ts, "mac": mac}).encode()
    assert _verify(payload, now, {nonce.lower()}) == (False, 4, "replay")
    assert _verify(payload, now) == (True, 4, None)
    # mistyped fields
    for bad in ({"seq": True}, {"seq": 2**31}, {"ts": "1"}, {"mac": "00"}, {"nonce": 5}):
        body = {"cmd": "horn", "seq": 5, "nonce": nonce, "ts": ts, "mac": "0" * 64, **bad}
        ok, _seq, reason = _verify(json.dumps(body).encode(), now)
        assert (ok, reason) == (False, "malformed")
    assert _verify(b"[1, 2]", now) == (False, -1, "malformed")
    assert _verify(b'{"seq": 9}', now) == (False, 9, "malformed")


def test_the_signer_never_shows_its_key() -> None:
    assert PSK.hex() not in repr(CommandSigner(PSK))


def test_decoding_checks_the_integer_ranges_uper_can_break() -> None:
    spec = asn1tools.compile_files(ASN1, "uper")
    # lat has 31 bits for 1800000002 values: 900000002 is encodable without the check
    crafted = spec.encode("BasicSafetyMessage", dict(BSM, lat=900000002), check_constraints=False)
    with pytest.raises(asn1tools.ConstraintsError):
        spec.decode("BasicSafetyMessage", crafted, check_constraints=True)
    value, error = UperCodec(load_asn1(ASN1), "BasicSafetyMessage").decode(crafted)
    assert value is None and error is not None and "lat" in error
