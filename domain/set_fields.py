"""Typed payloads whose JSON holds only the fields their writer set.

Recorded workflow histories hold payloads written as dicts (a key present only when the writer gave it, ``null``
when it gave ``None``); a typed model that replaced such a dict must write the very same JSON, so it serializes its
set fields only (``model_fields_set``), in declaration order. Pure.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_serializer


class SetFieldsOnly(BaseModel):
    """A frozen, closed model (unknown keys refused) serialized with the fields its writer set only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_serializer(mode="wrap")
    def _set_fields_only(self, handler: Any) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if k in self.model_fields_set}
