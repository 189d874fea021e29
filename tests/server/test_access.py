"""Every refusal of the registry's access rules, on SQLite and PostgreSQL.

Wrong, missing and expired tokens are 401; a supplier reaching another organisation's part,
run or submission, or doing what only lab staff may (revoke, register parts, bench records,
live runs, the dashboard) is 403. No refusal, page or log repeats a token.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from harness.evidence import CERTIFICATE_FILE
from harness.server.store import pack_bundle
from tests.server.conftest import REFERENCE_IDENTITY, Centre, copy_bundle


def _no_secret(centre: Centre, text: str) -> None:
    for name, token in centre.tokens.items():
        assert token not in text, f"the {name} token was shown"


def test_wrong_missing_and_expired_tokens(centre: Centre, passing_bundle: Path) -> None:
    body = pack_bundle(passing_bundle)
    anon = httpx.Client(base_url=centre.url)
    r = anon.post("/api/submissions", content=body)
    assert r.status_code == 401 and "no API token" in r.json()["detail"]
    wrong = centre.tokens["lab"][:-4] + "abcd"
    r = anon.post("/api/submissions", content=body, headers={"Authorization": f"Bearer {wrong}"})
    assert r.status_code == 401 and r.json()["detail"] == "unknown API token"
    _no_secret(centre, r.text)
    assert wrong not in r.text
    with centre.client("expired") as c:
        r = c.get("/api/runs")
        assert r.status_code == 401 and "expired" in r.json()["detail"]
        _no_secret(centre, r.text)
    for path in ("/api/runs", "/api/parts", "/api/certificates", "/api/benches", "/api/live/state"):
        assert anon.get(path).status_code == 401, path
    centre.tokens["wrong"] = wrong
    result = centre.harness(["submit", str(passing_bundle), "--server", centre.url], who="wrong")
    assert (
        result.returncode == 2 and "401" in result.stderr and "unknown API token" in result.stderr
    )
    _no_secret(centre, result.stdout + result.stderr)
    revoked = centre.harness(["accounts", "--db", centre.db_url, "revoke-tokens", "olga"])
    assert revoked.returncode == 0 and "revoked 1 token(s) of olga" in revoked.stdout
    with centre.client("other") as c:
        r = c.get("/api/runs")
        assert r.status_code == 401 and r.json()["detail"] == "this API token was revoked"
    no_env = centre.harness(["submit", str(passing_bundle), "--server", centre.url])
    assert no_env.returncode == 2 and "HARNESS_TOKEN" in no_env.stderr
    assert centre.registry_rows()["runs"] == 0


def test_other_organisation_and_missing_role(
    centre: Centre, passing_bundle: Path, tmp_path: Path
) -> None:
    centre.register_part(REFERENCE_IDENTITY)  # Acme's part
    bundle = copy_bundle(passing_bundle, tmp_path / "bundle")
    other = centre.harness(["submit", str(bundle), "--server", centre.url], who="other")
    assert other.returncode == 2, other.stdout + other.stderr
    assert "403" in other.stderr and "another organisation" in other.stderr
    assert centre.registry_rows()["runs"] == 0

    ok = centre.harness(["submit", str(bundle), "--server", centre.url], who="acme")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    with centre.client("acme") as acme:
        (run,) = acme.get("/api/runs").json()
        (cert,) = acme.get("/api/certificates").json()
    with centre.client("other") as c:
        assert c.get("/api/runs").json() == []
        assert c.get("/api/certificates").json() == []
        assert c.get("/api/parts").json() == []
        r = c.get(f"/api/runs/{run['id']}")
        assert r.status_code == 403 and "another organisation" in r.json()["detail"]
        r = c.get(f"/api/runs/{run['id']}/evidence/trace.blf")
        assert r.status_code == 403
        # missing role: what only lab staff may do
        r = c.post(f"/api/certificates/{cert['id']}/revoke", json={"reason": "rival"})
        assert r.status_code == 403 and "lab staff only" in r.json()["detail"]
    with centre.client("acme") as c:  # even the part's own supplier may not revoke
        r = c.post(f"/api/certificates/{cert['id']}/revoke", json={"reason": "oops"})
        assert r.status_code == 403 and "lab staff only" in r.json()["detail"]
        part = {"identity": {"serial": "X1"}, "organisation": "Acme"}
        assert c.post("/api/parts", json=part).status_code == 403
        assert c.put("/api/benches/b3", json={"location": "hall 2"}).status_code == 403
        assert c.get("/api/benches").status_code == 403
        live = {"id": "r1", "bench": "b3", "profile": "p", "total": 1}
        assert c.post("/api/live/runs", json=live).status_code == 403
        assert c.get("/api/live/state").status_code == 403
        assert c.get("/dashboard").status_code == 403
    assert centre.client().get(f"/api/certificates/{cert['id']}").json()["status"] == "valid"
    assert (bundle / CERTIFICATE_FILE).is_file()


def test_bench_records_are_kept_for_the_lab(centre: Centre) -> None:
    with centre.client("lab") as c:
        r = c.put(
            "/api/benches/bench-3",
            json={
                "location": "hall 2",
                "interfaces": {"can": {"interface": "socketcan", "channel": "can0"}},
                "qualify_sha256": "ab" * 32,
            },
        )
        assert r.status_code == 200, r.text
        (bench,) = c.get("/api/benches").json()
    assert bench["location"] == "hall 2" and bench["qualify_sha256"] == "ab" * 32
    assert bench["qualify_date"] is not None
    assert bench["interfaces"]["can"]["channel"] == "can0"


def test_login_page_never_shows_the_token(centre: Centre) -> None:
    anon = httpx.Client(base_url=centre.url)
    bad = anon.post("/login", data={"token": centre.tokens["expired"]})
    assert bad.status_code == 401 and "expired" in bad.text
    _no_secret(centre, bad.text)
    good = anon.post("/login", data={"token": centre.tokens["lab"]}, follow_redirects=True)
    assert good.status_code == 200 and "signed in as alice" in good.text
    _no_secret(centre, good.text)
    assert anon.get("/dashboard", follow_redirects=False).status_code == 200  # cookie
    fresh = httpx.Client(base_url=centre.url)
    assert fresh.get("/dashboard", follow_redirects=False).status_code == 303


def test_live_runs_and_prompts_refuse_suppliers_and_bad_tokens(
    centre: Centre, tmp_path: Path
) -> None:
    with centre.client("lab") as lab:
        r = lab.post("/api/live/runs", json={"id": "r1", "bench": "b1", "profile": "p", "total": 1})
        assert r.status_code == 201, r.text
        spec = {"text": "press the button", "answer": "confirm", "timeout": 60}
        assert lab.post("/api/live/runs/r1/prompts", json={"id": "q1", "spec": spec}).is_success
    with centre.client("acme") as c:
        r = c.post("/api/live/prompts/q1/answer", json={"answer": "yes"})
        assert r.status_code == 403 and "lab staff only" in r.json()["detail"]
        ev = {"kind": "case_started", "data": {}}
        assert c.post("/api/live/runs/r1/events", json=ev).status_code == 403
    with centre.client("expired") as c:
        assert c.post("/api/live/prompts/q1/answer", json={"answer": "yes"}).status_code == 401
    with centre.client("lab") as lab:
        assert lab.post("/api/live/prompts/q1/answer", json={"answer": "yes"}).is_success
        again = lab.post("/api/live/prompts/q1/answer", json={"answer": "no"})
        assert again.status_code == 409  # an answer is given once
        assert lab.get("/api/live/prompts/q1").json()["answered_by"] == "alice"
    # a run that names the server with a refused token stops before it starts
    out = tmp_path / "run"
    args = ["certify", "profiles/cc-tcu-1.yaml", "--out", str(out), "--server", centre.url]
    result = centre.harness(args, who="expired")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "expired" in result.stderr and not (out / "run.json").exists()
    _no_secret(centre, result.stdout + result.stderr)
    supplier = centre.harness(args, who="acme")
    assert supplier.returncode == 2 and "lab staff only" in supplier.stderr
