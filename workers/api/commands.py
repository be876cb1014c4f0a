"""Command routes, generated from declarative tables (``PATHWAY_COMMANDS``, ``APPLICATION_COMMANDS``,
``LABEL_COMMANDS``): ``POST {prefix}/{id}/{path}`` sends one workflow message — an update (answered 200 with the
case's stage, or 409 with the rule that refused it) or a signal (a fact from another system, answered 202).

Each route's request body is the message itself (its JSON schema), with an optional ``event_id`` and without
``actor``, which the API fills in: the calling service (token) and, for a person's command, the ``X-Actor``
header. OpenAPI names the message of every route (``x-temporal-message``) so a reader finds the handler.
"""

# No ``from __future__ import annotations`` here: the command routes are built in a loop with their body model
# as a real (not string) annotation, which FastAPI reads to validate the body and document it.

import asyncio
from dataclasses import dataclass
from typing import Any, Callable, Literal

from fastapi import Depends, FastAPI, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from domain.actor import Actor
from workers.api.auth import Scope
from workers.api.bodies import EVENT_ID_PATTERN, strict_body
from workers.api.dependencies import post_context
from workers.api.errors import ERROR_RESPONSES, ApiError
from workers.api.event_ids import fingerprint_event
from workers.api.idempotency import IDEMPOTENCY_HEADER, Api, PostContext
from workers.api.temporal import UPDATE_TIMEOUT, call, closed_or_missing

STRUCTURE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
PATHWAY_PATTERN = r"^pathway-[0-9a-f]{32}$"
APPLICATION_PATTERN = r"^label-[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}-[1-9][0-9]{0,5}$"
TERRITORY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"

#: ``person``: a person decides it (an update; ``X-Actor`` required). ``system``: a fact another system sends.
By = Literal["person", "system"]


@dataclass(frozen=True)
class Command:
    """One row of a route table: ``POST …/{id}/{path}`` sends the update or signal ``name`` (body ``message``)."""

    path: str
    name: str  # the workflow's update or signal name
    kind: Literal["signal", "update"]
    message: type[BaseModel]
    scope: Scope
    by: By
    summary: str


@dataclass(frozen=True)
class Resource:
    """Where a table's routes live: ``{prefix}/{id_name}``, and how an id becomes a workflow id."""

    prefix: str
    id_name: str
    id_pattern: str
    to_workflow_id: Callable[[str], str]
    what: str  # "the pathway", in messages
    tag: str


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
    """The request body of a workflow message: same fields, ``event_id`` optional (an identifier), no
    ``actor`` (the API sets it), unknown fields refused."""
    if message in _BODIES:
        return _BODIES[message]
    annotations: dict[str, Any] = {"event_id": str | None}
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__doc__": message.__doc__,
        "event_id": Field(
            None, pattern=EVENT_ID_PATTERN,
            description="Id of the event in the sender's system; a re-sent id is ignored by the case, a reused "
                        f"one with another content is refused (409). Default: derived from {IDEMPOTENCY_HEADER}.",
        ),
        "model_config": ConfigDict(extra="forbid"),
    }
    if "actor" in message.model_fields:
        annotations["actor"] = SkipJsonSchema[None]
        namespace["actor"] = Field(None, exclude=True)
    namespace["__annotations__"] = annotations
    _BODIES[message] = type(f"{message.__name__}Request", (message,), namespace)
    return _BODIES[message]


def to_message(message: type[BaseModel], body: BaseModel, event_id: str, actor: Actor) -> BaseModel:
    data = {name: getattr(body, name) for name in message.model_fields}
    data["event_id"] = event_id
    if "actor" in message.model_fields:
        data["actor"] = actor
    return message.model_validate(data)


def message_extension(name: str | None, kind: str | None, scopes: tuple[Scope, ...],
                      by: By | None = None) -> dict[str, Any]:
    """The OpenAPI operation extensions: the workflow message a route sends (``x-temporal-message``, its kind),
    who sends it (``x-actor``) and the scopes that may call it (``x-scopes``)."""
    extra: dict[str, Any] = {"x-scopes": [s.value for s in scopes]}
    if name is not None:
        extra["x-temporal-message"] = name
        extra["x-temporal-message-kind"] = kind
    if by is not None:
        extra["x-actor"] = by
    return extra


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


def add_commands(app: FastAPI, api: Api, resource: Resource, commands: tuple[Command, ...]) -> None:
    for command in commands:
        _add_command(app, api, resource, command)


def _add_command(app: FastAPI, api: Api, resource: Resource, command: Command) -> None:
    """``POST {prefix}/{id}/{command.path}``: the body is the workflow message with an optional event id."""
    body_model = api_body(command.message)
    answer_model = EventAccepted if command.kind == "signal" else CommandAnswer
    status = 202 if command.kind == "signal" else 200
    context = post_context(command.scope, person=command.by == "person")

    async def endpoint(
        request: Request,
        _: body_model,  # type: ignore[valid-type]
        case: str = Path(..., alias=resource.id_name, pattern=resource.id_pattern),
        ctx: PostContext = Depends(context),
    ) -> JSONResponse:
        workflow_id = resource.to_workflow_id(case)
        body = await strict_body(request, body_model)
        message = to_message(command.message, body, ctx.event_id(body.event_id), ctx.actor())

        async def action() -> tuple[int, dict]:
            seen = await api.claim_event_id(ctx, workflow_id, message.event_id,
                                            fingerprint_event(command.name, message))
            try:
                status, answer = await send(api, workflow_id, resource.what, command, message)
            except ApiError as error:
                if error.status == 404 and not seen and api.event_ids is not None:
                    await api.event_ids.release(workflow_id, message.event_id)
                raise
            if seen and command.kind == "update":
                answer["duplicate"] = True  # label cases answer their stage alone
            return status, answer

        return await api.idempotent(ctx, {"case": workflow_id, "message": message}, action)

    who = "a person (`X-Actor` required)" if command.by == "person" else "another system"
    app.post(
        f"{resource.prefix}/{{{resource.id_name}}}/{command.path}",
        summary=command.summary,
        tags=[resource.tag],
        status_code=status,
        response_model=answer_model,
        operation_id=f"{resource.tag.replace(' ', '_')}_{command.name}",
        responses=ERROR_RESPONSES,
        description=f"Sends the `{command.name}` {command.kind} to the case; sent by {who}. "
                    f"Scope: `{command.scope.value}`.",
        openapi_extra=message_extension(command.name, command.kind, (command.scope,), command.by),
    )(endpoint)
