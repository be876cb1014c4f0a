"""Who sent a command: the calling service (from its API token) and, for a person's decision, the person's opaque
id in the sender's directory (``agent:<id>``), never a name.

The person id is an identifier, not free text: a fixed prefix, then 4 to 64 letters, digits, ``_`` or ``-``
(no dots, spaces or ``@``, so a "first.last" name or an e-mail address does not fit). It is recorded with the
message in the workflow's history, in the case's decision list and in the read model (``pathway_decisions``).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

ACTOR_PATTERN = r"^agent:[A-Za-z0-9][A-Za-z0-9_\-]{3,63}$"
SERVICE_PATTERN = r"^[A-Za-z0-9._@-]{1,64}$"
_ACTOR = re.compile(ACTOR_PATTERN)


class Actor(BaseModel):
    """The sender of a command: ``service`` always; ``person`` for a person's decision (human command)."""

    model_config = ConfigDict(frozen=True)

    service: str = Field(pattern=SERVICE_PATTERN, description="The calling service (from its API token)")
    person: str | None = Field(None, pattern=ACTOR_PATTERN,
                               description="Opaque id of the person who decided (X-Actor), never a name")

    def label(self) -> str:
        """``agent:7f3a… via sdis`` (ids only) for the Web UI's one-line summary."""
        return f"{self.person} via {self.service}" if self.person else self.service


def valid_actor(value: str) -> bool:
    return bool(_ACTOR.fullmatch(value))
