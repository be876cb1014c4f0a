"""FastAPI dependencies shared by every router: the authenticated caller (bearer token with the route's scope)
and, for POSTs, the ``PostContext`` (caller, required ``Idempotency-Key``, ``X-Actor``).

The tokens live on ``app.state.tokens`` (set by ``create_app``), so routers in other modules (``APIRouter``)
use the same dependencies: ``Depends(require(Scope.CASE_READ))``, ``Depends(post_context(Scope.X))``.
"""

from __future__ import annotations

from typing import Any, Callable

import structlog
from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain.actor import ACTOR_PATTERN
from workers.api.auth import ApiTokens, Caller, Scope
from workers.api.errors import ApiError
from workers.api.idempotency import IDEMPOTENCY_HEADER, MAX_KEY_LENGTH, Api, PostContext

log = structlog.get_logger("parcours.api")

bearer = HTTPBearer(auto_error=False, description="Token of the calling service (PARCOURS_API_TOKENS)")


def route_path(request: Request) -> str:
    """The route template (``/v1/pathways/{pathway_id}``) when matched, else the raw path."""
    route = request.scope.get("route")
    return getattr(route, "path", None) or request.url.path


def api_of(request: Request) -> Api:
    """The app's shared state (Temporal client, settings, idempotency store)."""
    return request.app.state.api


def require(*scopes: Scope) -> Callable[..., Caller]:
    """Dependency: the caller, holding at least one of ``scopes``."""

    def dependency(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Caller:
        token = credentials.credentials if credentials else None
        if not token:
            raise ApiError(401, "unauthorized", "bearer token required", headers={"WWW-Authenticate": "Bearer"})
        tokens: ApiTokens = request.app.state.tokens
        caller = tokens.authenticate(token)
        if caller is None:
            log.warning("api_unknown_token", path=route_path(request))
            raise ApiError(401, "unauthorized", "token not recognised",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        request.state.caller = caller
        if not any(caller.has(scope) for scope in scopes):
            needed = " or ".join(s.value for s in scopes)
            log.warning("api_forbidden", service=caller.service, path=route_path(request), needed=needed)
            raise ApiError(403, "forbidden", f"this token lacks the scope {needed}",
                           headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{needed}"'})
        return caller

    return dependency


ACTOR_HEADER = "X-Actor"
def _key_header() -> Any:
    return Header(
        None, alias=IDEMPOTENCY_HEADER, min_length=1, max_length=MAX_KEY_LENGTH, pattern=r"^[\x21-\x7e]+$",
        description="Required: any unique string (e.g. a UUID) chosen by the caller; a retry with the same key "
                    "and body gets the first response again.",
    )
_ACTOR_DOC = ("Opaque id of the person who decides, in the sender's directory: `agent:<id>` (4 to 64 letters, "
              "digits, `_` or `-`), never a name.")


def post_context(*scopes: Scope, person: bool = False, actor_pattern: str = ACTOR_PATTERN,
                 actor_doc: str | None = None) -> Callable[..., PostContext]:
    """Dependency of every POST: caller, ``Idempotency-Key`` (428 when missing) and, for a person's command
    (``person``), the required ``X-Actor`` header; elsewhere ``X-Actor`` is optional. ``actor_pattern``: the
    task inbox also takes ``service:<name>`` actors (``domain.tasks.ACTOR_PATTERN``)."""
    doc = actor_doc or _ACTOR_DOC
    auth = require(*scopes)

    def context(request: Request, caller: Caller, key: str | None, actor: str | None) -> PostContext:
        if key is None:
            raise ApiError(428, "idempotency_key_required",
                           f"every POST needs an {IDEMPOTENCY_HEADER} header (a unique string, e.g. a UUID)",
                           field=f"header {IDEMPOTENCY_HEADER}")
        return PostContext(caller, key, request.method, request.url.path, actor)

    if person:
        def dependency(request: Request, caller: Caller = Depends(auth), key: str | None = _key_header(),
                       actor: str = Header(..., alias=ACTOR_HEADER, pattern=actor_pattern, max_length=80,
                                           description=doc)) -> PostContext:
            return context(request, caller, key, actor)
    else:
        def dependency(request: Request, caller: Caller = Depends(auth), key: str | None = _key_header(),
                       actor: str | None = Header(None, alias=ACTOR_HEADER, pattern=actor_pattern, max_length=80,
                                                  description=doc)) -> PostContext:
            return context(request, caller, key, actor)

    return dependency
