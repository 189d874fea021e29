"""``harness keys generate`` and ``harness verify`` (the certificate step of a run is the
``certificate`` output, :mod:`harness.certificate.output`).

Exit codes of ``harness verify``: 0 the certificate (and evidence, if given) verified,
4 it did not (each reason has its own message), 2 bad arguments (a file that does not exist,
a key that is not an Ed25519 public key, a bad ``--now``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.bundle_names import CERTIFICATE_FILE, DERIVED_DIR, MANIFEST_FILE
from harness.errors import InputError, VerificationError
from harness.safeio import CERTIFICATE, read_input

if TYPE_CHECKING:  # the rest is imported where used: `harness --help` stays fast
    from rich.console import Console


__all__ = ["register"]

_VERIFY_EPILOG = (
    "exit codes: 0 valid, 4 rejected (forged, altered, wrong key, unknown type, expired, or "
    "evidence that does not match), 2 bad arguments (missing file, not a public key)"
)


def register(sub: Any) -> None:
    """Add ``keys`` and ``verify`` to the ``harness`` subcommands."""
    keys = sub.add_parser(
        "keys",
        help="signing keys for certificates",
        description="Manage the Ed25519 keys that sign certificates.",
    )
    keysub = keys.add_subparsers(dest="keys_command", required=True, parser_class=type(keys))
    gen = keysub.add_parser(
        "generate",
        help="make a new Ed25519 key pair",
        description="Write PREFIX.key (the private key, PEM, mode 0600: keep it secret) and "
        "PREFIX.pub (the public key that 'harness verify --key' takes). Never overwrites.",
    )
    gen.add_argument("--out", type=Path, required=True, metavar="PREFIX")
    gen.set_defaults(handler=cmd_keys_generate)

    ver = sub.add_parser(
        "verify",
        help="verify a certificate offline (and its evidence folder)",
        description="Verify CERT strictly and offline: its exact bytes, its Ed25519 signature "
        "by the public key, its statement and predicate types and fields, and that it is "
        "issued and not expired. With --evidence, also that the folder is the complete, "
        f"unaltered evidence of the certified run: every file, hidden or not, but "
        f"{MANIFEST_FILE}, {CERTIFICATE_FILE} and {DERIVED_DIR}/report.html and "
        f"{DERIVED_DIR}/junit.xml (reports made later) must be listed in the manifest with "
        "its sha256, and the manifest must have the digest the certificate names; a run "
        "that did not complete is rejected, saying so.",
        epilog=_VERIFY_EPILOG,
    )
    ver.add_argument("cert", type=Path, metavar="CERT", help="certificate (.dsse.json)")
    ver.add_argument(
        "--key", type=Path, required=True, metavar="PUBKEY", help="issuer's public key (PEM)"
    )
    ver.add_argument("--evidence", type=Path, metavar="DIR", help="the run's evidence folder")
    ver.add_argument(
        "--now",
        metavar="ISO8601",
        help="judge validity at this time instead of the clock (e.g. 2030-01-01T00:00:00Z)",
    )
    ver.add_argument("--json", action="store_true", help="print the verified Statement as JSON")
    ver.add_argument(
        "--registry",
        metavar="URL",
        help="also ask this registry ('harness serve') whether the certificate is revoked; "
        "a revoked or unknown certificate is rejected (exit 4) with the registry's reason",
    )
    ver.set_defaults(handler=cmd_verify)


def cmd_keys_generate(args: argparse.Namespace, out: Console, err: Console) -> int:
    from rich.markup import escape

    from harness.certificate.keys import generate_key_pair

    pair = generate_key_pair(args.out)
    out.print(f"private key: {escape(str(pair.private))} (mode 0600; keep it secret)")
    out.print(f"public key:  {escape(str(pair.public))}")
    out.print(f"keyid:       {pair.keyid}", highlight=False)
    return 0


def _now(text: str | None) -> dt.datetime:
    if text is None:
        return dt.datetime.now(dt.timezone.utc)
    try:
        when = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise InputError(
            "--now", expected="an ISO-8601 time with a zone, e.g. 2030-01-01T00:00:00Z", got=text
        )
    return when


def cmd_verify(args: argparse.Namespace, out: Console, err: Console) -> int:
    from rich.markup import escape

    from harness.canonical import canonical_json
    from harness.certificate.keys import load_public_key
    from harness.certificate.verify import verify_certificate

    cert: Path = args.cert
    data = read_input(cert, CERTIFICATE)
    key = load_public_key(args.key)
    now = _now(args.now)
    if args.evidence is not None and not args.evidence.is_dir():
        raise InputError(f"evidence folder {args.evidence} does not exist (--evidence DIR)")
    try:
        result = verify_certificate(data, key, now=now, evidence=args.evidence)
    except VerificationError as exc:
        raise VerificationError(f"certificate {cert} rejected: {exc}") from None
    standing = None
    if args.registry:
        from harness.server.client import registry_standing

        standing = registry_standing(args.registry, data, cert)
    if args.json:
        sys.stdout.write(canonical_json(result.statement).decode("ascii") + "\n")
        return 0
    p = result.predicate
    subject = result.statement["subject"][0]["name"]
    dut = p["dut"]
    verdicts = p["requirements"]
    passed = sum(1 for v in verdicts.values() if v == "PASS")
    sources = dut.get("identity_sources") or dict.fromkeys(
        dut["identity"], dut.get("identity_source")
    )
    lines = [
        f"[bold green]VALID[/] {escape(str(cert))}",
        f"  DUT           {escape(subject)} (identity: "
        + escape(", ".join(f"{k} {v} [{sources.get(k)}]" for k, v in dut["identity"].items()))
        + ")",
        f"  profile       {escape(p['profile']['id'])} {escape(p['profile']['version'])} "
        f"(sha256 {p['profile']['sha256'][:16]}...)",
        f"  requirements  {passed}/{len(verdicts)} PASS: "
        + escape(", ".join(f"{k} {v}" for k, v in verdicts.items())),
        f"  run           {p['run_id']} ({p['mode']}, harness {escape(p['harness']['version'])})",
        f"  issuer        {p['issuer']['level']}, keyid {result.keyid}",
        f"  valid         {p['issued']} .. {p['expires']}",
    ]
    conformance = p.get("conformance")
    if conformance is not None:
        statement = conformance["statement"]
        declared = (
            "none given: every case applied"
            if statement is None
            else escape(
                f"{statement['source']}: "
                + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in statement["features"].items())
            )
        )
        lines.insert(3, f"  conformance   {declared}")
        not_claimed = conformance["not_claimed"]
        lines.insert(
            5, f"  not claimed   {escape(', '.join(not_claimed)) if not_claimed else 'none'}"
        )
    if dut["firmware_sha256"]:
        lines.insert(2, f"  firmware      sha256 {dut['firmware_sha256']}")
    if result.evidence_files is None:
        lines.append("  evidence      not checked (give --evidence DIR to check the folder)")
    else:
        lines.append(
            f"  evidence      {escape(str(args.evidence))}: complete, {result.evidence_files} "
            "files match the manifest"
        )
    if standing is not None:
        lines.append(f"  registry      {escape(standing)}")
    for line in lines:
        out.print(line, highlight=False, soft_wrap=True)
    return 0
