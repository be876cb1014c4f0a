"""``POST /v1/pathways/{pathway_id}/territory``: the SLAI manager places a pathway in another territory
(issue 11: a commune missing from the commune → territory table leaves it ``UNASSIGNED``).

A router of its own (wired into the app with one ``include_router`` line) built on the app's command
machinery: bearer token with the ``pathway.events`` scope, ``Idempotency-Key``, the ``reassign_territory``
update answered with the stage (``duplicate`` for an event id already applied, 422 naming the rule when
the territory is the same, 409 on a closed pathway).
"""

from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter

from domain.territory import TerritoryReassignment
from workers.api_auth import Scope

REASSIGN_TERRITORY = "reassign_territory"


def territory_router(api: Any, post_context: Callable[..., Any]) -> APIRouter:
    """The router; ``api`` and ``post_context`` are the app's (see ``workers.api.create_app``)."""
    from workers import api as app_module  # the app module imports this one: resolved at call time

    router = APIRouter()
    command = app_module.Command("territory", REASSIGN_TERRITORY, "update", TerritoryReassignment, Scope.PATHWAY_EVENTS,
                                 "Reassign the pathway's territory (recorded as an event of its history)")
    app_module._add_command(router, api, post_context, prefix="/v1/pathways", id_name="pathway_id",
                            id_pattern=app_module._PATHWAY_PATTERN, to_workflow_id=lambda case: case,
                            what="the pathway", tag="pathways", command=command)
    return router
