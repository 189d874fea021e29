"""Our own hazards on the reading side: special files and symbolic links to secrets as every
kind of input, and the encodings and sizes real and hostile files come in."""

from __future__ import annotations

import os
from collections.abc import Callable

from harness.safeio import ASN1
from tests.conftest import DBC as SHIPPED_DBC
from tests.conftest import PROFILE
from tests.hostile.conftest import CANARY, secret_file
from tests.hostile.hazards import SHIPPED, Ctx, Expect, not_created


# -- special files and symbolic links ----------------------------------------------------------
def profile_is_a_directory(c: Ctx) -> Expect:
    return Expect(["validate", str(c.tmp)], 2, [f"{c.tmp}:", "a directory"])


def profile_links_to_proc_environ(c: Ctx) -> Expect:
    link = c.tmp / "profile.yaml"
    link.symlink_to("/proc/self/environ")
    return Expect(["validate", str(link)], 2, [f"{link}:", "/proc"])


def profile_links_to_secret(c: Ctx) -> Expect:
    link = c.tmp / "profile.yaml"
    link.symlink_to(secret_file(c.tmp))
    return Expect(["validate", str(link)], 2, [f"{link}:", "expected a mapping"])


def profile_is_dev_zero(c: Ctx) -> Expect:
    return Expect(["validate", "/dev/zero"], 2, ["/dev/zero", "under /dev"])


def dbc_links_to_secret(c: Ctx) -> Expect:
    link = c.tmp / "x.dbc"
    link.symlink_to(secret_file(c.tmp))
    p = c.profile_dbc(link)
    return Expect(["validate", str(p)], 2, ["x.dbc", "line 1, column", "invalid syntax"])


def dbc_is_a_fifo(c: Ctx) -> Expect:
    p = c.profile_dbc(c.fifo("bus.dbc"))
    return Expect(["validate", str(p)], 2, ["bus.dbc", "FIFO"])


def dbc_is_a_directory(c: Ctx) -> Expect:
    d = c.tmp / "dir.dbc"
    d.mkdir()
    p = c.profile_dbc(d)
    return Expect(["validate", str(p)], 2, ["dir.dbc", "is a directory"])


def dbc_is_dev_zero(c: Ctx) -> Expect:
    p = c.profile_dbc("/dev/zero")
    return Expect(["validate", str(p)], 2, ["/dev/zero", "under /dev"])


def dbc_links_to_dev_urandom(c: Ctx) -> Expect:
    link = c.tmp / "rnd.dbc"
    link.symlink_to("/dev/urandom")
    p = c.profile_dbc(link)
    return Expect(["validate", str(p)], 2, ["rnd.dbc", "under /dev"])


def bench_is_proc_environ(c: Ctx) -> Expect:
    out = c.tmp / "out"
    return Expect(
        ["certify", str(PROFILE), "--bench", "/proc/self/environ", "--out", str(out)],
        2,
        ["/proc/self/environ", "under /proc"],
        after=not_created(out),
    )


def bench_links_to_secret_yaml(c: Ctx) -> Expect:
    secret = c.tmp / "secrets.yaml"
    secret.write_text(f"token: {CANARY}\npassword: {CANARY}\n")
    link = c.tmp / "bench.yaml"
    link.symlink_to(secret)
    return Expect(["certify", str(PROFILE), "--bench", str(link)], 2, [f"{link}:", "format"])


def asn1_is_proc_environ(c: Ctx) -> Expect:
    p = c.profile_asn1("/proc/self/environ")
    return Expect(["validate", str(p)], 2, ["mqtt.asn1", "under /proc"])


def asn1_links_to_secret(c: Ctx) -> Expect:
    link = c.tmp / "v2x.asn"
    link.symlink_to(secret_file(c.tmp))
    p = c.profile_asn1(link)
    return Expect(
        ["validate", str(p)], 2, ["mqtt.asn1", ":1:", "not a valid ASN.1 module: invalid syntax"]
    )


def asn1_is_a_fifo(c: Ctx) -> Expect:
    p = c.profile_asn1(c.fifo("v2x.asn"))
    return Expect(["validate", str(p)], 2, ["mqtt.asn1", "FIFO"])


def asn1_type_defined_twice(c: Ctx) -> Expect:
    module = c.tmp / "twice.asn"
    text = (SHIPPED_DBC.parent / "ccv2x.asn").read_text()
    module.write_text(text.replace("END", "HazardEvent ::= INTEGER\nEND"))
    p = c.profile_asn1(module)
    return Expect(["validate", str(p)], 2, ["twice.asn", "HazardEvent", "defined twice"])


def asn1_too_large(c: Ctx) -> Expect:
    module = c.tmp / "big.asn"
    module.write_bytes(b"-- padding\n" * (ASN1.max_bytes // 11 + 10))
    p = c.profile_asn1(module)
    return Expect(["validate", str(p)], 2, ["big.asn", f"at most {ASN1.max_bytes} bytes"])


def signing_key_is_a_fifo(c: Ctx) -> Expect:
    f = c.fifo("lab.key")
    out = c.tmp / "out"
    return Expect(
        ["certify", str(PROFILE), "--key", str(f), "--out", str(out)],
        2,
        [str(f), "FIFO"],
        after=not_created(out),
    )


def answers_file_is_a_fifo(c: Ctx) -> Expect:
    f = c.fifo("answers.yaml")
    out = c.tmp / "out"
    return Expect(
        ["certify", str(PROFILE), "--answers", str(f), "--out", str(out)],
        2,
        [str(f), "FIFO"],
        after=not_created(out),
    )


def answers_file_is_a_secret_file(c: Ctx) -> Expect:
    out = c.tmp / "out"
    answers = secret_file(c.tmp, "answers.yaml")
    return Expect(
        ["certify", str(PROFILE), "--answers", str(answers), "--out", str(out)],
        2,
        [f"{answers}", "not an answers file"],
        after=not_created(out),
    )


def signing_key_is_a_secret_file(c: Ctx) -> Expect:
    out = c.tmp / "out"
    key = secret_file(c.tmp, "lab.key")
    return Expect(
        ["certify", str(PROFILE), "--key", str(key), "--out", str(out)],
        2,
        [f"{key}:", "not a PEM private key"],
        after=not_created(out),
    )


def signing_key_is_a_directory(c: Ctx) -> Expect:
    return Expect(["certify", str(PROFILE), "--key", str(c.tmp)], 2, [f"{c.tmp}:", "a directory"])


def certificate_is_a_fifo(c: Ctx) -> Expect:
    run = c.get_run()
    f = c.fifo("cert.dsse.json")
    return Expect(["verify", str(f), "--key", str(run.public)], 2, [f"{f}:", "FIFO"])


def certificate_is_a_secret_file(c: Ctx) -> Expect:
    run = c.get_run()
    secret = secret_file(c.tmp)
    return Expect(
        ["verify", str(secret), "--key", str(run.public)],
        4,
        [f"certificate {secret} rejected", "not valid JSON"],
    )


def verify_key_is_dev_zero(c: Ctx) -> Expect:
    run = c.get_run()
    return Expect(
        ["verify", str(run.folder / "certificate.dsse.json"), "--key", "/dev/zero"],
        2,
        ["/dev/zero"],
    )


# -- encodings and sizes -------------------------------------------------------------------------
def dbc_in_cp1252_is_read(c: Ctx) -> Expect:
    dbc = c.dbc(SHIPPED + 'CM_ "Temperatur in °C, Geschwindigkeit über Grund";\n'.encode("cp1252"))
    p = c.profile_dbc(dbc)
    return Expect(["validate", str(p)], 0, [f"{p}: valid profile"])


def dbc_in_cp949_is_read(c: Ctx) -> Expect:
    dbc = c.dbc(SHIPPED + 'CM_ "차량 속도 신호";\n'.encode("cp949"))
    p = c.profile_dbc(dbc)
    return Expect(["validate", str(p)], 0, [f"{p}: valid profile"])


def dbc_in_utf8_with_bom_is_read(c: Ctx) -> Expect:
    dbc = c.dbc(b"\xef\xbb\xbf" + SHIPPED + 'CM_ "Geschwindigkeit über Grund";\n'.encode())
    p = c.profile_dbc(dbc)
    return Expect(["validate", str(p)], 0, [f"{p}: valid profile"])


def dbc_in_no_known_encoding(c: Ctx) -> Expect:
    dbc = c.dbc(SHIPPED + b'CM_ "\x81\x8d\x81";\n')
    p = c.profile_dbc(dbc)
    return Expect(["validate", str(p)], 2, ["x.dbc", "utf-8 or cp1252 or cp949", "each was tried"])


def dbc_in_utf16(c: Ctx) -> Expect:
    dbc = c.dbc(SHIPPED.decode("cp1252").encode("utf-16"))
    p = c.profile_dbc(dbc)
    return Expect(["validate", str(p)], 2, ["x.dbc", "not a valid DBC"])


def profile_in_utf16(c: Ctx) -> Expect:
    p = c.tmp / "p.yaml"
    p.write_bytes(PROFILE.read_text().encode("utf-16"))
    return Expect(["validate", str(p)], 2, [f"{p}:1:1", "not valid UTF-8"])


def profile_of_random_bytes(c: Ctx) -> Expect:
    p = c.tmp / "p.yaml"
    p.write_bytes(os.urandom(3000) + CANARY.encode() + os.urandom(3000))
    return Expect(["validate", str(p)], 2, [f"{p}:"])


def profile_too_large_sparse(c: Ctx) -> Expect:
    p = c.tmp / "p.yaml"
    with p.open("wb") as fh:
        fh.truncate(8 << 20)  # 8 MiB of holes: refused by size before a byte is read
    return Expect(["validate", str(p)], 2, [f"{p}:", "at most 1048576 bytes"])


HAZARDS: list[Callable[[Ctx], Expect]] = [
    answers_file_is_a_fifo,
    answers_file_is_a_secret_file,
    profile_is_a_directory,
    profile_links_to_proc_environ,
    profile_links_to_secret,
    profile_is_dev_zero,
    dbc_links_to_secret,
    dbc_is_a_fifo,
    dbc_is_a_directory,
    dbc_is_dev_zero,
    dbc_links_to_dev_urandom,
    bench_is_proc_environ,
    bench_links_to_secret_yaml,
    asn1_is_proc_environ,
    asn1_links_to_secret,
    asn1_is_a_fifo,
    asn1_type_defined_twice,
    asn1_too_large,
    signing_key_is_a_fifo,
    signing_key_is_a_secret_file,
    signing_key_is_a_directory,
    certificate_is_a_fifo,
    certificate_is_a_secret_file,
    verify_key_is_dev_zero,
    dbc_in_cp1252_is_read,
    dbc_in_cp949_is_read,
    dbc_in_utf8_with_bom_is_read,
    dbc_in_no_known_encoding,
    dbc_in_utf16,
    profile_in_utf16,
    profile_of_random_bytes,
    profile_too_large_sparse,
]
