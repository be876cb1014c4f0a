"""MonJob62 (the Département's tracking platform): what a pathway pushes there, and how failures are classified.

R15 / G-X2: the referent must formalise the accompaniment in MonJob62 — at least the CER, the bilan and the
exits (including "non-respect des obligations"). MonJob62's API is not described, so the wire contract here is
ours (served locally by ``workers.dev.monjob_sim``); MonJob62 is never the system of record for pathway state.

Payloads carry only opaque ids, dates and coarse kinds: no name, no NIR, no CER content. Their vocabularies
(CER type, bilan decision, exit reason) are the pathway's own enums, so the wire never drifts from the domain.

Activities run at least once, so every push carries an ``Idempotency-Key`` built from stable data
(workflow id + step + business reference): a retried push, or a push replayed after a worker crash, lands on the
same remote record. Error classification (engineering.md §3):

* 2xx → a :class:`MonJobReceipt`;
* 429 → retryable ``MonJob62RateLimited`` whose ``next_retry_delay`` is the ``Retry-After`` header;
* 408, 5xx, timeouts, connection errors → retryable (``MonJob62Unavailable`` / ``MonJob62Timeout`` /
  ``MonJob62Unreachable``), left to the activity retry policy;
* any other 4xx → ``MonJob62Refused``, non-retryable: sending the same request again cannot succeed.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Annotated, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from temporalio.exceptions import ApplicationError

from domain.pathway import BilanDecision, CerType, ExitReason, MonJob62Push
from domain.pathway_state import BilanPush, CerPush, ExitPush
from domain.rules import ContractKind

OpaqueId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]
PersonId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]  # keyed hash of the NIR

REFUSED = "MonJob62Refused"
RATE_LIMITED = "MonJob62RateLimited"
UNAVAILABLE = "MonJob62Unavailable"
TIMEOUT = "MonJob62Timeout"
UNREACHABLE = "MonJob62Unreachable"
PAYLOAD_INVALID = "MonJob62PayloadInvalid"

IDEMPOTENCY_HEADER = "Idempotency-Key"
CER_PATH = "/v1/cer"
BILAN_PATH = "/v1/bilans"
EXIT_PATH = "/v1/exits"

# Deliberate timeouts. One HTTP exchange is bounded by the client (10 s, connect 5 s); one attempt by the pathway's
# PUSH_OPTIONS (workflows.pathway: start-to-close 30 s, a little above, so a hung connection is cut by httpx first
# with a classified error; retries for up to 3 days with a backoff capped at 30 minutes, then a task for a person).
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class _Wire(BaseModel):
    """Wire models reject unknown fields, so nothing identifying can ride along by accident."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class GesicaOutcomeWire(_Wire):
    domain: str
    outcome: str


class MonJobCer(_Wire):
    """A signed CER: who (opaque), which contract, its kind, dates and size — never its content."""

    person_id: PersonId
    cer_id: OpaqueId
    cer_type: CerType
    renewal: bool = False
    signed_on: date
    starts_on: date
    ends_on: date
    structure_id: OpaqueId | None = None
    action_count: int | None = None
    contract_kind: ContractKind = ContractKind.CER  # CER (2023 rules) or CONTRAT_ENGAGEMENT (2025 rules)
    weekly_hours: int | None = Field(default=None, ge=0, le=35)  # contrat d'engagement only

    @property
    def business_ref(self) -> str:
        return self.cer_id


class MonJobBilan(_Wire):
    """The bilan closing a CER (R11 step 6), its GESICA outcomes and what follows (step 7)."""

    person_id: PersonId
    bilan_id: OpaqueId
    cer_id: OpaqueId | None = None
    completed_on: date
    decision: BilanDecision
    global_outcome: str | None = None
    domain_outcomes: list[GesicaOutcomeWire] = []
    physical_appointments: int | None = None
    caf_min_physical_appointments_met: bool | None = None

    @property
    def business_ref(self) -> str:
        return self.bilan_id


class MonJobExit(_Wire):
    """An exit from the scheme ("sortie de dispositif") with its reason, incl. non-compliance (R15)."""

    person_id: PersonId
    exit_id: OpaqueId
    exited_on: date
    reason: ExitReason
    structure_id: OpaqueId | None = None

    @property
    def business_ref(self) -> str:
        return self.exit_id


class MonJobReceipt(BaseModel):
    """MonJob62's acknowledgement; ``replayed`` is true when the key had already been accepted."""

    record_id: str
    kind: Literal["cer", "bilan", "exit"]
    idempotency_key: str
    replayed: bool = False


def retry_after(value: str | None, now: datetime | None = None) -> timedelta | None:
    """``Retry-After`` as delta-seconds or HTTP-date (RFC 9110 §10.2.3); ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(timedelta(0), when - (now or datetime.now(timezone.utc)))


def _error_code(response: httpx.Response) -> str:
    """The remote's short error code, if any — never the whole body, which could echo what we sent."""
    try:
        body = response.json()
    except ValueError:
        return ""
    code = body.get("error") if isinstance(body, dict) else None
    return code if isinstance(code, str) and len(code) <= 64 else ""


def classify(response: httpx.Response, *, kind: str) -> ApplicationError:
    """The ``ApplicationError`` for a non-2xx response (see module docstring)."""
    status = response.status_code
    code = _error_code(response)
    details = {"status": status, "error": code, "kind": kind}
    if status == 429:
        return ApplicationError(
            f"MonJob62 rate limited the {kind} push (HTTP 429)", details,
            type=RATE_LIMITED, next_retry_delay=retry_after(response.headers.get("Retry-After")),
        )
    if status >= 500 or status == 408:
        return ApplicationError(f"MonJob62 failed on the {kind} push (HTTP {status})", details, type=UNAVAILABLE)
    return ApplicationError(
        f"MonJob62 refused the {kind} push (HTTP {status}{', ' + code if code else ''})", details,
        type=REFUSED, non_retryable=True,
    )


def http_client(base_url: str, *, api_token: str | None = None, timeout: httpx.Timeout = HTTP_TIMEOUT) -> httpx.AsyncClient:
    """The HTTP client the worker injects (one per process, closed at shutdown)."""
    headers = {"Authorization": f"Bearer {api_token}"} if api_token else {}
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout)


class MonJob62Client:
    """Pushes CER, bilans and exits to MonJob62 over an injected ``httpx.AsyncClient`` (base URL set on it)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def push_cer(self, cer: MonJobCer, *, idempotency_key: str) -> MonJobReceipt:
        return await self._post(CER_PATH, "cer", cer, idempotency_key)

    async def push_bilan(self, bilan: MonJobBilan, *, idempotency_key: str) -> MonJobReceipt:
        return await self._post(BILAN_PATH, "bilan", bilan, idempotency_key)

    async def push_exit(self, exit_: MonJobExit, *, idempotency_key: str) -> MonJobReceipt:
        return await self._post(EXIT_PATH, "exit", exit_, idempotency_key)

    async def _post(self, path: str, kind: str, payload: _Wire, key: str) -> MonJobReceipt:
        try:
            response = await self._http.post(
                path, json=payload.model_dump(mode="json"), headers={IDEMPOTENCY_HEADER: key}
            )
        except httpx.TimeoutException as exc:
            raise ApplicationError(f"MonJob62 did not answer the {kind} push in time ({type(exc).__name__})",
                                   {"kind": kind}, type=TIMEOUT) from None
        except httpx.TransportError as exc:
            raise ApplicationError(f"MonJob62 unreachable for the {kind} push ({type(exc).__name__})",
                                   {"kind": kind}, type=UNREACHABLE) from None
        if not response.is_success:
            raise classify(response, kind=kind)
        body = response.json()
        return MonJobReceipt(
            record_id=body["record_id"], kind=kind, idempotency_key=key,
            replayed=response.headers.get("Idempotent-Replayed") == "true",
        )


# ---------------------------------------------------------------- the pathway's port

#: ``MonJob62Push.data`` keys (as the pathway rules write them) → wire field; ``None``: accepted, not sent.
def wire_payload(item: MonJob62Push) -> MonJobCer | MonJobBilan | MonJobExit:
    """The wire model for a pathway push: its typed data (``domain.pathway_state.CerPush``…, which refuse unknown
    keys, so a field added to the pathway never reaches MonJob62 unreviewed) under the wire's names.

    A bad item is a bug on our side that no retry fixes: non-retryable ``MonJob62PayloadInvalid``, naming
    field locations only, never values."""
    data = item.data
    ref = data.ref if isinstance(data, (BilanPush, ExitPush)) else None
    if ref is None:  # the key is "<workflow id>:<kind>:<business ref>" (engineering.md §3)
        _, sep, ref = item.idempotency_key.partition(f":{item.kind}:")
        if not sep or not ref:
            raise ApplicationError(f"MonJob62 {item.kind} push has no business reference",
                                   type=PAYLOAD_INVALID, non_retryable=True)
    try:
        if isinstance(data, CerPush) and item.kind == "CER":
            return MonJobCer(person_id=data.person_id, cer_id=data.cer_id, cer_type=data.type, renewal=data.renewal,
                             signed_on=data.signed_on, starts_on=data.start, ends_on=data.end,
                             structure_id=data.structure_id, action_count=data.actions,
                             contract_kind=data.contract_kind, weekly_hours=data.weekly_hours)
        if isinstance(data, BilanPush) and item.kind == "BILAN":
            return MonJobBilan(person_id=data.person_id, bilan_id=ref, cer_id=data.cer_id,
                               completed_on=data.completed_on, decision=data.decision,
                               global_outcome=data.global_outcome,
                               domain_outcomes=[o.model_dump() for o in data.domain_outcomes],
                               physical_appointments=data.physical_appointments,
                               caf_min_physical_appointments_met=data.caf_min_physical_appointments_met)
        if isinstance(data, ExitPush) and item.kind == "EXIT":
            return MonJobExit(person_id=data.person_id, exit_id=ref, exited_on=data.closed_on, reason=data.reason,
                              structure_id=data.structure_id)
    except ValidationError as exc:
        problems = [{"loc": ".".join(map(str, e["loc"])), "type": e["type"]} for e in exc.errors()]
        raise ApplicationError(f"MonJob62 {item.kind} push is invalid", {"fields": problems},
                               type=PAYLOAD_INVALID, non_retryable=True) from None
    raise ApplicationError(f"unknown MonJob62 push kind {item.kind!r}", type=PAYLOAD_INVALID, non_retryable=True)


class MonJob62HttpPort:
    """Implements the pathway's ``MonJob62Port`` (``activities.pathway``) over HTTP: ``push(item)`` returns
    ``"accepted"`` or ``"duplicate"`` (key already accepted) and raises the classified ``ApplicationError``s
    of :class:`MonJob62Client` — refusals non-retryable, 429 with ``next_retry_delay``. The idempotency key is
    the one the workflow computed (workflow id + kind + business reference)."""

    def __init__(self, client: MonJob62Client) -> None:
        self._client = client

    async def push(self, item: MonJob62Push) -> str:
        payload = wire_payload(item)
        if isinstance(payload, MonJobCer):
            receipt = await self._client.push_cer(payload, idempotency_key=item.idempotency_key)
        elif isinstance(payload, MonJobBilan):
            receipt = await self._client.push_bilan(payload, idempotency_key=item.idempotency_key)
        else:
            receipt = await self._client.push_exit(payload, idempotency_key=item.idempotency_key)
        return "duplicate" if receipt.replayed else "accepted"
