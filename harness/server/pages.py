"""The pages: the public list of valid certificates, the login form, the live dashboard.

No page ever holds a secret: the dashboard reads with the HttpOnly login cookie, which its
script cannot see, and the login form posts the token once and never shows it again.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from harness.report.html_style import CSS as REPORT_CSS  # the report's own look for its plots
from harness.server.auth import Principal
from harness.server.db import CertificateRow

__all__ = ["login_page", "routes"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table.list{border-collapse:collapse}
table.list td,table.list th{border:1px solid #ccc;padding:4px 8px}
.bench{border:1px solid #bbb;border-radius:6px;padding:1em;margin-bottom:1.5em}
.progress{background:#eee;height:18px;border-radius:9px;overflow:hidden;width:100%;max-width:600px}
.progress>div{background:#2a7;height:100%}
.prompt{border:2px solid #d80;background:#fff8e6;padding:1em;margin:1em 0}
.v-PASS{color:#161} .v-FAIL{color:#b00;font-weight:bold} .v-ERROR{color:#a0a;font-weight:bold}
.v-INCONCLUSIVE{color:#a60;font-weight:bold}
"""


def _page(title: str, body: str, script: str = "") -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{REPORT_CSS}{_STYLE}</style></head><body>{body}"
        + (f"<script>{script}</script>" if script else "")
        + "</body></html>"
    )


def login_page(error: str = "") -> str:
    note = f"<p class='v-FAIL'>{escape(error)}</p>" if error else ""
    return _page(
        "log in · certification centre",
        "<h1>Certification centre</h1>" + note + "<form method='post' action='/login'>"
        "<label>API token <input type='password' name='token' autocomplete='off'></label> "
        "<button type='submit'>log in</button></form>",
    )


def certificates_page(db: Session) -> str:
    from harness.server.app import certificate_json

    rows = []
    for cert in db.scalars(select(CertificateRow).order_by(CertificateRow.issued.desc())):
        info = certificate_json(db, cert)
        if info["status"] != "valid":
            continue
        ident = ", ".join(f"{k} {v}" for k, v in sorted(info["part"].items()))
        rows.append(
            f"<tr id='cert-{escape(cert.id)}'><td class='mono'>{escape(cert.id[:16])}…</td>"
            f"<td>{escape(info['subject'])}</td><td>{escape(ident)}</td>"
            f"<td>{escape(info['profile']['id'])} {escape(info['profile']['version'])}</td>"
            f"<td>{escape(info['issued'][:10])}</td><td>{escape(info['expires'][:10])}</td></tr>"
        )
    table = (
        "<table class='list'><tr><th>certificate</th><th>subject</th><th>part identity</th>"
        "<th>profile</th><th>issued</th><th>expires</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p id='none'>No valid certificates.</p>"
    )
    return _page(
        "certified parts",
        f"<h1>Certified parts</h1><p>{len(rows)} valid certificate(s). Revoked and expired "
        f"certificates are not listed; <code>GET /api/certificates/ID</code> tells why.</p>"
        + table,
    )


_DASHBOARD_JS = (Path(__file__).resolve().parent / "static" / "dashboard.js").read_text()


def dashboard_page(who: Principal) -> str:
    return _page(
        "live dashboard · certification centre",
        f"<h1>Benches, live</h1><p class='meta'>signed in as {escape(who.name)} "
        f"({escape(who.organisation)})</p><div id='benches'></div>",
        _DASHBOARD_JS,
    )


def routes(
    app: FastAPI, state: Any, db_dep: Callable[..., Any], who_dep: Callable[..., Any]
) -> None:
    @app.get("/certificates", response_class=HTMLResponse)
    def certificates(db: Session = Depends(db_dep)) -> str:  # noqa: B008
        return certificates_page(db)

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard(who: Principal = Depends(who_dep)) -> str:  # noqa: B008
        who.require_lab("the live dashboard")
        return dashboard_page(who)
