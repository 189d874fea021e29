"""Our own hazards on the writing side and in evidence read back: every problem with an
--out, --junit or report path, incomplete and doctored evidence folders, bench references
that fail before any folder exists, and secret YAML files given as profile or bench."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from tests.conftest import PROFILE
from tests.hostile.conftest import CANARY, secret_file
from tests.hostile.hazards import Ctx, Expect, not_created


# -- paths to write to ---------------------------------------------------------------------------
def out_is_an_existing_fifo(c: Ctx) -> Expect:
    f = c.fifo("out")
    return Expect(
        ["certify", str(PROFILE), "--out", str(f)], 2, [f"evidence folder {f}", "is a file"]
    )


def out_under_sys(c: Ctx) -> Expect:
    return Expect(
        ["certify", str(PROFILE), "--out", "/sys/cc-run"], 2, ["/sys/cc-run", "under /sys"]
    )


def out_below_a_file(c: Ctx) -> Expect:
    f = c.tmp / "file"
    f.write_text("x")
    out = f / "run"
    return Expect(
        ["certify", str(PROFILE), "--out", str(out)], 2, [str(out), "is a file, not a folder"]
    )


def out_folder_not_empty(c: Ctx) -> Expect:
    out = c.tmp / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    return Expect(["certify", str(PROFILE), "--out", str(out)], 2, [str(out), "holds notes.txt"])


def out_folder_holds_a_run(c: Ctx) -> Expect:
    folder = c.get_run().copy(c.tmp)
    before = (folder / "run.json").read_bytes()

    def unchanged() -> None:
        assert (folder / "run.json").read_bytes() == before

    return Expect(
        ["certify", str(PROFILE), "--out", str(folder)],
        2,
        [f"{folder} already holds a run"],
        after=unchanged,
    )


def out_is_a_dangling_symlink(c: Ctx) -> Expect:
    link = c.tmp / "out"
    link.symlink_to(c.tmp / "nowhere")
    return Expect(["certify", str(PROFILE), "--out", str(link)], 2, [str(link), "dangling"])


def junit_is_an_existing_dir(c: Ctx) -> Expect:
    out = c.tmp / "out"
    return Expect(
        ["certify", str(PROFILE), "--out", str(out), "--junit", str(c.tmp)],
        2,
        [f"--junit {c.tmp}", "is a folder"],
        after=not_created(out),
    )


def report_junit_is_dev_null(c: Ctx) -> Expect:
    folder = c.get_run().copy(c.tmp)
    return Expect(
        ["report", str(folder), "--junit", "/dev/null"], 2, ["--junit /dev/null", "under /dev"]
    )


def report_out_under_proc(c: Ctx) -> Expect:
    folder = c.get_run().copy(c.tmp)
    return Expect(
        ["report", str(folder), "--out", "/proc/r.html"], 2, ["--out /proc/r.html", "under /proc"]
    )


def markup_in_path_prints_literally(c: Ctx) -> Expect:
    p = c.tmp / "[bold red]x[/].yaml"
    return Expect(["validate", str(p)], 2, ["[bold red]x[/].yaml", "a missing file"])


# -- evidence read back ----------------------------------------------------------------------
def report_of_killed_run(c: Ctx) -> Expect:
    folder = c.killed_run()
    return Expect(["report", str(folder)], 3, ["INCOMPLETE", "still marked RUNNING"])


def verify_of_killed_run(c: Ctx) -> Expect:
    run = c.get_run()
    folder = c.killed_run()
    cert = run.folder / "certificate.dsse.json"
    return Expect(
        ["verify", str(cert), "--key", str(run.public), "--evidence", str(folder)],
        4,
        ["rejected", "incomplete"],
    )


def evaluate_of_aborted_run(c: Ctx) -> Expect:
    folder = c.get_run().copy(c.tmp)
    record = json.loads((folder / "run.json").read_text())
    record["status"] = "ABORTED"
    (folder / "run.json").write_text(json.dumps(record))
    return Expect(["evaluate", str(folder)], 3, ["INCOMPLETE", "status ABORTED"])


def evaluate_trace_is_a_fifo(c: Ctx) -> Expect:
    folder = c.get_run().copy(c.tmp)
    (folder / "trace.blf").unlink()
    os.mkfifo(folder / "trace.blf")
    return Expect(["evaluate", str(folder)], 2, ["trace.blf", "FIFO"])


def evaluate_record_links_to_environ(c: Ctx) -> Expect:
    folder = c.get_run().copy(c.tmp)
    (folder / "run.json").unlink()
    (folder / "run.json").symlink_to("/proc/self/environ")
    return Expect(["evaluate", str(folder)], 2, ["run.json", "under /proc"])


def evaluate_record_is_secret_text(c: Ctx) -> Expect:
    folder = c.get_run().copy(c.tmp)
    secret_file(folder, "run.json.tmp").replace(folder / "run.json")
    return Expect(["evaluate", str(folder)], 2, ["run.json", "not valid JSON"])


def bench_password_variable_unset(c: Ctx) -> Expect:
    b = c.bench("mqtt:\n  broker: {host: 127.0.0.1, password_env: CC_HARNESS_NOT_SET_EVER}\n")
    out = c.tmp / "out"
    return Expect(
        ["certify", str(PROFILE), "--bench", str(b), "--out", str(out), "--realtime"],
        2,
        ["CC_HARNESS_NOT_SET_EVER", "is not set"],
        after=not_created(out),
    )


def bench_tls_file_is_a_fifo(c: Ctx) -> Expect:
    c.fifo("ca.pem")
    b = c.bench("mqtt:\n  broker: {host: 127.0.0.1, tls: {ca: ca.pem}}\n")
    out = c.tmp / "out"
    return Expect(
        ["certify", str(PROFILE), "--bench", str(b), "--out", str(out), "--realtime"],
        2,
        ["ca.pem", "FIFO"],
        after=not_created(out),
    )


def _secret_yaml(c: Ctx) -> Path:
    """A YAML secrets file whose values YAML 1.1 reads otherwise (a PIN with a leading zero,
    a yes/no flag): the ambiguity message would quote them in a profile, never here."""
    path = c.tmp / "secrets.yaml"
    path.write_text(f"token: {CANARY}\npin: 0731924\nmfa: NO\n", encoding="utf-8")
    return path


def profile_is_secret_yaml_with_ambiguous_values(c: Ctx) -> Expect:
    p = _secret_yaml(c)
    return Expect(["validate", str(p)], 2, [f"{p}:", "format"], absent=["0731924", "'NO'"])


def bench_is_secret_yaml_with_ambiguous_values(c: Ctx) -> Expect:
    b = _secret_yaml(c)
    out = c.tmp / "out"
    return Expect(
        ["certify", str(PROFILE), "--bench", str(b), "--out", str(out)],
        2,
        [f"{b}:", "format"],
        absent=["0731924", "'NO'"],
        after=not_created(out),
    )


def qualify_out_is_dev_null(c: Ctx) -> Expect:
    args = ["qualify", str(PROFILE), "--out", "/dev/null", "--runs", "1", "--realtime-runs", "0"]
    return Expect(args, 2, ["qualification folder /dev/null", "under /dev"])


HAZARDS: list[Callable[[Ctx], Expect]] = [
    out_is_an_existing_fifo,
    out_under_sys,
    out_below_a_file,
    out_folder_not_empty,
    out_folder_holds_a_run,
    out_is_a_dangling_symlink,
    junit_is_an_existing_dir,
    report_junit_is_dev_null,
    report_out_under_proc,
    markup_in_path_prints_literally,
    report_of_killed_run,
    verify_of_killed_run,
    evaluate_of_aborted_run,
    evaluate_trace_is_a_fifo,
    evaluate_record_links_to_environ,
    evaluate_record_is_secret_text,
    bench_password_variable_unset,
    bench_tls_file_is_a_fifo,
    profile_is_secret_yaml_with_ambiguous_values,
    bench_is_secret_yaml_with_ambiguous_values,
    qualify_out_is_dev_null,
]
