"""Loading the commune → territory table named in configuration (see :mod:`domain.territory`)."""

from __future__ import annotations

from pathlib import Path

from domain.territory import CommuneTable, CommuneTableError

#: The small example table ``parcours dev`` uses (a few Pas-de-Calais communes).
EXAMPLE_TABLE = Path(__file__).resolve().parent.parent / "workers" / "data" / "commune_territories.example.csv"


def load_commune_table(path: str | Path) -> CommuneTable:
    """Read the table; :class:`CommuneTableError` with one clear line when it cannot be used."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommuneTableError(f"cannot read the commune table {path.name}: "
                                f"{getattr(exc, 'strerror', None) or exc}") from None
    try:
        return CommuneTable.parse(text.splitlines())
    except CommuneTableError as exc:
        raise CommuneTableError(f"commune table {path.name}: {exc}") from None
