"""Former home of the API's tokens and scopes, now ``workers.api.auth``; kept so existing imports still work."""

from workers.api.auth import (  # noqa: F401
    ALL_SCOPES, DEV_TOKENS_FILE, MIN_TOKEN_LENGTH, TOKENS_ENV_VAR, ApiTokenConfigError, ApiTokens, Caller, Scope,
    dev_token, dev_tokens_spec, load_api_tokens, token_entry,
)
