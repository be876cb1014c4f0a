"""The département's commune → territory table: which SLAI territory a household's INSEE commune code
(``NUMCOM``, domain.md §8.1) belongs to.

The table is a CSV file the département provides (path in configuration, ``PARCOURS_COMMUNE_TERRITORIES``)::

    commune;territory
    62041;ARRAS
    62193;BETHUNE

A commune missing from the table (or a household without ``NUMCOM``) gives :data:`UNASSIGNED`: the import
then opens one task for the SLAI manager, who reassigns the pathway (``parcours pathway reassign-territory``).
Only the commune code is used: the address itself stays inside encrypted payloads.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Iterable

from pydantic import BaseModel, ConfigDict, Field

from domain.actor import Actor
from domain.pathway import PathwayRuleError

if TYPE_CHECKING:
    from domain.pathway_rules import Pathway

#: The territory of a pathway no table could place (also the default of flows imported without a table).
UNASSIGNED = "UNASSIGNED"

COMMUNE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")  # INSEE code: 5 digits, Corsica 2A/2B
TERRITORY = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,39}$")


class CommuneTableError(ValueError):
    """The table cannot be used; the message names the line and the problem."""


@dataclass(frozen=True)
class CommuneTable:
    territories: dict[str, str] = field(default_factory=dict)

    def territory_for(self, commune: str | None) -> str | None:
        """The territory of an INSEE commune code, or None when the table does not have it."""
        return None if commune is None else self.territories.get(commune.strip().upper())

    @classmethod
    def parse(cls, lines: Iterable[str]) -> "CommuneTable":
        """Read ``commune;territory`` (or comma-separated) lines with a header; strict: any bad line is an error."""
        rows = iter(lines)
        header = next(rows, None)
        if header is None or not header.strip():
            raise CommuneTableError("the table is empty (expected a header line: commune;territory)")
        delimiter = ";" if ";" in header else ","
        names = [h.strip().lower() for h in next(csv.reader([header], delimiter=delimiter))]
        if names[:2] != ["commune", "territory"]:
            raise CommuneTableError("the header must be: commune;territory")
        territories: dict[str, str] = {}
        for number, row in enumerate(csv.reader(rows, delimiter=delimiter), start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < 2:
                raise CommuneTableError(f"line {number}: expected commune{delimiter}territory")
            commune, territory = row[0].strip().upper(), row[1].strip().upper()
            if not COMMUNE.match(commune):
                raise CommuneTableError(f"line {number}: {commune[:12]!r} is not an INSEE commune code")
            if not TERRITORY.match(territory) or territory == UNASSIGNED:
                raise CommuneTableError(f"line {number}: territory code must be 1-40 of A-Z 0-9 _ - "
                                        f"(and not {UNASSIGNED})")
            if territories.get(commune, territory) != territory:
                raise CommuneTableError(f"line {number}: commune {commune} is already in {territories[commune]}")
            territories[commune] = territory
        return cls(territories)


class TerritoryReassignment(BaseModel):
    """Staff command: the pathway belongs to another territory (a commune the table missed, a move)."""

    model_config = ConfigDict(frozen=True)

    event_id: str = Field(min_length=1, max_length=128)
    territory: str = Field(pattern=TERRITORY.pattern)
    reason: str = Field(default="", max_length=200)
    actor: Actor | None = None  # who decided (the API sets it; the CLI leaves it empty)


def check_reassignment(pathway: "Pathway", msg: TerritoryReassignment, today: date) -> None:
    """Refused when it would change nothing (a typo is better reported than recorded)."""
    if msg.territory == pathway.s.territory:
        raise PathwayRuleError("TERRITORY_UNCHANGED", f"The pathway is already in territory {msg.territory}")


def reassign(pathway: "Pathway", msg: TerritoryReassignment, today: date) -> None:
    """Move the pathway to another territory; recorded as an event of its history (``TERRITORY_REASSIGNED``).
    Tasks and escalations created from now on go to the new territory's services."""
    before = pathway.s.territory
    pathway.s.territory = msg.territory
    pathway._note(today, f"TERRITORY_REASSIGNED:{before}->{msg.territory}")
