"""The API's route catalogue as a Markdown table (README, section "HTTP API"), read from the OpenAPI document
that the route tables generate: one source for the routes, their OpenAPI and their documentation.

``python -m workers.api.catalogue`` prints it; ``tests/test_api_hardening.py`` checks the README holds it.
"""

from __future__ import annotations

from typing import Any


def route_table(openapi: dict[str, Any]) -> str:
    """``| route | workflow message | sent by | scope |``, one row per operation, in the document's order."""
    rows = ["| route | workflow message | sent by | scope |", "|---|---|---|---|"]
    for path, operations in openapi["paths"].items():
        for method, op in operations.items():
            message = op.get("x-temporal-message")
            kind = op.get("x-temporal-message-kind")
            sent = f"`{message}` ({kind})" if message else ("— (read model)" if method == "get" else "— (computed)")
            sender = {"person": "a person (`X-Actor`)", "system": "a system"}.get(op.get("x-actor", ""), "—")
            scopes = " or ".join(f"`{s}`" for s in op.get("x-scopes", []))
            rows.append(f"| `{method.upper()} {path}` | {sent} | {sender} | {scopes} |")
    return "\n".join(rows)


def openapi_document() -> str:
    """The API's OpenAPI document, built from the route tables without connecting to anything."""
    import json

    from workers.api.app import create_app
    from workers.api.auth import ApiTokens, token_entry
    from workers.runtime.config import Settings

    app = create_app(None, Settings(), None, tokens=ApiTokens.parse(token_entry("openapi")))  # type: ignore[arg-type]
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False)


def main() -> None:
    import json

    print(route_table(json.loads(openapi_document())))


if __name__ == "__main__":
    main()
