"""The API's error answers: one body shape for every refusal, validation errors that name the field but never
echo the value (it may be a NIR)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field


class ApiError(Exception):
    """An answer other than success: ``code`` is stable for programs, ``message`` is for people."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """``{"error": {"code": ..., "message": ..., "field"?: ..., "rule"?: ...}}``."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        error.update(self.extra)
        return {"error": error}


class FieldError(BaseModel):
    field: str
    message: str


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable error code (validation_error, unauthorized, refused, ...)")
    message: str = Field(description="For people; never echoes a submitted value")
    field: str | None = Field(None, description="The field at fault, when there is one")
    rule: str | None = Field(None, description="On a refusal (409 refused): the rule that refused the command")
    reference: str | None = Field(None, description="On a refusal: the domain reference's rule (R13, T12, §3.5)")
    fields: list[FieldError] | None = Field(None, description="On a validation error: every field at fault")


class ErrorBody(BaseModel):
    """Every answer other than success."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No token, or an unknown token"},
    403: {"model": ErrorBody, "description": "The token lacks the route's scope"},
    404: {"model": ErrorBody, "description": "No such case (nothing is created)"},
    409: {"model": ErrorBody, "description": "Refused by the case (`refused`, its rule in `rule`), case closed, "
                                             "event_id reused with another command, or the Idempotency-Key is "
                                             "still in progress"},
    413: {"model": ErrorBody, "description": "Body too large"},
    422: {"model": ErrorBody, "description": "Invalid request (the field is named), or an Idempotency-Key reused "
                                             "with a different body"},
    428: {"model": ErrorBody, "description": "No Idempotency-Key header"},
}


def field_name(loc: tuple[Any, ...]) -> str:
    """``("body", "cer", "actions", 0, "end")`` → ``cer.actions[0].end``; headers/path keep their place."""
    parts = list(loc)
    where = parts.pop(0) if parts and parts[0] in ("body", "header", "path", "query") else None
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    if where in ("header", "path", "query"):
        return f"{where} {text}".strip()
    return text or "body"


def _error_message(error: dict[str, Any]) -> str:
    """Pydantic's message without the input value (which may be a NIR) and without its "Value error," prefix."""
    message = str(error.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    return message


def validation_error_response(errors: list[dict[str, Any]]) -> JSONResponse:
    fields = [{"field": field_name(tuple(e.get("loc", ()))), "message": _error_message(e)} for e in errors]
    first = fields[0] if fields else {"field": "body", "message": "invalid request"}
    error = ApiError(422, "validation_error", f"{first['field']}: {first['message']}", field=first["field"],
                     fields=fields)
    return JSONResponse(error.body(), status_code=error.status)
