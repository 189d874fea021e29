"""The pages: the public list of valid certificates, the login form, the live dashboard.

No page ever holds a secret: the dashboard reads with the HttpOnly login cookie, which its
script cannot see, and the login form posts the token once and never shows it again.
"""

from __future__ import annotations

from html import escape
from typing import Any, Callable

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from harness.report.html import _CSS as REPORT_CSS  # the report's own look for its plots
from harness.server.auth import Principal
from harness.server.db import CertificateRow

__all__ = ["login_page", "routes"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table.list{border-collapse:collapse} table.list td,table.list th{border:1px solid #ccc;padding:4px 8px}
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


_DASHBOARD_JS = r"""
const benches = {};
function esc(s){const d=document.createElement('div');d.textContent=String(s);return d.innerHTML;}
function benchDiv(name){
  let el=document.getElementById('bench-'+name);
  if(!el){el=document.createElement('section');el.className='bench';el.id='bench-'+name;
    document.getElementById('benches').appendChild(el);}
  return el;
}
function render(name){
  const b=benches[name]; const run=b.run; const el=benchDiv(name);
  const pct=run.total?Math.round(100*run.done/run.total):0;
  let h=`<h2>bench ${esc(name)}</h2><div class='meta'>run <span class='mono'>${esc(run.id)}</span>`+
    ` · ${esc(run.profile)} · operator ${esc(run.operator)} · <b class='run-status'>${esc(run.status)}</b></div>`+
    `<div class='progress'><div style='width:${pct}%'></div></div>`+
    `<p class='count'><span class='done'>${run.done}</span> of ${run.total} cases done`+
    (b.current?` · now: <b class='current'>${esc(b.current)}</b>`:'')+
    (b.step?` · step ${esc(b.step)}`:'')+`</p>`;
  for(const p of Object.values(b.prompts)){ if(!p.answer) h+=promptHtml(p); }
  h+=`<div class='cases'>`+b.cases.join('')+`</div>`;
  el.innerHTML=h;
}
function promptHtml(p){
  const s=p.spec; let ctl='';
  if(s.answer==='confirm') ctl=`<button onclick="answer('${p.id}',true)">done</button>`;
  else if(s.answer==='judge') ctl=`<button onclick="answer('${p.id}','pass')">pass</button> <button onclick="answer('${p.id}','fail')">fail</button>`;
  else ctl=`<input id='val-${p.id}' type='number' step='any'> ${esc(s.unit||'')} <button onclick="answer('${p.id}',parseFloat(document.getElementById('val-${p.id}').value))">enter</button>`;
  const img=s.image_data?`<img src='${s.image_data}' style='max-width:320px;display:block'>`:'';
  return `<div class='prompt' id='prompt-${p.id}'><b>operator:</b> ${esc(s.text)}${img}<div>${ctl}</div></div>`;
}
async function answer(id,value){
  const r=await fetch('/api/live/prompts/'+id+'/answer',{method:'POST',headers:{'Content-Type':'application/json'},body:JSON.stringify({answer:value})});
  if(!r.ok){alert('not recorded: '+(await r.text()));}
}
function apply(ev){
  const d=ev.data;
  if(ev.kind==='run_started'){ benches[d.bench]={run:d,cases:[],prompts:{},current:null,step:null}; render(d.bench); return; }
  const name=Object.keys(benches).find(k=>benches[k].run.id===ev.run_id); if(!name) return;
  const b=benches[name];
  if(ev.kind==='case_started'){b.current=d.case_id; b.step=null;}
  else if(ev.kind==='step_started'){b.step=d.step;}
  else if(ev.kind==='case_finished'){b.run.done+=1; b.current=null; b.step=null; b.cases.push(d.html||`<p class='v-${esc(d.verdict)}'>${esc(d.case_id)} ${esc(d.verdict)}</p>`);}
  else if(ev.kind==='prompt'){b.prompts[d.id]={id:d.id,spec:d.spec,answer:null};}
  else if(ev.kind==='prompt_answered'){b.prompts[d.id]=d;}
  else if(ev.kind==='run_finished'){b.run.status=d.status+(d.passed?' (passed)':' (not passed)');}
  b.lastSeq=ev.seq; render(name);
  document.body.dataset.lastSeq=ev.seq;
}
async function start(){
  const st=await (await fetch('/api/live/state')).json();
  const seen=new Set();
  for(const [name,b] of Object.entries(st.benches)){
    for(const ev of b.events){ apply(ev); seen.add(ev.seq); }
  }
  for(const p of st.prompts){ for(const b of Object.values(benches)) if(b.run.id===p.run_id){b.prompts[p.id]=p; render(b.run.bench);} }
  const src=new EventSource('/api/live/stream');
  src.onmessage=(m)=>{const ev=JSON.parse(m.data); if(!seen.has(ev.seq)){seen.add(ev.seq); apply(ev);}};
  src.onopen=()=>{document.body.dataset.live='connected';};
}
start();
"""


def dashboard_page(who: Principal) -> str:
    return _page(
        "live dashboard · certification centre",
        f"<h1>Benches, live</h1><p class='meta'>signed in as {escape(who.name)} "
        f"({escape(who.organisation)})</p><div id='benches'></div>",
        _DASHBOARD_JS,
    )


def routes(app: FastAPI, state: Any, db_dep: Callable[..., Any], who_dep: Callable[..., Any]) -> None:
    @app.get("/certificates", response_class=HTMLResponse)
    def certificates(db: Session = Depends(db_dep)) -> str:  # noqa: B008
        return certificates_page(db)

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard(who: Principal = Depends(who_dep)) -> str:  # noqa: B008
        who.require_lab("the live dashboard")
        return dashboard_page(who)
