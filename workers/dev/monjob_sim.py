"""A local stand-in for MonJob62, for development (``parcours sim monjob``) and tests.

It speaks the wire contract of ``activities.monjob`` and behaves like a careful remote API:

* ``POST /v1/cer``, ``/v1/bilans``, ``/v1/exits`` need an ``Idempotency-Key`` header (400 without). The first
  request with a key stores one record in PostgreSQL and answers 201 ``{"record_id", "kind", "received_at"}``;
  the same key again answers 200 with the same body and ``Idempotent-Replayed: true``; the same key with a
  different body is refused (422 ``idempotency_key_reused``). Concurrent duplicates are settled by the unique
  index, never by a read-then-write.
* Refusals a real platform would make: a malformed payload (422 ``invalid_payload``, field locations only,
  never the values), a CER longer than 6 months or ending before it starts (422), a bilan for a CER it does
  not know for that person (422 ``unknown_cer``).
* Fault injection for tests: ``POST /_control/faults`` queues rules ``{"mode": "5xx"|"timeout"|"429"|"4xx",
  "count": n, "retry_after": s, "status": code, "delay": s, "phase": "before"|"after"}`` (one object or a
  list) applied in order to the next push requests. ``phase="after"`` stores the record first and then fails
  — the answer is lost but the write happened, which is exactly what idempotency keys are for. ``timeout``
  holds the request for ``delay`` seconds (returning as soon as the client gives up) then answers 504.
  ``GET``/``DELETE /_control/faults`` read or clear the queue; ``GET /_control/requests`` lists the requests
  seen (status and outcome per idempotency key); ``GET /_control/records`` lists stored records.

Development tool only: the control endpoints have no authentication; bind it to localhost.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import asyncpg
from workers.runtime.pg import pool_lifespan
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from activities.monjob import (
    BILAN_PATH,
    CER_PATH,
    EXIT_PATH,
    IDEMPOTENCY_HEADER,
    MonJobBilan,
    MonJobCer,
    MonJobExit,
)
from domain.deadlines import add_months
from domain.rules import RULE_SETS

DEFAULT_PORT = 8062
_MODELS: dict[str, type[BaseModel]] = {"cer": MonJobCer, "bilan": MonJobBilan, "exit": MonJobExit}


class FaultRule(BaseModel):
    """One injected failure, applied to the next ``count`` push requests."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["5xx", "timeout", "429", "4xx"]
    count: int = Field(1, ge=1, le=1000)
    retry_after: int | None = Field(None, ge=0, description="429: Retry-After seconds")
    status: int | None = Field(None, ge=400, le=599, description="5xx/4xx: status to answer (503 / 409)")
    delay: float = Field(60.0, ge=0, le=3600, description="timeout: seconds to hold the request")
    phase: Literal["before", "after"] = "before"


@dataclass
class FaultQueue:
    rules: deque[FaultRule] = field(default_factory=deque)

    def take(self) -> FaultRule | None:
        """The rule for this request, consuming one of its ``count``."""
        if not self.rules:
            return None
        rule = self.rules[0]
        if rule.count <= 1:
            self.rules.popleft()
        else:
            self.rules[0] = rule.model_copy(update={"count": rule.count - 1})
        return rule

    def describe(self) -> list[dict]:
        return [r.model_dump() for r in self.rules]


class Refusal(Exception):
    def __init__(self, status: int, error: str, extra: dict | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.extra = status, error, extra or {}

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.error, **self.extra}, status_code=self.status)


def _digest(payload: BaseModel) -> str:
    canonical = json.dumps(payload.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _record_response(row: asyncpg.Record) -> dict:
    return {"record_id": f"MJ62-{row['id']:08d}", "kind": row["kind"], "received_at": row["received_at"].isoformat()}


class SimulatorStore:
    """The simulator's PostgreSQL tables (migration 006)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def check_business(self, kind: str, payload: BaseModel) -> None:
        if isinstance(payload, MonJobCer):
            if payload.ends_on < payload.starts_on:
                raise Refusal(422, "cer_dates_invalid")
            # the simulator does not know the case: a contract longer than any rule set of its kind allows is refused
            longest = max(r.cer_max_months for r in RULE_SETS if r.contract_kind is payload.contract_kind)
            if payload.ends_on > add_months(payload.starts_on, longest):
                raise Refusal(422, "cer_too_long")
        elif isinstance(payload, MonJobBilan):
            known = await self.pool.fetchval(
                "SELECT 1 FROM monjob_sim_records WHERE kind = 'cer' AND person_id = $1 AND business_ref = $2",
                payload.person_id, payload.cer_id,
            )
            if not known:
                raise Refusal(422, "unknown_cer")

    async def store(self, kind: str, key: str, payload: BaseModel) -> tuple[dict, bool]:
        """(response body, replayed). The unique key settles concurrent duplicates."""
        digest = _digest(payload)
        body = payload.model_dump(mode="json")
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                """INSERT INTO monjob_sim_records (idempotency_key, kind, person_id, business_ref, body, body_digest)
                   VALUES ($1, $2, $3, $4, $5::jsonb, $6)
                   ON CONFLICT (idempotency_key) DO NOTHING
                   RETURNING id, kind, received_at""",
                key, kind, body["person_id"], payload.business_ref, json.dumps(body), digest,
            )
            if row is not None:
                return _record_response(row), False
            row = await conn.fetchrow(
                "SELECT id, kind, received_at, body_digest FROM monjob_sim_records WHERE idempotency_key = $1", key
            )
        if row["kind"] != kind or row["body_digest"] != digest:
            raise Refusal(422, "idempotency_key_reused")
        return _record_response(row), True

    async def log_request(self, kind: str, key: str | None, status: int, outcome: str) -> None:
        await self.pool.execute(
            "INSERT INTO monjob_sim_requests (kind, idempotency_key, status, outcome) VALUES ($1, $2, $3, $4)",
            kind, key, status, outcome,
        )

    async def requests(self, key: str | None) -> list[dict]:
        rows = await self.pool.fetch(
            """SELECT kind, idempotency_key, status, outcome, received_at FROM monjob_sim_requests
               WHERE $1::text IS NULL OR idempotency_key = $1 ORDER BY id""",
            key,
        )
        return [{**dict(r), "received_at": r["received_at"].isoformat()} for r in rows]

    async def records(self, person_id: str | None, key: str | None) -> list[dict]:
        rows = await self.pool.fetch(
            """SELECT id, idempotency_key, kind, person_id, business_ref, body, received_at FROM monjob_sim_records
               WHERE ($1::text IS NULL OR person_id = $1) AND ($2::text IS NULL OR idempotency_key = $2)
               ORDER BY id""",
            person_id, key,
        )
        return [
            {**_record_response(r), "idempotency_key": r["idempotency_key"], "person_id": r["person_id"],
             "business_ref": r["business_ref"], "body": json.loads(r["body"])}
            for r in rows
        ]


async def _hold(request: Request, seconds: float) -> None:
    """Hang like a stuck server, but stop as soon as the client has given up (keeps shutdown quick)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        if await request.is_disconnected():
            return
        await asyncio.sleep(min(0.05, max(0.0, end - loop.time())))


async def _fault_response(rule: FaultRule, request: Request) -> JSONResponse:
    """The injected answer; a ``timeout`` first holds the request (logged before, so the log keeps arrival order)."""
    if rule.mode == "timeout":
        await _hold(request, rule.delay)
        return JSONResponse({"error": "injected_timeout"}, status_code=504)
    if rule.mode == "429":
        headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
        return JSONResponse({"error": "rate_limited"}, status_code=429, headers=headers)
    if rule.mode == "4xx":
        return JSONResponse({"error": "injected_refusal"}, status_code=rule.status or 409)
    return JSONResponse({"error": "injected_failure"}, status_code=rule.status or 503)


def _fault_status(rule: FaultRule) -> int:
    return {"429": 429, "timeout": 504}.get(rule.mode) or rule.status or (409 if rule.mode == "4xx" else 503)


def fault_routes(app: FastAPI, faults: FaultQueue) -> None:
    """``POST``/``GET``/``DELETE /_control/faults``: queue, read or clear the injected failures."""

    @app.post("/_control/faults")
    async def add_faults(rules: FaultRule | list[FaultRule]) -> dict:
        faults.rules.extend(rules if isinstance(rules, list) else [rules])
        return {"faults": faults.describe()}

    @app.get("/_control/faults")
    async def list_faults() -> dict:
        return {"faults": faults.describe()}

    @app.delete("/_control/faults")
    async def clear_faults() -> dict:
        faults.rules.clear()
        return {"faults": []}


def create_app(*, pool: asyncpg.Pool | None = None, database_url: str | None = None) -> FastAPI:
    """The simulator; give an open ``pool`` (tests) or a ``database_url`` opened at startup."""
    if pool is None and not database_url:
        raise ValueError("the MonJob62 simulator stores what it receives in PostgreSQL (pool or database_url)")
    faults = FaultQueue()
    state: dict[str, SimulatorStore] = {}
    lifespan = pool_lifespan(pool, database_url, lambda p: state.__setitem__("store", SimulatorStore(p)))

    app = FastAPI(title="MonJob62 simulator (parcours-rsa)", lifespan=lifespan)
    app.state.faults = faults

    async def push(kind: str, request: Request) -> JSONResponse:
        store = state["store"]
        key = request.headers.get(IDEMPOTENCY_HEADER) or None
        raw = await request.body()
        rule = faults.take()
        if rule is not None and rule.phase == "before":
            await store.log_request(kind, key, _fault_status(rule), f"fault:{rule.mode}")
            return await _fault_response(rule, request)
        try:
            if key is None:
                raise Refusal(400, "idempotency_key_required")
            try:
                payload = _MODELS[kind].model_validate_json(raw)
            except ValidationError as exc:
                fields = [{"loc": list(e["loc"]), "type": e["type"]} for e in exc.errors()]
                raise Refusal(422, "invalid_payload", {"fields": fields}) from None
            await store.check_business(kind, payload)
            body, replayed = await store.store(kind, key, payload)
        except Refusal as refusal:
            await store.log_request(kind, key, refusal.status, f"refused:{refusal.error}")
            return refusal.response()
        if rule is not None:  # phase "after": the write happened, the answer is lost
            await store.log_request(kind, key, _fault_status(rule), f"stored+fault:{rule.mode}")
            return await _fault_response(rule, request)
        await store.log_request(kind, key, 200 if replayed else 201, "replayed" if replayed else "stored")
        if replayed:
            return JSONResponse(body, status_code=200, headers={"Idempotent-Replayed": "true"})
        return JSONResponse(body, status_code=201)

    @app.post(CER_PATH)
    async def push_cer(request: Request) -> JSONResponse:
        return await push("cer", request)

    @app.post(BILAN_PATH)
    async def push_bilan(request: Request) -> JSONResponse:
        return await push("bilan", request)

    @app.post(EXIT_PATH)
    async def push_exit(request: Request) -> JSONResponse:
        return await push("exit", request)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "today": date.today().isoformat()}

    fault_routes(app, faults)

    @app.get("/_control/requests")
    async def list_requests(idempotency_key: str | None = None) -> dict:
        return {"requests": await state["store"].requests(idempotency_key)}

    @app.get("/_control/records")
    async def list_records(person_id: str | None = None, idempotency_key: str | None = None) -> dict:
        return {"records": await state["store"].records(person_id, idempotency_key)}

    return app
