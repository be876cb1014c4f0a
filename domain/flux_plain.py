"""The common valid household, checked and built in one pass: the fast side of :mod:`domain.flux_validation`.

Most households of a flow are valid and plain (one known right state, known codes, dates in the window,
valid NIRs). :func:`plain_household` recognises them with the cheap checks first and builds the same
:class:`Household` the full rules would; on the first doubt it returns None and the full rules, which
name every issue, decide. It never rejects: a household it declines is not thereby invalid.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Sequence

from domain import flux_codes as tables
from domain.flux import Household, Person, RawHousehold, RightState
from domain.identity import validate_nir
from domain.rules import check_plausible_date
from domain.territory import COMMUNE

#: a person's raw fields in :class:`~domain.flux.RawPerson`'s order: NIR, names, birth date, role, TOPPERSDRODEVORSA
PersonFields = tuple[str | None, str | None, str | None, str | None, str | None, str | None]
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EARLIEST = date(1900, 1, 1)
_LATEST = date(2100, 12, 31)


def parse_iso_date(value: str | None) -> date | None:
    """Strict ``YYYY-MM-DD`` within 1900–2100; None when absent; ValueError when present but wrong."""
    if not value or not (text := value.strip()):
        return None
    if not _ISO_DATE.match(text):
        raise ValueError("not a YYYY-MM-DD date")
    try:
        parsed = date.fromisoformat(text)
    except ValueError:
        raise ValueError("not a valid calendar date") from None  # e.g. 2024-02-30; the value is not echoed
    if not _EARLIEST <= parsed <= _LATEST:
        raise ValueError("date out of range")
    return parsed


def clean(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


_STATES = {code: RightState(code) for code in tables.ETATDOSRSA if code in {state.value for state in RightState}}
_CLOSED = (RightState.CLOSED, RightState.CLOSED_EARLIER_MONTH)
_LIMITS = tables.MAX_LENGTHS
_NOMNAI, _PRENOM, _ROLEPERS, _NIR = _LIMITS["NOMNAI"], _LIMITS["PRENOM"], _LIMITS["ROLEPERS"], _LIMITS["NIR"]
_MATRICULE, _NUMCOM = _LIMITS["MATRICULE"], _LIMITS["NUMCOM"]
_FLAGS: dict[str | None, bool | None] = {**tables.BOOLEANS, None: None, "": None}  # the usual texts, as read
_PERSON = Person.__pydantic_validator__.validate_python  # what Person.model_validate calls, one call less
_HOUSEHOLD = Household.__pydantic_validator__.validate_python


def _plain_flag(value: str | None) -> bool | None | str:
    """An xsd:boolean read as :func:`domain.flux_validation._boolean` does when it is valid or absent; ``"?"`` otherwise."""
    flag = _FLAGS.get(value, "?")
    if flag != "?":
        return flag
    if not (text := value.strip()):  # type: ignore[union-attr]
        return None
    return tables.BOOLEANS.get(text, "?")


def _plain_codes(values: list[str], name: str, known: dict[str, str]) -> tuple[str, ...] | None:
    """Codes of an open list as :func:`domain.flux_validation._open_codes` keeps them when every one is known; else None."""
    kept = tuple(value.strip() for value in values)
    if all(code in known and len(code) <= _LIMITS[name] for code in kept):
        return kept
    return None


def _plain_date(value: str | None, reference: date | None) -> date | None:
    """A date as :func:`domain.flux_validation._date_field` reads it; raises ValueError where it would add an issue."""
    parsed = parse_iso_date(value)
    if parsed is not None and reference is not None:
        check_plausible_date(parsed, reference)
    return parsed


def _plain_person(rank: int, fields: PersonFields) -> Person | None:
    """The person :func:`domain.flux_validation._person` makes when the common checks pass at once, else
    None (the full rules then say why)."""
    nir, last_name, first_name, birth_date, role, subject = fields
    if (subject := _FLAGS.get(subject, "?")) == "?":
        subject = _plain_flag(fields[5])  # a text around an xsd:boolean, or not one
    if subject == "?" or (last_name is not None and len(last_name) > _NOMNAI) or (
            first_name is not None and len(first_name) > _PRENOM) or (role is not None and len(role) > _ROLEPERS):
        return None
    if nir is not None:
        nir = nir.strip() or None
    try:
        if nir is None:
            if subject:
                return None
        elif len(nir) > _NIR:
            return None
        else:
            nir = validate_nir(nir)
        birth_date = parse_iso_date(birth_date)
    except ValueError:  # NirError included
        return None
    return _PERSON({  # the same validation as Person(...), without its constructor's overhead
        "rank": rank, "nir": nir, "last_name": (last_name.strip() or None) if last_name else None,
        "first_name": (first_name.strip() or None) if first_name else None, "birth_date": birth_date,
        "role": (role.strip() or None) if role else None, "subject_to_duties": subject})


def plain_household(raw: RawHousehold, reference: date | None) -> Household | None:
    """The household :func:`domain.flux_validation.validate_household` makes when every field is in its usual valid form (one
    known right state, known codes, dates in the window…), built with the cheap checks first; None for
    any other household, which then goes through every rule."""
    return plain_fields(raw.matricule, raw.right_states, raw.suspension_reasons, raw.suspension_date,
                        raw.closure_reason, raw.closure_date, raw.closure_earlier_month, raw.no_fixed_abode,
                        raw.entry_date, raw.commune, [
                            (person.nir, person.last_name, person.first_name, person.birth_date, person.role,
                             person.subject_to_duties) for person in raw.persons], reference)


def plain_fields(matricule: str | None, right_states: Sequence[str], suspension_reasons: Sequence[str],
                 suspension_date: str | None, closure_reason: str | None, closure_date: str | None,
                 closure_earlier_month: bool, no_fixed_abode: str | None, entry_date: str | None,
                 commune: str | None, persons: Sequence[PersonFields], reference: date | None) -> Household | None:
    """:func:`plain_household` of a raw household's fields given one by one, each person's as a
    :data:`PersonFields` tuple: the flow reader's shape path checks them without building the raw objects."""
    if len(right_states) != 1 or not persons or matricule is None:
        return None
    state = _STATES.get(right_states[0].strip())
    matricule = matricule.strip()
    if (flag := _FLAGS.get(no_fixed_abode, "?")) == "?":
        flag = _plain_flag(no_fixed_abode)
    no_fixed_abode = flag
    if commune is not None:
        commune = commune.strip() or None  # as clean()
    reasons = _plain_codes(suspension_reasons, "MOTISUSVERSRSA", tables.MOTISUSVERSRSA) \
        if suspension_reasons else ()
    closure = () if closure_reason is None else _plain_codes([closure_reason], "MOTICLORSA", tables.MOTICLORSA)
    if state is None or not matricule or len(matricule) > _MATRICULE or no_fixed_abode == "?" \
            or reasons is None or closure is None or (commune is not None and (
                len(commune) > _NUMCOM or not COMMUNE.match(commune))):
        return None
    try:
        suspension_date = None if suspension_date is None else _plain_date(suspension_date, reference)
        closure_date = None if closure_date is None else _plain_date(closure_date, reference)
        entry_date = None if entry_date is None else _plain_date(entry_date, reference)
    except ValueError:  # ImplausibleDate included
        return None
    if state in _CLOSED and closure_date is None:
        return None
    people: list[Person] = []
    bodies: set[str] = set()
    for rank, fields in enumerate(persons, start=1):
        person = _plain_person(rank, fields)
        if person is None:
            return None
        if person.nir is not None:
            if person.nir[:13] in bodies:
                return None
            bodies.add(person.nir[:13])
        people.append(person)
    return _HOUSEHOLD({
        "matricule": matricule, "right_state": state, "suspension_reasons": reasons,
        "suspension_date": suspension_date, "closure_reason": closure[0] if closure else None,
        "closure_date": closure_date, "closure_earlier_month": closure_earlier_month,
        "no_fixed_abode": no_fixed_abode, "entry_date": entry_date, "commune": commune, "persons": tuple(people),
        "warnings": ()})
