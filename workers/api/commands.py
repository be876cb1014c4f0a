"""Command routes: ``POST {prefix}/{id}/{path}`` sends one workflow message (a signal, answered 202 and applied
later, or an update, answered 200 with the case's stage), its request body being the message itself with an
optional ``event_id``."""

# No ``from __future__ import annotations`` here: the command routes are built in a loop with their body model
# as a real (not string) annotation, which FastAPI reads to validate the body and document it.

import asyncio
from dataclasses import dataclass
from typing import Any, Callable, Literal

from fastapi import Depends, FastAPI, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from workers.api.auth import Scope
from workers.api.dependencies import post_context
from workers.api.errors import ERROR_RESPONSES, ApiError
from workers.api.idempotency import IDEMPOTENCY_HEADER, Api, PostContext
from workers.api.temporal import UPDATE_TIMEOUT, call, closed_or_missing

STRUCTURE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
PATHWAY_PATTERN = r"^pathway-[0-9a-f]{32}$"
APPLICATION_PATTERN = r"^label-[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}-[1-9][0-9]{0,5}$"
TERRITORY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


@dataclass(frozen=True)
class Command:
    """One POST route sending a workflow message: a signal (202, applied later) or an update (200, answered)."""

    path: str
    name: str  # the workflow's signal or update name
    kind: Literal["signal", "update"]
    message: type[BaseModel]
    scope: Scope
    summary: str


class CommandAnswer(BaseModel):
    """An update's answer: the case's stage after it; ``duplicate`` when the event id was already applied."""

    case_id: str
    event: str
    event_id: str
    stage: str
    duplicate: bool = False


class EventAccepted(BaseModel):
    """A signal delivered to the case; it is applied asynchronously (duplicates ignored by event id)."""

    case_id: str
    event: str
    event_id: str
    status: Literal["accepted"] = "accepted"


_BODIES: dict[type[BaseModel], type[BaseModel]] = {}


def api_body(message: type[BaseModel]) -> type[BaseModel]:
    """The request body of a workflow message: same fields, ``event_id`` optional, unknown fields refused."""
    if message in _BODIES:
        return _BODIES[message]
    namespace = {
        "__module__": __name__,
        "__doc__": message.__doc__,
        "__annotations__": {"event_id": str | None},
        "event_id": Field(
            None, min_length=1, max_length=200,
            description="Id of the event in the sender's system; a re-sent id is ignored by the case. "
                        f"Default: derived from {IDEMPOTENCY_HEADER}, else random.",
        ),
        "model_config": ConfigDict(extra="forbid"),
    }
    _BODIES[message] = type(f"{message.__name__}Request", (message,), namespace)
    return _BODIES[message]


def to_message(message: type[BaseModel], body: BaseModel, event_id: str) -> BaseModel:
    data = {name: getattr(body, name) for name in message.model_fields}
    data["event_id"] = event_id
    return message.model_validate(data)


async def send(api: Api, workflow_id: str, what: str, command: Command, message: BaseModel) -> tuple[int, dict]:
    """Deliver ``message`` to the case; an update's refusal, a missing or a closed case become answers."""
    handle = api.client.get_workflow_handle(workflow_id)
    event_id = getattr(message, "event_id")
    try:
        if command.kind == "signal":
            await call(what, handle.signal(command.name, message))
            return 202, EventAccepted(case_id=workflow_id, event=command.name,
                                      event_id=event_id).model_dump(mode="json")
        try:
            result = await asyncio.wait_for(call(what, handle.execute_update(command.name, message)),
                                            UPDATE_TIMEOUT.total_seconds())
        except asyncio.TimeoutError:
            raise ApiError(504, "timeout",
                           f"{what} did not answer in time; retry with the same {IDEMPOTENCY_HEADER}") from None
    except ApiError as error:
        if error.code == "not_found":
            raise await closed_or_missing(handle, what, error) from None
        raise
    if isinstance(result, dict):  # pathway CommandResult {"stage", "duplicate"} (no result type given)
        stage, duplicate = str(result.get("stage")), bool(result.get("duplicate", False))
    else:  # label workflows answer their stage
        stage, duplicate = str(getattr(result, "value", result)), False
    answer = CommandAnswer(case_id=workflow_id, event=command.name, event_id=event_id, stage=stage, duplicate=duplicate)
    return 200, answer.model_dump(mode="json")


def add_command(app: FastAPI, api: Api, *, prefix: str, id_name: str, id_pattern: str,
                to_workflow_id: Callable[[str], str], what: str, tag: str, command: Command) -> None:
    """``POST {prefix}/{id}/{command.path}``: the body is the workflow message with an optional event id."""
    body_model = api_body(command.message)
    answer_model = EventAccepted if command.kind == "signal" else CommandAnswer
    status = 202 if command.kind == "signal" else 200
    context = post_context(command.scope)

    async def endpoint(
        body: body_model,  # type: ignore[valid-type]
        case: str = Path(..., alias=id_name, pattern=id_pattern),
        ctx: PostContext = Depends(context),
    ) -> JSONResponse:
        workflow_id = to_workflow_id(case)
        message = to_message(command.message, body, ctx.event_id(body.event_id))

        async def action() -> tuple[int, dict]:
            return await send(api, workflow_id, what, command, message)

        return await api.idempotent(ctx, {"case": workflow_id, "message": message}, action)

    responses: dict[int | str, dict[str, Any]] = ERROR_RESPONSES
    app.post(
        f"{prefix}/{{{id_name}}}/{command.path}",
        summary=command.summary,
        tags=[tag],
        status_code=status,
        response_model=answer_model,
        operation_id=f"{tag.replace(' ', '_')}_{command.name}",
        responses=responses,
        description=f"Sends the `{command.name}` {command.kind} to the case. Scope: `{command.scope.value}`.",
    )(endpoint)
