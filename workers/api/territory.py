"""``POST /v1/pathways/{pathway_id}/territory``: the SLAI manager places a pathway in another territory
(issue 11: a commune missing from the commune → territory table leaves it ``UNASSIGNED``).

A router of its own (wired into the app with one ``include_router`` line) built on the API's command table
machinery: bearer token with the ``pathway.events`` scope, ``Idempotency-Key``, ``X-Actor`` (a person
decides it), the ``reassign_territory`` update answered with the stage (``duplicate`` for an event id
already applied; refused naming the rule when the territory is the same; 409 on a closed pathway).
"""

from __future__ import annotations

from fastapi import APIRouter

from domain.pathway_contract import Update
from domain.territory import TerritoryReassignment
from workers.api.auth import Scope
from workers.api.commands import Command, add_commands
from workers.api.idempotency import Api
from workers.api.pathways import PATHWAYS

REASSIGN_TERRITORY = Command("territory", Update.REASSIGN_TERRITORY, "update", TerritoryReassignment, Scope.PATHWAY_EVENTS,
                             "person", "Reassign the pathway's territory (recorded as an event of its history)")


def territory_router(api: Api) -> APIRouter:
    router = APIRouter()
    add_commands(router, api, PATHWAYS, (REASSIGN_TERRITORY,))  # type: ignore[arg-type]
    return router
