"""France Travail: whether a person is registered, asked by opaque person id; and the sync's activities.

The wire contract is ours (France Travail's partner API is not described; served locally by
``workers.dev.france_travail_sim``): ``GET /v1/registrations/{person_id}`` answers 200 ``{"person_id",
"registered_on"}`` with a date or ``null``. The person id is the keyed hash of the NIR, never the NIR; nothing
else identifying is sent or logged. Error classification as for MonJob62 (engineering.md §3):

* 429 → retryable ``FranceTravailRateLimited`` with ``next_retry_delay`` from ``Retry-After``;
* 408, 5xx, timeouts, connection errors → retryable ``FranceTravailUnavailable`` / ``…Timeout`` / ``…Unreachable``;
* any other 4xx, or an answer that is not a plausible date → non-retryable ``FranceTravailRefused`` /
  ``FranceTravailAnswerInvalid``.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date

import asyncpg
import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.monjob import HTTP_TIMEOUT, _error_code, retry_after
from domain.france_travail import (
    ANSWER_INVALID,
    CHECK,
    NON_RETRYABLE,
    REFUSED,
    SELECT,
    Awaiting,
    CheckRequest,
    SyncInput,
    SyncReport,
    registration,
)
from domain.pathway import DeadlineKind
from domain.pathway_contract import Signal
from domain.rules import ImplausibleDate, check_plausible_date

RATE_LIMITED = "FranceTravailRateLimited"
UNAVAILABLE = "FranceTravailUnavailable"
TIMEOUT = "FranceTravailTimeout"
UNREACHABLE = "FranceTravailUnreachable"

REGISTRATIONS_PATH = "/v1/registrations"
_PERSON_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_NIR_SHAPED = re.compile(r"^[0-9]{13}([0-9]{2})?$|^[12][0-9]{4}2[AB][0-9]{6}([0-9]{2})?$")
CONCURRENCY = 10


class RegistrationAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    person_id: str
    registered_on: date | None = None


def classify(response: httpx.Response) -> ApplicationError:
    """The ``ApplicationError`` for a non-2xx answer (see module docstring)."""
    status, code = response.status_code, _error_code(response)
    details = {"status": status, "error": code}
    if status == 429:
        return ApplicationError("France Travail rate limited the registration check (HTTP 429)", details,
                                type=RATE_LIMITED, next_retry_delay=retry_after(response.headers.get("Retry-After")))
    if status >= 500 or status == 408:
        return ApplicationError(f"France Travail failed on the registration check (HTTP {status})", details,
                                type=UNAVAILABLE)
    return ApplicationError(f"France Travail refused the registration check (HTTP {status}"
                            f"{', ' + code if code else ''})", details, type=REFUSED, non_retryable=True)


def http_client(base_url: str, *, api_token: str | None = None) -> httpx.AsyncClient:
    """The HTTP client the worker injects (one per process, closed at shutdown)."""
    headers = {"Authorization": f"Bearer {api_token}"} if api_token else {}
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=HTTP_TIMEOUT)


def is_opaque_person_id(value: str) -> bool:
    """An opaque id (keyed hash), and nothing shaped like a NIR: what may go into a URL."""
    return bool(_PERSON_ID.fullmatch(value)) and not _NIR_SHAPED.fullmatch(value)


def _checked_id(person_id: str) -> str:
    if not is_opaque_person_id(person_id):
        raise ApplicationError("not an opaque person id", type=REFUSED, non_retryable=True)
    return person_id


class FranceTravailClient:
    """Asks France Travail over an injected ``httpx.AsyncClient`` (base URL and token set on it)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def registered_on(self, person_id: str, *, today: date) -> date | None:
        """The registration date, or ``None`` when France Travail does not know the person as registered."""
        path = f"{REGISTRATIONS_PATH}/{_checked_id(person_id)}"
        try:
            response = await self._http.get(path)
        except httpx.TimeoutException as exc:
            raise ApplicationError(f"France Travail did not answer in time ({type(exc).__name__})",
                                   type=TIMEOUT) from None
        except httpx.TransportError as exc:
            raise ApplicationError(f"France Travail unreachable ({type(exc).__name__})", type=UNREACHABLE) from None
        if not response.is_success:
            raise classify(response)
        try:
            answer = RegistrationAnswer.model_validate_json(response.content)
            if answer.person_id != person_id:
                raise ValueError("answer for another person")
            if answer.registered_on is not None:
                check_plausible_date(answer.registered_on, today, field="registered_on")
        except (ValidationError, ValueError, ImplausibleDate) as exc:
            raise ApplicationError(f"France Travail's answer is invalid ({type(exc).__name__})",
                                   type=ANSWER_INVALID, non_retryable=True) from None
        return answer.registered_on


class InMemoryFranceTravail:
    """The fake used by tests and by a worker without ``FRANCE_TRAVAIL_URL``: registrations seeded in memory."""

    def __init__(self, registrations: dict[str, date] | None = None) -> None:
        self.registrations = dict(registrations or {})
        self.asked: list[str] = []

    async def registered_on(self, person_id: str, *, today: date) -> date | None:
        self.asked.append(_checked_id(person_id))
        return self.registrations.get(person_id)


# The pathways awaiting their registration, not closed: the FRANCE_TRAVAIL_REGISTRATION clock still running, or
# run out (FIRED) with its task still open — the registration closes the one or the other.
_SELECT = """
SELECT p.pathway_id, p.person_id
FROM pathways p
WHERE p.closed_on IS NULL AND ($2::text IS NULL OR p.territory = $2)
  AND (EXISTS (SELECT 1 FROM deadlines d WHERE d.pathway_id = p.pathway_id AND d.kind = $1
               AND d.status IN ('PENDING', 'PAUSED'))
       OR EXISTS (SELECT 1 FROM human_tasks t WHERE t.workflow_id = p.pathway_id AND t.kind = $1
                  AND t.status IN ('OPEN', 'CLAIMED')))
ORDER BY p.pathway_id
LIMIT $3
"""


class FranceTravailActivities:
    """The read model (``pool``), France Travail (the client or the fake) and the Temporal client that signals
    pathways (default: the worker's)."""

    def __init__(self, pool: asyncpg.Pool, france_travail: FranceTravailClient | InMemoryFranceTravail,
                 client: Client | None = None) -> None:
        self._pool, self._ft, self._client = pool, france_travail, client

    @activity.defn(name=SELECT)
    async def select(self, inp: SyncInput) -> list[Awaiting]:
        rows = await self._pool.fetch(_SELECT, DeadlineKind.FRANCE_TRAVAIL_REGISTRATION.value, inp.territory, inp.limit)
        return [Awaiting(pathway_id=r["pathway_id"], person_id=r["person_id"]) for r in rows]

    @activity.defn(name=CHECK)
    async def check(self, req: CheckRequest) -> SyncReport:
        """Ask for each, signal the registered. Retryable errors fail the attempt (a retry re-signals nobody:
        the event id is the registration's); a refused or invalid answer for one person is counted and skipped."""
        client = self._client or activity.client()
        report = SyncReport(run_on=req.as_of, awaiting=len(req.awaiting))
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(item: Awaiting) -> None:
            async with limit:
                try:
                    day = await self._ft.registered_on(item.person_id, today=req.as_of)
                except ApplicationError as err:
                    if err.type not in NON_RETRYABLE:
                        raise
                    report.refused += 1
                    return
                if day is None:
                    return
                if day > req.as_of:  # the pathway refuses a registration dated after its today
                    report.refused += 1
                    return
                try:
                    await client.get_workflow_handle(item.pathway_id).signal(Signal.FRANCE_TRAVAIL_REGISTERED, registration(day))
                    report.registered.append(item.pathway_id)
                except RPCError as exc:
                    if exc.status is not RPCStatusCode.NOT_FOUND:
                        raise
                    report.not_found.append(item.pathway_id)
                if activity.in_activity():
                    activity.heartbeat()

        await asyncio.gather(*(one(a) for a in req.awaiting))
        report.registered.sort()
        report.not_found.sort()
        return report

    def all(self) -> list:
        return [self.select, self.check]
