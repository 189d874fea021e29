"""``harness serve``, ``harness accounts`` and ``harness submit``.

``harness serve`` runs the certification centre under uvicorn: the database is brought to
the newest schema first (Alembic), an SQLite file under ``--data`` unless ``--db`` (or
``HARNESS_DB_URL``) names another, e.g. ``postgresql+psycopg://user@host/registry``.
``harness accounts`` makes organisations, users and API tokens in that database directly
(run it on the server's machine). ``harness submit DIR --server URL`` uploads an evidence
folder and waits for intake to accept or refuse it (exit 0 accepted, 4 refused, 2 bad
input or access refused).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import InputError

if TYPE_CHECKING:  # rich is imported by the commands, not by `harness --help`
    from rich.console import Console

__all__ = ["register"]

DEFAULT_DATA = Path("harness-data")


def _db_url(args: argparse.Namespace) -> str:
    url: str | None = args.db or os.environ.get("HARNESS_DB_URL")
    if url:
        return url
    data: Path = args.data
    data.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(data / 'registry.db').resolve()}"


def _db_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="URL",
        help="SQLAlchemy database URL (default: $HARNESS_DB_URL, else an SQLite file "
        "registry.db in --data)",
    )
    p.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        metavar="DIR",
        help="where the evidence store (and the default SQLite file) live "
        f"(default {DEFAULT_DATA})",
    )


def register(sub: Any) -> None:
    serve = sub.add_parser(
        "serve",
        help="run the certification centre (registry, intake, dashboard)",
        description="Run the results registry and live dashboard under uvicorn. The database "
        "is migrated to the newest schema at start.",
    )
    _db_options(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--trust-key",
        type=Path,
        action="append",
        default=[],
        metavar="PUBKEY",
        help="an issuer's public key (PEM) whose certificates intake accepts (repeatable)",
    )
    serve.set_defaults(handler=cmd_serve)

    acc = sub.add_parser(
        "accounts",
        help="organisations, users and API tokens of a registry",
        description="Manage the registry's accounts directly in its database.",
    )
    _db_options(acc)
    accsub = acc.add_subparsers(dest="accounts_command", required=True, parser_class=type(acc))
    org = accsub.add_parser("add-org", help="add an organisation")
    org.add_argument("name")
    org.add_argument("--kind", choices=("lab", "supplier"), required=True)
    user = accsub.add_parser("add-user", help="add a user to an organisation")
    user.add_argument("name")
    user.add_argument("--org", required=True)
    tok = accsub.add_parser(
        "token", help="make an API token for a user (printed once, stored hashed)"
    )
    tok.add_argument("user")
    tok.add_argument("--days", type=int, help="valid for this many days (default: no expiry)")
    rev = accsub.add_parser("revoke-tokens", help="revoke every API token of a user")
    rev.add_argument("user")
    acc.set_defaults(handler=cmd_accounts)

    sbm = sub.add_parser(
        "submit",
        help="upload an evidence folder to a registry",
        description="Upload evidence folder DIR to the registry at URL and wait until intake "
        "has checked it (manifest, certificate, offline re-evaluation of every verdict). The "
        "API token is read from the environment variable named by --token-env.",
        epilog="exit codes: 0 accepted, 4 refused (the reason is printed), 2 bad input or "
        "access refused",
    )
    sbm.add_argument("folder", type=Path, metavar="DIR")
    sbm.add_argument("--server", required=True, metavar="URL")
    sbm.add_argument("--token-env", default="HARNESS_TOKEN", metavar="NAME")
    sbm.set_defaults(handler=cmd_submit)


def cmd_serve(args: argparse.Namespace, out: Console, err: Console) -> int:
    import uvicorn
    from rich.markup import escape

    from harness.certificate.keys import load_public_key
    from harness.server.app import ServerConfig, create_app

    keys = [load_public_key(p) for p in args.trust_key]
    url = _db_url(args)
    args.data.mkdir(parents=True, exist_ok=True)
    app = create_app(ServerConfig(db_url=url, data_dir=args.data, trusted_keys=keys))
    shown = url.split("@")[-1] if "@" in url else url  # never a password in the output
    err.print(
        f"registry database {escape(shown)}; evidence store {escape(str(args.data))}",
        soft_wrap=True,
    )
    if not keys:
        err.print(
            "[yellow]note:[/] no --trust-key: intake will refuse every certificate",
            soft_wrap=True,
        )
    uvicorn.run(app, host=args.host, port=args.port, timeout_graceful_shutdown=3)
    return 0


def cmd_accounts(args: argparse.Namespace, out: Console, err: Console) -> int:
    from harness.server.auth import make_organisation, make_token, make_user, revoke_tokens
    from harness.server.db import make_engine, sessions
    from harness.server.migrate import upgrade

    engine = make_engine(_db_url(args))
    upgrade(engine)
    try:
        with sessions(engine)() as db:
            if args.accounts_command == "add-org":
                make_organisation(db, args.name, args.kind)
                message = f"organisation {args.name} ({args.kind})"
            elif args.accounts_command == "add-user":
                user = make_user(db, args.name, args.org)
                message = f"user {args.name} ({user.role}) of {args.org}"
            elif args.accounts_command == "revoke-tokens":
                message = f"revoked {revoke_tokens(db, args.user)} token(s) of {args.user}"
            else:
                valid = dt.timedelta(days=args.days) if args.days else None
                message = make_token(db, args.user, valid)
            db.commit()
    except ValueError as exc:
        raise InputError(str(exc)) from None
    finally:
        engine.dispose()
    out.print(message, highlight=False, soft_wrap=True)
    return 0


def cmd_submit(args: argparse.Namespace, out: Console, err: Console) -> int:
    from rich.markup import escape

    from harness.server.client import Registry, token_from_env

    token = token_from_env(args.token_env)
    with Registry(args.server, token) as registry:
        state = registry.submit(args.folder)
    out.print(
        f"[bold green]ACCEPTED[/]: run {state['run_id']}, certificate {state['certificate_id']} "
        f"({escape(state['reason'] or '')})",
        highlight=False,
        soft_wrap=True,
    )
    return 0
