"""Live runs: events a running ``harness certify --server`` streams, fanned out to dashboards.

A run registers itself (``POST /api/live/runs``), then posts each event as it happens (case
started, step started, case finished with its check verdicts, measurements and the report's
plots, prompts, run finished). Every event is kept in the database; open dashboards get it
at once over Server-Sent Events (``GET /api/live/stream``). Operator prompts wait in the
database until someone answers them on the dashboard (``POST /api/live/prompts/{id}/answer``)
or the run stops waiting. All of it is for lab staff.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from harness.server.auth import Principal
from harness.server.db import LiveEvent, LiveRun, PromptRow, now, utc

__all__ = ["Hub", "routes"]

KEEPALIVE = 10.0
_FINISHED = {"run_finished"}


class Hub:
    """Fan-out of new events to the dashboards connected to this process."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()

    def publish(self, event: dict[str, Any]) -> None:
        for q in list(self._subscribers):
            q.put_nowait(event)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(q)


def _event_json(ev: LiveEvent) -> dict[str, Any]:
    return {
        "seq": ev.id,
        "run_id": ev.run_id,
        "kind": ev.kind,
        "data": ev.data,
        "received": utc(ev.received).isoformat(),  # type: ignore[union-attr]
    }


def _run_json(run: LiveRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "bench": run.bench,
        "profile": run.profile,
        "operator": run.operator,
        "status": run.status,
        "total": run.total,
        "done": run.done,
        "started": utc(run.started).isoformat(),  # type: ignore[union-attr]
    }


def _prompt_json(p: PromptRow) -> dict[str, Any]:
    when = utc(p.answered)
    return {
        "id": p.id,
        "run_id": p.run_id,
        "spec": p.spec,
        "answer": p.answer,
        "answered_by": p.answered_by,
        "answered": when.isoformat() if when else None,
    }


def _body(raw: Any, *keys: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or any(k not in raw for k in keys):
        raise HTTPException(400, f"expected a JSON object with {', '.join(keys)}")
    return raw


def routes(
    app: FastAPI, state: Any, db_dep: Callable[..., Any], who_dep: Callable[..., Any]
) -> None:
    hub: Hub = state.hub

    def store_events(
        db: Session, run_id: str, items: list[tuple[str, dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """Keep events of one run, in order, in one transaction."""
        run = db.get(LiveRun, run_id)
        if run is None:
            raise HTTPException(404, f"no live run {run_id}")
        rows = []
        for kind, data in items:
            ev = LiveEvent(run_id=run_id, kind=kind, data=data, received=now())
            db.add(ev)
            rows.append(ev)
            if kind == "case_finished":
                run.done += 1
            if kind in _FINISHED:
                run.status = str(data.get("status", "finished"))
        run.updated = now()
        db.commit()
        return [_event_json(ev) for ev in rows]

    def store_event(db: Session, run_id: str, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        return store_events(db, run_id, [(kind, data)])[0]

    @app.post("/api/live/runs", status_code=201)
    async def start_run(
        request: Request,
        db: Session = Depends(db_dep),  # noqa: B008
        who: Principal = Depends(who_dep),  # noqa: B008
    ) -> dict[str, Any]:
        who.require_lab("streaming a live run")
        body = _body(await request.json(), "id", "bench", "profile", "total")

        def write() -> dict[str, Any]:
            if db.get(LiveRun, str(body["id"])) is not None:
                raise HTTPException(409, f"live run {body['id']} exists already")
            run = LiveRun(
                id=str(body["id"]),
                bench=str(body["bench"]),
                profile=str(body["profile"]),
                operator=who.name,
                status="RUNNING",
                total=int(body["total"]),
                done=0,
                started=now(),
                updated=now(),
            )
            db.add(run)
            db.commit()
            return store_event(db, run.id, "run_started", _run_json(run))

        event = await asyncio.to_thread(write)
        hub.publish(event)
        return event

    @app.post("/api/live/runs/{run_id}/events", status_code=201)
    async def post_event(
        run_id: str,
        request: Request,
        db: Session = Depends(db_dep),  # noqa: B008
        who: Principal = Depends(who_dep),  # noqa: B008
    ) -> dict[str, Any]:
        who.require_lab("streaming a live run")
        raw = await request.json()
        # one event {kind, data}, or a batch {events: [{kind, data}, ...]} kept in one go
        batch = raw.get("events") if isinstance(raw, dict) else None
        items = [_body(e, "kind", "data") for e in batch] if isinstance(batch, list) else None
        if items is None:
            items = [_body(raw, "kind", "data")]
        events = await asyncio.to_thread(
            store_events, db, run_id, [(str(e["kind"]), dict(e["data"])) for e in items]
        )
        for event in events:
            hub.publish(event)
        return {"seq": events[-1]["seq"] if events else None}

    @app.get("/api/live/state")
    def live_state(
        db: Session = Depends(db_dep),  # noqa: B008
        who: Principal = Depends(who_dep),  # noqa: B008
    ) -> dict[str, Any]:
        """Each bench's newest run with its events so far, and the prompts waiting."""
        who.require_lab("the live dashboard")
        newest: dict[str, LiveRun] = {}
        for run in db.scalars(select(LiveRun).order_by(LiveRun.started)):
            newest[run.bench] = run
        benches = {}
        for bench, run in sorted(newest.items()):
            events = db.scalars(
                select(LiveEvent).where(LiveEvent.run_id == run.id).order_by(LiveEvent.id)
            )
            benches[bench] = {"run": _run_json(run), "events": [_event_json(e) for e in events]}
        waiting = db.scalars(select(PromptRow).where(PromptRow.answer.is_(None)))
        return {"benches": benches, "prompts": [_prompt_json(p) for p in waiting]}

    @app.get("/api/live/stream")
    async def stream(
        request: Request,
        who: Principal = Depends(who_dep),  # noqa: B008
    ) -> StreamingResponse:
        who.require_lab("the live dashboard")
        queue = hub.subscribe()

        async def events() -> AsyncIterator[bytes]:
            try:
                yield b": connected\n\n"
                while not await request.is_disconnected():
                    try:
                        event = await asyncio.wait_for(queue.get(), KEEPALIVE)
                    except asyncio.TimeoutError:
                        yield b": keepalive\n\n"
                        continue
                    yield f"data: {json.dumps(event)}\n\n".encode()
            finally:
                hub.unsubscribe(queue)

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    # -- operator prompts --------------------------------------------------------------------
    @app.post("/api/live/runs/{run_id}/prompts", status_code=201)
    async def ask(
        run_id: str,
        request: Request,
        db: Session = Depends(db_dep),  # noqa: B008
        who: Principal = Depends(who_dep),  # noqa: B008
    ) -> dict[str, Any]:
        who.require_lab("operator prompts")
        body = _body(await request.json(), "id", "spec")

        def write() -> dict[str, Any]:
            if db.get(LiveRun, run_id) is None:
                raise HTTPException(404, f"no live run {run_id}")
            db.add(PromptRow(id=str(body["id"]), run_id=run_id, spec=dict(body["spec"])))
            db.commit()
            return store_event(db, run_id, "prompt", {"id": body["id"], "spec": body["spec"]})

        event = await asyncio.to_thread(write)
        hub.publish(event)
        return {"id": body["id"]}

    @app.get("/api/live/prompts/{prompt_id}")
    def prompt(
        prompt_id: str,
        db: Session = Depends(db_dep),  # noqa: B008
        who: Principal = Depends(who_dep),  # noqa: B008
    ) -> dict[str, Any]:
        who.require_lab("operator prompts")
        row = db.get(PromptRow, prompt_id)
        if row is None:
            raise HTTPException(404, f"no prompt {prompt_id}")
        return _prompt_json(row)

    @app.post("/api/live/prompts/{prompt_id}/answer")
    async def answer(
        prompt_id: str,
        request: Request,
        db: Session = Depends(db_dep),  # noqa: B008
        who: Principal = Depends(who_dep),  # noqa: B008
    ) -> dict[str, Any]:
        who.require_lab("answering operator prompts")
        body = _body(await request.json(), "answer")

        def write() -> dict[str, Any]:
            row = db.get(PromptRow, prompt_id)
            if row is None:
                raise HTTPException(404, f"no prompt {prompt_id}")
            if row.answer is not None:
                raise HTTPException(409, f"prompt {prompt_id} is already answered")
            row.answer = {"value": body["answer"]}
            row.answered_by, row.answered = who.name, now()
            db.commit()
            data = _prompt_json(row)
            return store_event(db, row.run_id, "prompt_answered", data)

        event = await asyncio.to_thread(write)
        hub.publish(event)
        return event["data"]  # type: ignore[no-any-return]
