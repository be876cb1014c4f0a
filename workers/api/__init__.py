"""The HTTP API (``parcours api``), one module per concern: ``errors`` (the error body), ``idempotency``
(Idempotency-Key store and the routes' shared state), ``auth`` (tokens and scopes), ``dependencies`` (caller and
POST context for any router), ``temporal`` (client calls and their failures), ``commands`` (routes that send a
workflow message), ``pathways`` and ``labels`` (the resources), ``app`` (``create_app``)."""

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
