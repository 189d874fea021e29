"""The part's identity is what the profile declares: read from its DIDs, or given for a part
without them; never a built-in value. It names the certificate's subject and keys the MQTT
topics; without it there is no certificate."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.bench import load_bench
from harness.canonical import canonical_json
from harness.certificate.dsse import sign_envelope
from harness.certificate.issue import why_no_certificate
from harness.certificate.keys import generate_key_pair, load_private_key, load_public_key
from harness.certificate.statement import PREDICATE_TYPE_V1, check_statement, subjects_for
from harness.certificate.verify import verify_certificate
from harness.cli import main
from harness.errors import VerificationError
from harness.evidence import CERTIFICATE_FILE
from harness.identity import IdentityField
from harness.profile.compile import load_profile
from harness.record import Verdict
from harness.session import DutChoice, Session
from harness.sim.tcu import TcuIdentity
from tests.conftest import DBC, ROOT

HEAD = f"""\
format: cc-harness-profile/1
profile:
  id: identity-test
  version: 1.0.0
  title: identity test
  requirements: {{id: CC-TCU-1, version: "1.0", ids: [CAN-001, V2X-002]}}
dbc: {DBC}
dut: {{node: TCU, ready: {{message: TCU_Status, timeout: 2 s}}}}
e2e:
  VEH_Dynamics: {{counter: AliveCounter, crc: CRC}}
restbus:
  VEH_Dynamics: {{signals: {{VehicleSpeed: 50.0}}}}
  VEH_Status: {{signals: {{IgnitionState: "ON"}}}}
"""
CASES = """\
cases:
  - id: TC-CYCLE
    title: cycle
    requirements: [CAN-001]
    steps:
      - observe: 1 s
        checks: [{kind: cycle_time, message: TCU_Status, min: 90 ms, max: 110 ms}]
"""
# A part whose serial is 16 characters and has no DID for it; the profile names it by serial.
EPS_IDENTITY = """\
identity:
  vin: {did: 0xF190, length: 17}
  serial: {length: 16, pattern: "EPS[0-9]{13}", subject: true}
"""
SERIAL = "EPS0000000000042"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def certify(tmp_path: Path, profile: Path, *extra: str) -> tuple[int, Path, Path]:
    key = generate_key_pair(tmp_path / "key")
    folder = tmp_path / "ev"
    args = ["certify", str(profile), "--out", str(folder), "--quiet", "--key", str(key.private)]
    return main([*args, *extra]), folder, key.public


def private_key_of(tmp_path: Path) -> Path:
    """The private key :func:`certify` generated in ``tmp_path``."""
    (found,) = [p for p in tmp_path.glob("key*") if "pub" not in p.name]
    return found


def verified_predicate(folder: Path, public: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    v = verify_certificate(
        (folder / CERTIFICATE_FILE).read_bytes(),
        load_public_key(public),
        now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1),
        evidence=folder,
    )
    return v.statement, v.predicate


# -- the items themselves ------------------------------------------------------------------------
@given(st.binary(min_size=1, max_size=32))
def test_hex_and_unsigned_decodings_keep_the_bytes(data: bytes) -> None:
    assert bytes.fromhex(IdentityField("x", 1, "hex").decode(data)) == data
    number = int(IdentityField("x", 1, "unsigned").decode(data))
    assert number.to_bytes(len(data), "big") == data


def test_lengths_and_patterns_as_declared() -> None:
    serial = IdentityField("serial", None, "ascii", 12, 16, r"[A-Z0-9]+")
    assert serial.problem("EPS0000000000042") is None
    assert serial.problem("CCTCU0000001") is None
    assert "12..16 characters" in (serial.problem("SHORT") or "")
    assert "matching" in (serial.problem("eps0000000000042") or "")
    assert IdentityField("vin", 1, "ascii", 17, 17).problem("") is not None


# -- the profile --------------------------------------------------------------------------------
def test_a_topic_naming_an_undeclared_item_is_a_profile_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mqtt = (
        f"mqtt:\n  asn1: {ROOT / 'dbc' / 'ccv2x.asn'}\n  topics:\n"
        '    bsm: {topic: "v2x/bsm/{station_id}", codec: uper, type: BasicSafetyMessage}\n'
    )
    path = write(tmp_path, "p.yaml", HEAD + EPS_IDENTITY + mqtt + CASES)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "mqtt.topics.bsm.topic" in err and "{station_id} names no identity item" in err
    assert "valid: vin, serial" in err
    two = EPS_IDENTITY.replace("length: 17}", "length: 17, subject: true}")
    assert main(["validate", str(write(tmp_path, "q.yaml", HEAD + two + CASES))]) == 2
    assert "identity.serial.subject" in capsys.readouterr().err


# -- given identity, no DID ---------------------------------------------------------------------
def test_a_16_character_serial_given_for_a_part_without_its_did_names_the_certificate(
    tmp_path: Path,
) -> None:
    profile = write(tmp_path, "p.yaml", HEAD + EPS_IDENTITY + CASES)
    code, folder, public = certify(tmp_path, profile, "--identity", f"serial={SERIAL}")
    assert code == 0
    statement, predicate = verified_predicate(folder, public)
    assert statement["subject"][0]["name"] == SERIAL
    assert predicate["dut"]["identity"] == {"vin": TcuIdentity().vin, "serial": SERIAL}
    assert predicate["dut"]["identity_sources"] == {"vin": "part", "serial": "command-line"}
    assert predicate["dut"]["subject"] == "serial"
    run = json.loads((folder / "run.json").read_text())
    assert run["identity_sources"]["serial"] == "command-line"


def test_the_bench_gives_it_too_and_the_command_line_wins(tmp_path: Path) -> None:
    profile = write(tmp_path, "p.yaml", HEAD + EPS_IDENTITY + CASES)
    bench = write(
        tmp_path,
        "bench.yaml",
        "format: cc-harness-bench/1\ndut: {identity: {serial: EPS1111111111111}}\n",
    )
    plan = load_profile(profile)
    with Session(plan, load_bench(bench), DutChoice.parse("sim")) as session:
        record = session.run_all()
    assert record.identity["serial"] == "EPS1111111111111"
    assert record.identity_sources["serial"] == "bench"
    code, folder, public = certify(
        tmp_path, profile, "--bench", str(bench), "--identity", f"serial={SERIAL}"
    )
    assert code == 0
    statement, _ = verified_predicate(folder, public)
    assert statement["subject"][0]["name"] == SERIAL


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("serial=EPS000000000004", "expected 16 characters matching"),  # 15
        ("vin=WVWZZZ1JZXW000001", "is read from the part (DID 0xF190)"),
        ("part_no=7", "declares no identity item part_no"),
        ("serial", "NAME=VALUE"),
    ],
)
def test_a_given_value_that_does_not_fit_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], assignment: str, message: str
) -> None:
    profile = write(tmp_path, "p.yaml", HEAD + EPS_IDENTITY + CASES)
    out = tmp_path / "ev"
    assert main(["certify", str(profile), "--out", str(out), "--identity", assignment]) == 2
    err = capsys.readouterr().err
    assert "--identity" in err and message in err
    assert not out.exists()


def test_no_identity_available_means_no_certificate_saying_what_to_declare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # an external part on the bench's bus, with no DID for its serial and no value given:
    # refused before any bus is opened
    profile = write(tmp_path, "p.yaml", HEAD + EPS_IDENTITY + CASES)
    bench = write(tmp_path, "bench.yaml", "format: cc-harness-bench/1\ncan: {interface: virtual}\n")
    key = generate_key_pair(tmp_path / "key")
    args = ["certify", str(profile), "--dut", "external", "--bench", str(bench)]
    out = tmp_path / "ev"
    assert main([*args, "--out", str(out), "--key", str(key.private)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no certificate could name the part" in err
    assert "--identity serial=VALUE" in err and "dut.identity" in err
    assert not out.exists()
    # a profile that declares no identity at all
    bare = write(tmp_path, "bare.yaml", HEAD + CASES)
    assert main(["certify", str(bare), "--out", str(out), "--key", str(key.private)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "declares no identity" in err and "identity section" in err
    # run without a key: it runs, and the record says why it could not be certified
    plan = load_profile(bare)
    with Session(plan, load_bench(None), DutChoice.parse("sim")) as session:
        record = session.run_all()
    assert record.passed and record.identity == {}
    reason = why_no_certificate(record, plan) or ""
    assert "declares no identity" in reason
    # the bench's simulator settings are never an identity: nothing from them was recorded
    assert "KMHCC00TCU1000001" not in json.dumps(record.to_json())


# -- read from the part -------------------------------------------------------------------------
def test_the_identity_read_from_the_dids_names_the_subject(tmp_path: Path) -> None:
    identity = "identity:\n  vin: {did: 0xF190, length: 17, subject: true}\n  sw: 0xF189\n"
    profile = write(tmp_path, "p.yaml", HEAD + identity + CASES)
    vin = "WVWZZZ1JZXW000001"
    bench = write(tmp_path, "bench.yaml", f"format: cc-harness-bench/1\ndut: {{vin: {vin}}}\n")
    code, folder, public = certify(tmp_path, profile, "--bench", str(bench))
    assert code == 0
    statement, predicate = verified_predicate(folder, public)
    assert statement["subject"][0]["name"] == vin
    assert predicate["dut"]["identity"] == {"vin": vin, "sw": TcuIdentity().sw_version}
    assert predicate["dut"]["identity_sources"] == {"vin": "part", "sw": "part"}


def test_a_did_value_unlike_the_declaration_ends_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    identity = "identity:\n  vin: {did: 0xF190, length: 16}\n"
    profile = write(tmp_path, "p.yaml", HEAD + identity + CASES)
    assert main(["certify", str(profile), "--out", str(tmp_path / "ev"), "--quiet"]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert "not as the profile declares it (identity.vin)" in err
    assert "expected 16 characters" in err


# -- MQTT topics keyed by the declared items ----------------------------------------------------
def mqtt_profile(tmp_path: Path, unit: str) -> Path:
    text = (
        HEAD
        + f"identity:\n  unit: {unit}\n"
        + f"mqtt:\n  asn1: {ROOT / 'dbc' / 'ccv2x.asn'}\n  topics:\n"
        + '    bsm: {topic: "v2x/bsm/{unit}", codec: uper, type: BasicSafetyMessage, qos: 0}\n'
        + "cases:\n  - id: TC-BSM\n    title: bsm\n    requirements: [V2X-002]\n    steps:\n"
        + "      - wait: 1 s\n      - observe: 3 s\n        checks:\n"
        + "          - {kind: mqtt_interval, topic: bsm, min: 80 ms, max: 120 ms}\n"
        + "          - {kind: mqtt_field, topic: bsm, where: {id: $unit}}\n"
    )
    return write(tmp_path, f"mqtt-{len(unit)}.yaml", text)


def test_topics_are_keyed_by_the_identity_the_profile_declares(tmp_path: Path) -> None:
    bench = load_bench(
        write(tmp_path, "bench.yaml", "format: cc-harness-bench/1\ndut: {station_id: 0x0A0B0C0D}\n")
    )
    plan = load_profile(mqtt_profile(tmp_path, "{did: 0xF1A0, format: hex, length: 8}"))
    with Session(plan, bench, DutChoice.parse("sim")) as session:
        record = session.run_all()
        assert session.mqtt is not None
        assert session.mqtt.identity == {"unit": "0A0B0C0D"}
    assert record.cases[0].verdict is Verdict.PASS, record.cases[0].checks
    # the same part, the topic keyed by another item (its serial): nothing arrives there
    plan = load_profile(mqtt_profile(tmp_path, "{did: 0xF18C}"))
    with Session(plan, bench, DutChoice.parse("sim")) as session:
        record = session.run_all()
    assert record.cases[0].verdict is Verdict.FAIL


# -- certificates issued before declared identities -----------------------------------------------
def test_a_v1_certificate_still_verifies(tmp_path: Path) -> None:
    identity = "identity:\n  vin: {did: 0xF190, subject: true}\n  serial: 0xF18C\n"
    profile = write(tmp_path, "p.yaml", HEAD + identity + CASES)
    code, folder, public = certify(tmp_path, profile)
    assert code == 0
    statement, predicate = verified_predicate(folder, public)
    # the same run as the v1 format had it: one identity source, no subject item, no
    # conformance; the subject named by the VIN
    old = dict(predicate)
    del old["conformance"]
    dut = old["dut"]
    old["dut"] = {
        "identity": dut["identity"],
        "identity_source": "part",
        "firmware_sha256": dut["firmware_sha256"],
    }
    v1 = {
        **statement,
        "predicateType": PREDICATE_TYPE_V1,
        "predicate": old,
        "subject": subjects_for(dut["identity"], None),
    }
    assert check_statement(v1) == old
    private = load_private_key(private_key_of(tmp_path))
    cert = sign_envelope(canonical_json(v1), private)
    now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    verified = verify_certificate(cert, load_public_key(public), now=now, evidence=folder)
    assert verified.statement["subject"][0]["name"] == TcuIdentity().vin
    # a v2 shape under the v1 type is not accepted, nor a v1 shape under v2
    with pytest.raises(VerificationError, match="unexpected field"):
        check_statement({**statement, "predicateType": PREDICATE_TYPE_V1})
    with pytest.raises(VerificationError, match="missing field"):
        check_statement({**v1, "predicateType": statement["predicateType"]})


def test_v2_statement_checks_what_the_shape_cannot(tmp_path: Path) -> None:
    identity = "identity:\n  vin: {did: 0xF190, subject: true}\n"
    profile = write(tmp_path, "p.yaml", HEAD + identity + CASES)
    code, folder, public = certify(tmp_path, profile)
    assert code == 0
    statement, predicate = verified_predicate(folder, public)
    for broken, message in [
        ({"conformance": {**predicate["conformance"], "not_claimed": ["CAN-001"]}}, "not_claimed"),
        ({"dut": {**predicate["dut"], "subject": "serial"}}, "not an item"),
        ({"dut": {**predicate["dut"], "identity_sources": {}}}, "identity_sources"),
    ]:
        forged = {**statement, "predicate": {**predicate, **broken}}
        with pytest.raises(VerificationError, match=message):
            check_statement(forged)
