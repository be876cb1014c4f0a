"""A local stand-in for France Travail's registration check, for development (``parcours sim france-travail``)
and tests. In memory: nothing is stored across restarts.

* ``GET /v1/registrations/{person_id}`` (the adapter's call, ``activities.france_travail``) answers 200
  ``{"person_id", "registered_on"}``, ``registered_on`` being ``null`` for a person not registered; a person id
  that is not an opaque id (e.g. a NIR) is refused (422 ``invalid_person_id``).
* ``POST /_control/registrations`` ``{"person_id", "registered_on"}`` registers a person (201); ``GET`` lists them.
* ``POST``/``GET``/``DELETE /_control/faults``: the MonJob62 simulator's fault rules (``workers.dev.monjob_sim``),
  applied in order to the next registration checks.

Development tool only: the control endpoints have no authentication; bind it to localhost.
"""

from __future__ import annotations

from datetime import date

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from activities.france_travail import REGISTRATIONS_PATH, is_opaque_person_id
from workers.dev.monjob_sim import FaultQueue, _fault_response, fault_routes

DEFAULT_PORT = 8063


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")
    registered_on: date

    @field_validator("person_id")
    @classmethod
    def _opaque(cls, value: str) -> str:
        if not is_opaque_person_id(value):
            raise ValueError("not an opaque person id")
        return value


def create_app(registrations: dict[str, date] | None = None) -> FastAPI:
    """The simulator, optionally seeded with ``{person_id: registered_on}``."""
    known: dict[str, date] = dict(registrations or {})
    faults = FaultQueue()
    app = FastAPI(title="France Travail simulator (parcours-rsa)")

    @app.get(REGISTRATIONS_PATH + "/{person_id}")
    async def registration(person_id: str, request: Request) -> JSONResponse:
        rule = faults.take()
        if rule is not None:
            return await _fault_response(rule, request)
        if not is_opaque_person_id(person_id):
            return JSONResponse({"error": "invalid_person_id"}, status_code=422)
        day = known.get(person_id)
        return JSONResponse({"person_id": person_id, "registered_on": day.isoformat() if day else None})

    @app.post("/_control/registrations")
    async def register(request: Request) -> JSONResponse:
        try:
            item = Registration.model_validate_json(await request.body())
        except ValidationError as exc:  # field locations only: the refused value (maybe a NIR) is not echoed
            fields = [{"loc": list(e["loc"]), "type": e["type"]} for e in exc.errors()]
            return JSONResponse({"error": "invalid_registration", "fields": fields}, status_code=422)
        known[item.person_id] = item.registered_on
        return JSONResponse({"person_id": item.person_id, "registered_on": item.registered_on.isoformat()},
                            status_code=201)

    @app.get("/_control/registrations")
    async def list_registrations() -> dict:
        return {"registrations": [{"person_id": k, "registered_on": v.isoformat()} for k, v in sorted(known.items())]}

    fault_routes(app, faults)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    return app
