"""``harness init``: write a commented starting profile for a node of a DBC.

The DBC is read like a profile's (:func:`harness.can.dbc.load_dbc`: size cap, parse bound,
``--encoding``, ``--lenient``); the profile text comes from :mod:`harness.profile.scaffold`
and names the DBC relative to the file written. An existing file is kept unless ``--force``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["cmd_init", "register"]


def register(sub: Any) -> None:
    """Add ``init`` to the CLI's subcommands."""
    init = sub.add_parser(
        "init",
        help="write a commented starting profile for a node of a DBC",
        description="Write a starting profile for the part that is NODE in the DBC: a "
        "cycle-time case per cyclic message it sends (from GenMsgCycleTime or CycleTime), "
        "signal range checks from the DBC's min/max, allowed identifiers and bus load, with "
        "E2E suggestions (from signal names) and a rest-bus as comments. A DBC with CAN FD "
        "messages (or BusType CAN FD) gets a CAN FD bus, its bit rates from the DBC's "
        "Baudrate and BaudrateCANFD attributes (else 500000 and 2000000, to check), and its "
        "FD messages get cases like the classic ones. The file validates as written; review "
        "every value against the specification.",
    )
    init.add_argument("--dbc", type=Path, required=True, help="the DBC file")
    init.add_argument("--node", required=True, help="the DBC node (BU_) of the part")
    init.add_argument("--bus", help="the name of the bus the part is on (written as a note)")
    init.add_argument(
        "-o",
        "--out",
        type=Path,
        help="profile file to write (default: print it; the DBC path is then relative to "
        "the current folder)",
    )
    init.add_argument("--force", action="store_true", help="replace an existing --out file")
    init.add_argument(
        "--encoding",
        default="auto",
        help="the DBC's text encoding: auto (default: UTF-8, CP949 or Windows-1252) or a name "
        "such as cp1252, cp949, cp932; written into the profile",
    )
    init.add_argument(
        "--lenient",
        action="store_true",
        help="read a DBC cantools' strict mode refuses (overlapping signals, signals beyond "
        "the frame, stray value tables), warning for each; written into the profile",
    )
    init.set_defaults(handler=cmd_init)


def cmd_init(args: argparse.Namespace, out: Console, err: Console) -> int:
    from rich.markup import escape

    from harness.can.dbc import check_encoding, load_dbc
    from harness.evidence import write_bytes_atomic
    from harness.outputs import check_output_file
    from harness.profile.scaffold import ScaffoldOptions, scaffold

    try:
        encoding = check_encoding(args.encoding)
    except ValueError as exc:
        raise InputError(f"--encoding {args.encoding}: {exc}, but got '{args.encoding}'") from None
    target: Path | None = args.out
    if target is not None:
        check_output_file(target, "--out")
        if target.exists() and not args.force:
            raise InputError(
                f"--out {target}: the file exists; expected a new file name, or --force to "
                "replace it"
            )
    db = load_dbc(args.dbc, encoding=encoding, lenient=args.lenient)
    for relaxed in db.relaxations:
        err.print(f"[yellow]warning:[/] {escape(relaxed)}", highlight=False, soft_wrap=True)
    folder = (target.parent if target is not None else Path.cwd()).absolute()
    try:
        ref = os.path.relpath(args.dbc.absolute(), folder)
    except ValueError:  # another drive (Windows)
        ref = str(args.dbc.absolute())
    text = scaffold(
        db,
        ScaffoldOptions(
            node=args.node,
            dbc_ref=Path(ref).as_posix(),
            encoding=encoding,
            lenient=args.lenient,
            bus=args.bus,
        ),
    )
    if target is None:
        sys.stdout.write(text)
        return 0
    write_bytes_atomic(target, text.encode("utf-8"))
    err.print(
        f"wrote {escape(str(target))}: check it with harness validate {escape(str(target))}",
        highlight=False,
    )
    return 0
