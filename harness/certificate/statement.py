"""The certificate's content: an in-toto Statement v1 about the device under test.

::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": <subject item>, "digest": {"sha256": <sha256 of the identity>}},
                 {"name": "firmware", "digest": {"sha256": <firmware image>}}],  # if named
     "predicateType": "https://cc-harness.dev/certification/v2",
     "predicate": {...}}

The first subject is the DUT: its name is the value of the identity item the profile names
the subject by (``subject: true``, else its first item), its digest the sha256 of the
canonical JSON of its identity (which the predicate holds in full, with where each item came
from: read from the part, the bench or the command line, so anyone can recompute it). A bench
that names ``dut.firmware_sha256`` adds the firmware image as a second subject. The predicate
also carries the supplier's conformance statement (``conformance.statement``: the optional
features it declared, or null), the requirements not claimed (only cases that did not apply
to the part trace them) and the cases that did not apply. :data:`PREDICATE_SCHEMA` is the
one definition of the predicate: the issuer builds to it and the verifier accepts exactly
it (every field required, no other field).

Certificates issued before declared identities carry predicate type ``.../certification/v1``
(the subject named by ``vin``, else ``serial``; one identity source; no conformance). The
verifier still accepts them exactly as they were issued (:data:`PREDICATE_SCHEMA_V1`); the
issuer writes v2 only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from harness.canonical import canonical_json
from harness.certificate.issue_options import ISSUER_LEVELS
from harness.errors import VerificationError
from harness.evidence import MANIFEST_FILE
from harness.record import RunRecord, Verdict

if TYPE_CHECKING:
    from harness.bench import Bench

__all__ = [
    "IDENTITY_SOURCES",
    "ISSUER_LEVELS",
    "PREDICATE_SCHEMA",
    "PREDICATE_SCHEMA_V1",
    "PREDICATE_TYPE",
    "PREDICATE_TYPE_V1",
    "STATEMENT_TYPE",
    "bench_summary",
    "build_statement",
    "check_statement",
    "dut_identity",
    "format_time",
    "identity_digest",
    "parse_time",
    "subjects_for",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://cc-harness.dev/certification/v2"
PREDICATE_TYPE_V1 = "https://cc-harness.dev/certification/v1"  # verified, no longer issued
# v2: per item, read from the part (UDS), or given by the bench file or the command line
IDENTITY_SOURCES = ("part", "bench", "command-line")
IDENTITY_SOURCES_V1 = ("bench", "part")
FIRMWARE_SUBJECT = "firmware"
_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


# -- times -------------------------------------------------------------------------------------
def format_time(when: dt.datetime) -> str:
    """UTC, to the second: ``2026-11-25T20:13:54Z``."""
    return when.astimezone(dt.timezone.utc).strftime(_TIME_FORMAT)


def parse_time(text: object, where: str) -> dt.datetime:
    """A time written by :func:`format_time`, or VerificationError naming ``where``."""
    if isinstance(text, str) and _TIME.match(text):
        try:
            when = dt.datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=dt.timezone.utc)
        except ValueError:
            pass
        else:
            if format_time(when) == text:
                return when
    raise VerificationError(
        f"{where} is {text!r}, expected an ISO-8601 UTC time like 2026-01-31T12:00:00Z"
    )


# -- the DUT -----------------------------------------------------------------------------------
def dut_identity(record: RunRecord) -> dict[str, Any]:
    """The predicate's ``dut`` part (without the firmware): the identity the run recorded
    (read from the part, or given for items without a DID), never a built-in one."""
    identity = {str(k): str(v) for k, v in record.identity.items()}
    subject = record.identity_subject
    if not identity or subject not in identity:
        raise VerificationError(
            "the run recorded no identity of the part to name the certificate's subject by"
        )
    sources = {k: str(record.identity_sources.get(k, "part")) for k in identity}
    return {"identity": identity, "identity_sources": sources, "subject": subject}


def identity_digest(identity: Mapping[str, str]) -> str:
    return hashlib.sha256(canonical_json(dict(identity))).hexdigest()


def subjects_for(
    identity: Mapping[str, str], firmware_sha256: str | None, subject: str | None = None
) -> list[dict[str, Any]]:
    """The Statement's subjects for this identity (and firmware image, if known); the DUT is
    named by the ``subject`` item (None: the v1 rule, the VIN else the serial)."""
    if subject is not None:
        name = identity[subject]
    else:
        name = identity.get("vin") or identity.get("serial") or "dut"
    subjects: list[dict[str, Any]] = [
        {"name": name, "digest": {"sha256": identity_digest(identity)}}
    ]
    if firmware_sha256 is not None:
        subjects.append({"name": FIRMWARE_SUBJECT, "digest": {"sha256": firmware_sha256}})
    return subjects


def bench_summary(description: Mapping[str, Any]) -> dict[str, Any]:
    """The bench from an allow-list of fields: never a dump that could carry a secret."""
    can = description.get("can") or {}
    return {
        "name": str(description.get("name") or "unnamed bench"),
        "can": {
            "interface": str(can.get("interface") or "unknown"),
            "channel": can.get("channel"),
            "bitrate": can.get("bitrate"),
        },
    }


def build_statement(
    record: RunRecord,
    bench: Bench,
    *,
    dbc_name: str,
    requirement_set: Mapping[str, str],
    manifest_sha256: str,
    issuer_level: str,
    issued: dt.datetime,
    expires: dt.datetime,
) -> dict[str, Any]:
    """The Statement for a finished, passing run whose evidence has that manifest digest."""
    dut = dut_identity(record)
    firmware = bench.dut.firmware_sha256
    predicate = {
        "run_id": record.run_id,
        "profile": {
            "id": record.profile_id,
            "version": record.profile_version,
            "sha256": record.profile_digest,
            "requirements": {
                "id": requirement_set["id"],
                "version": requirement_set["version"],
            },
        },
        "dbc": {"name": dbc_name, "sha256": record.dbc_digest},
        "asn1": [],  # {name, sha256} of each ASN.1 module once V2X payloads are checked
        "harness": {"name": "cc-harness", "version": record.harness_version},
        "mode": record.mode,
        "bench": bench_summary(record.bench),
        "dut": {**dut, "firmware_sha256": firmware},
        "requirements": {k: v.value for k, v in record.requirement_verdicts().items()},
        "conformance": {
            "statement": None if record.conformance is None else dict(record.conformance),
            "not_claimed": record.not_claimed(),
            "not_applicable": [
                c.case_id for c in record.cases if c.verdict is Verdict.NOT_APPLICABLE
            ],
        },
        "evidence": {"manifest": MANIFEST_FILE, "manifest_sha256": manifest_sha256},
        "issuer": {"level": issuer_level},
        "issued": format_time(issued),
        "expires": format_time(expires),
    }
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": subjects_for(dut["identity"], firmware, dut["subject"]),
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }
    check_statement(statement)  # what we sign is exactly what the verifier accepts
    return statement


# -- the schema --------------------------------------------------------------------------------
Check = Callable[[Any, str], None]


def _fail(where: str, expected: str, got: Any) -> VerificationError:
    shown = repr(got) if len(repr(got)) <= 80 else repr(got)[:77] + "..."
    return VerificationError(f"{where} must be {expected}, but is {shown}")


def _obj(fields: Mapping[str, Check]) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise _fail(where, "an object", value)
        missing = sorted(set(fields) - set(value))
        if missing:
            raise VerificationError(f"{where} is missing field(s) {', '.join(missing)}")
        extra = sorted(set(value) - set(fields))
        if extra:
            raise VerificationError(f"{where} has unexpected field(s) {', '.join(extra)}")
        for key, sub in fields.items():
            sub(value[key], f"{where}.{key}")

    return check


def _text(value: Any, where: str) -> None:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise _fail(where, "a non-empty string (at most 200 characters)", value)


def _hex64(value: Any, where: str) -> None:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{64}", value):
        raise _fail(where, "a sha256 in lower-case hex", value)


def _run_id(value: Any, where: str) -> None:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{32}", value):
        raise _fail(where, "a run id (32 lower-case hex digits)", value)


def _one_of(*choices: str) -> Check:
    def check(value: Any, where: str) -> None:
        if value not in choices:
            raise _fail(where, f"one of {', '.join(choices)}", value)

    return check


def _nullable(inner: Check) -> Check:
    def check(value: Any, where: str) -> None:
        if value is not None:
            inner(value, where)

    return check


def _channel(value: Any, where: str) -> None:
    if value is not None and not isinstance(value, str) and type(value) is not int:
        raise _fail(where, "a string, an integer or null", value)


def _bitrate(value: Any, where: str) -> None:
    if type(value) is not int or value <= 0:
        raise _fail(where, "a positive integer", value)


def _time(value: Any, where: str) -> None:
    parse_time(value, where)


def _identity(value: Any, where: str) -> None:
    if not isinstance(value, dict) or not value:
        raise _fail(where, "a non-empty object of strings", value)
    for key, item in value.items():
        if not isinstance(item, str) or len(item) > 200:
            raise _fail(f"{where}.{key}", "a string (at most 200 characters)", item)


def _verdicts(value: Any, where: str) -> None:
    if not isinstance(value, dict) or not value:
        raise _fail(where, "a non-empty object: requirement id -> verdict", value)
    for key, item in value.items():
        _text(key, f"{where} key")
        _one_of(*(v.value for v in Verdict))(item, f"{where}.{key}")


def _asn1(value: Any, where: str) -> None:
    if not isinstance(value, list):
        raise _fail(where, "a list of {name, sha256}", value)
    module = _obj({"name": _text, "sha256": _hex64})
    for i, item in enumerate(value):
        module(item, f"{where}[{i}]")


_FIELDS_V1: dict[str, Check] = {
    "run_id": _run_id,
    "profile": _obj(
        {
            "id": _text,
            "version": _text,
            "sha256": _hex64,
            "requirements": _obj({"id": _text, "version": _text}),
        }
    ),
    "dbc": _obj({"name": _text, "sha256": _hex64}),
    "asn1": _asn1,
    "harness": _obj({"name": _one_of("cc-harness"), "version": _text}),
    "mode": _one_of("simulated", "realtime"),
    "bench": _obj(
        {
            "name": _text,
            "can": _obj({"interface": _text, "channel": _channel, "bitrate": _nullable(_bitrate)}),
        }
    ),
    "dut": _obj(
        {
            "identity": _identity,
            "identity_source": _one_of(*IDENTITY_SOURCES_V1),
            "firmware_sha256": _nullable(_hex64),
        }
    ),
    "requirements": _verdicts,
    "evidence": _obj({"manifest": _one_of(MANIFEST_FILE), "manifest_sha256": _hex64}),
    "issuer": _obj({"level": _one_of(*ISSUER_LEVELS)}),
    "issued": _time,
    "expires": _time,
}
PREDICATE_SCHEMA_V1: Check = _obj(_FIELDS_V1)


def _sources(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise _fail(where, "an object: identity item -> source", value)
    for key, item in value.items():
        _one_of(*IDENTITY_SOURCES)(item, f"{where}.{key}")


def _features(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise _fail(where, "an object: feature -> true or false", value)
    for key, item in value.items():
        _text(key, f"{where} key")
        if not isinstance(item, bool):
            raise _fail(f"{where}.{key}", "true or false", item)


def _requirement_ids(value: Any, where: str) -> None:
    if not isinstance(value, list):
        raise _fail(where, "a list of requirement ids", value)
    for i, item in enumerate(value):
        _text(item, f"{where}[{i}]")


PREDICATE_SCHEMA: Check = _obj(
    {
        **_FIELDS_V1,
        "dut": _obj(
            {
                "identity": _identity,
                "identity_sources": _sources,
                "subject": _text,
                "firmware_sha256": _nullable(_hex64),
            }
        ),
        "conformance": _obj(
            {
                "statement": _nullable(_obj({"source": _text, "features": _features})),
                "not_claimed": _requirement_ids,
                "not_applicable": _requirement_ids,  # case ids, checked alike
            }
        ),
    }
)
_SCHEMAS = {PREDICATE_TYPE: PREDICATE_SCHEMA, PREDICATE_TYPE_V1: PREDICATE_SCHEMA_V1}


def _check_v2(predicate: dict[str, Any]) -> None:
    """What the v2 shape alone cannot say: the subject item and the sources are of the
    identity, and the requirements not claimed are exactly those NOT_APPLICABLE."""
    dut = predicate["dut"]
    if dut["subject"] not in dut["identity"]:
        raise VerificationError(
            f"predicate.dut.subject {dut['subject']!r} is not an item of predicate.dut.identity"
        )
    if sorted(dut["identity_sources"]) != sorted(dut["identity"]):
        raise VerificationError(
            "predicate.dut.identity_sources must name the source of every identity item, "
            "and of no other"
        )
    shown = sorted(
        k for k, v in predicate["requirements"].items() if v == Verdict.NOT_APPLICABLE.value
    )
    if sorted(predicate["conformance"]["not_claimed"]) != shown:
        raise VerificationError(
            f"predicate.conformance.not_claimed {predicate['conformance']['not_claimed']!r} "
            f"differs from the requirements whose verdict is NOT_APPLICABLE {shown!r}"
        )


def check_statement(statement: Any) -> dict[str, Any]:
    """The predicate of a Statement of exactly our shape, or VerificationError saying what
    is wrong (statement type, predicate type, a field missing, extra or of the wrong type,
    subjects that do not match the DUT the predicate names)."""
    if not isinstance(statement, dict):
        raise _fail("the payload", "an in-toto Statement (a JSON object)", statement)
    keys = {"_type", "subject", "predicateType", "predicate"}
    missing = sorted(keys - set(statement))
    if missing:
        raise VerificationError(f"the Statement is missing field(s) {', '.join(missing)}")
    extra = sorted(set(statement) - keys)
    if extra:
        raise VerificationError(f"the Statement has unexpected field(s) {', '.join(extra)}")
    if statement["_type"] != STATEMENT_TYPE:
        raise VerificationError(
            f"the Statement's _type is {statement['_type']!r}, expected {STATEMENT_TYPE!r} "
            "(in-toto Statement v1)"
        )
    schema = _SCHEMAS.get(statement["predicateType"])
    if schema is None:
        raise VerificationError(
            f"unknown predicateType {statement['predicateType']!r}: this harness verifies "
            f"{PREDICATE_TYPE!r} (and {PREDICATE_TYPE_V1!r} of earlier certificates) only"
        )
    predicate: dict[str, Any] = statement["predicate"]
    schema(predicate, "predicate")
    v2 = statement["predicateType"] == PREDICATE_TYPE
    if v2:
        _check_v2(predicate)
    dut = predicate["dut"]
    expected = subjects_for(dut["identity"], dut["firmware_sha256"], dut.get("subject"))
    if statement["subject"] != expected:
        raise VerificationError(
            "the Statement's subject does not match the DUT its predicate names: expected "
            f"{canonical_json(expected).decode()}, but got "
            f"{canonical_json(statement['subject']).decode()[:300]}"
        )
    issued = parse_time(predicate["issued"], "predicate.issued")
    expires = parse_time(predicate["expires"], "predicate.expires")
    if expires <= issued:
        raise VerificationError(
            f"predicate.expires {predicate['expires']} is not after predicate.issued "
            f"{predicate['issued']}"
        )
    return predicate
