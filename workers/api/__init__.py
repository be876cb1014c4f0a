"""The HTTP API (``parcours api``), one module per concern: ``errors`` (the error body), ``idempotency``
(Idempotency-Key store and the routes' shared state), ``event_ids`` (an event id reused with another command),
``auth`` (tokens and scopes), ``dependencies`` (caller, POST context and actor for any router), ``bodies`` (strict
bodies, date window, size limit), ``temporal`` (client calls and their failures), ``commands`` (routes generated
from route tables, each sending one workflow message), ``pathways`` and ``labels`` (the resources and their
tables), ``catalogue`` (the README's route table), ``app`` (``create_app``)."""

from workers.api.errors import ApiError, ErrorBody, validation_error_response
from workers.api.auth import ALL_SCOPES, ApiTokens, Caller, Scope, load_api_tokens, token_entry
from workers.api.idempotency import (
    IDEMPOTENCY_HEADER, REPLAYED_HEADER, Api, IdempotencyStore, PostContext, StoredResponse,
)
from workers.api.dependencies import post_context, require
from workers.api.app import API_VERSION, create_app

__all__ = [
    "ALL_SCOPES", "API_VERSION", "IDEMPOTENCY_HEADER", "REPLAYED_HEADER", "Api", "ApiError", "ApiTokens", "Caller",
    "ErrorBody", "IdempotencyStore", "PostContext", "Scope", "StoredResponse", "create_app", "load_api_tokens",
    "post_context", "require", "token_entry", "validation_error_response",
]
