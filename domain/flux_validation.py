"""The rules deciding whether a raw flow record (XML household or list rows) is usable, with its reasons.

Reasons never contain a NIR, a name, a birth date or a matricule (see :mod:`domain.flux`). Unknown codes of
the open lists (suspension, closure) are kept and warned about; every text field is bounded by the
schema's length; case dates lie in the plausible window around the flow's date.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Iterable

from domain import flux_codes as tables
from domain.flux import FluxHeader, Household, Issue, ParsedRecord, Person, RawHousehold, RawPerson, RejectionCode, \
    RightState
from domain.flux_duplicates import DuplicateGuard  # noqa: F401 - part of this module's interface
from domain.flux_plain import clean as _clean, parse_iso_date, plain_household
from domain.identity import NirError, validate_nir
from domain.rules import ImplausibleDate, check_plausible_date
from domain.territory import COMMUNE

# UTF-8 continuation bytes (0x80-0xBF) as ISO-8859-1 or windows-1252 shows them, after the lead bytes of
# French letters ("é" read as "Ã©" or "Ã©", "É" as "Ã‰", "œ" as "Å“", "’" as "â€™").
_CONTINUATION = "".join(sorted({chr(b) for b in range(0x80, 0xC0)}
                               | {bytes([b]).decode("cp1252", "ignore") for b in range(0x80, 0xC0)} - {""}))
_MOJIBAKE = re.compile(f"[ÂÃÅ][{re.escape(_CONTINUATION)}]|â€[{re.escape(_CONTINUATION)}]")
_C1 = re.compile("[\u0080-\u009f]")
# every character one of the checks below starts from: a text without any is clean, found in one scan
_SUSPECT = re.compile("[\ufffdÂÃÅâ\u0080-\u009f]")


def utf8_may_be_suspect(data: bytes) -> bool:
    """False when the text whose UTF-8 form is ``data`` holds none of the characters :func:`text_encoding_issue`
    starts from (so it finds nothing), told by six ``memchr`` rather than a scan character by character: a
    byte of each one's UTF-8 form, the lead byte of C1 controls (C2 80–9F) and of U+FFFD (EF BF BD), the
    last byte of Â Ã Å â (C3 82, 83, 85, A2)."""
    return b"\xc2" in data or b"\xef" in data or b"\x82" in data or b"\x83" in data or b"\x85" in data \
        or b"\xa2" in data


def text_encoding_issue(texts: Iterable[str | None]) -> Issue | None:
    """Bytes invalid in the declared encoding (replacement characters), UTF-8 read as ISO-8859-1 or
    windows-1252 (mojibake), or windows-1252 bytes declared ISO-8859-1 (C1 control characters)."""
    for text in texts:
        if not text or text.isascii() or _SUSPECT.search(text) is None:
            continue
        if "\ufffd" in text:
            return Issue(RejectionCode.WRONG_ENCODING, "bytes not valid in the file's declared encoding")
        if any(lead in text for lead in "ÂÃÅâ") and _MOJIBAKE.search(text):
            return Issue(RejectionCode.WRONG_ENCODING, "text looks like UTF-8 read as ISO-8859-1 or windows-1252")
        if _C1.search(text):
            return Issue(RejectionCode.WRONG_ENCODING,
                         "control characters U+0080-U+009F: windows-1252 bytes declared as ISO-8859-1?")
    return None


def _raw_texts(raw: RawHousehold) -> Iterable[str | None]:
    yield raw.matricule
    yield from raw.right_states
    yield from raw.suspension_reasons
    yield from (raw.suspension_date, raw.closure_reason, raw.closure_date, raw.no_fixed_abode, raw.entry_date)
    for person in raw.persons:
        yield from (person.nir, person.last_name, person.first_name, person.birth_date, person.role,
                    person.subject_to_duties)


_CODE_SHAPE = re.compile(r"^[A-Za-z0-9]{1,4}$")


def _code(value: str) -> str:
    """A code as shown in a reason: only code-shaped values are echoed (a shifted column may hold a name)."""
    return repr(value) if _CODE_SHAPE.match(value) else "(not code-shaped)"


def _codes(values: Iterable[str]) -> str:
    return ", ".join(_code(v) for v in values)


def _date_field(value: str | None, label: str, issues: list[Issue], reference: date | None = None) -> date | None:
    """A strict ISO date; with ``reference``, also within the plausible window of case dates around it."""
    try:
        parsed = parse_iso_date(value)
        if parsed is not None and reference is not None:
            check_plausible_date(parsed, reference, field=label)
        return parsed
    except ImplausibleDate as exc:
        issues.append(Issue(RejectionCode.BAD_DATE, str(exc)))
        return None
    except ValueError as exc:
        issues.append(Issue(RejectionCode.BAD_DATE, f"{label}: {exc}"))
        return None


def _too_long(value: str | None, name: str, label: str, issues: list[Issue]) -> bool:
    """Whether ``value`` exceeds the schema's length for ``name`` (then an issue is added)."""
    limit = tables.MAX_LENGTHS[name]
    if value is None or len(value) <= limit or len(value.strip()) <= limit:
        return False
    issues.append(Issue(RejectionCode.FIELD_TOO_LONG, f"{label}: longer than {limit} characters ({len(value)})"))
    return True


def _boolean(value: str | None, name: str, label: str, code: RejectionCode, issues: list[Issue]) -> bool | None:
    """An xsd:boolean (``1``/``0``/``true``/``false``); None when absent; an issue when anything else."""
    flag = _clean(value)
    if flag is None:
        return None
    if flag not in tables.BOOLEANS:
        issues.append(Issue(code, f"{label}{name} code {_code(flag)} unknown"))
        return None
    return tables.BOOLEANS[flag]


def _right_state(codes: list[str], issues: list[Issue]) -> RightState | None:
    cleaned = [c.strip() for c in codes if c and c.strip()]
    if not cleaned:
        issues.append(Issue(RejectionCode.UNKNOWN_ETATDOSRSA, "ETATDOSRSA missing"))
        return None
    unknown = sorted({c for c in cleaned if c not in tables.ETATDOSRSA})
    if unknown:
        issues.append(Issue(RejectionCode.UNKNOWN_ETATDOSRSA, f"ETATDOSRSA code {_codes(unknown)} unknown"))
        return None
    chosen = min(cleaned, key=tables.ETATDOSRSA_DETECTION_ORDER.index)
    return RightState(chosen)


def _person(rank: int, raw: RawPerson, issues: list[Issue]) -> Person | None:
    """A valid person, or None with issues added. No ``TOPPERSDRODEVORSA`` (MSA daily files) is valid:
    subject to duties unknown."""
    before = len(issues)
    label = f"person {rank}"
    subject = _boolean(raw.subject_to_duties, "TOPPERSDRODEVORSA", f"{label}: ",
                       RejectionCode.UNKNOWN_TOPPERSDRODEVORSA, issues)
    for value, name in ((raw.last_name, "NOMNAI"), (raw.first_name, "PRENOM"), (raw.role, "ROLEPERS")):
        _too_long(value, name, f"{label}: {name}", issues)
    nir: str | None = None
    raw_nir = _clean(raw.nir)
    if raw_nir is None:
        if subject:
            issues.append(Issue(RejectionCode.BAD_NIR, f"{label}: NIR missing for a person subject to duties"))
    elif not _too_long(raw_nir, "NIR", f"{label}: NIR", issues):
        try:
            nir = validate_nir(raw_nir)
        except NirError as exc:  # the message names the problem, never the number
            issues.append(Issue(RejectionCode.BAD_NIR, f"{label}: {exc}"))
    birth_date = _date_field(raw.birth_date, f"{label}: DTNAI", issues)  # a date's shape bounds its length
    if len(issues) > before:
        return None
    return Person(
        rank=rank,
        nir=nir,
        last_name=_clean(raw.last_name),
        first_name=_clean(raw.first_name),
        birth_date=birth_date,
        role=_clean(raw.role),
        subject_to_duties=subject,
    )


def _open_codes(values: Iterable[str], name: str, known: dict[str, str], issues: list[Issue],
                warnings: list[str], code: RejectionCode) -> tuple[str, ...]:
    """Codes of an open list, kept as read; an unknown one is a warning, a too long one a rejection."""
    kept = tuple(v.strip() for v in values if v and v.strip()) if values else ()
    if not kept:
        return kept
    for value in kept:
        _too_long(value, name, name, issues)
    unknown = sorted({v for v in kept if v not in known and len(v) <= tables.MAX_LENGTHS[name]})
    if unknown:
        warnings.append(str(Issue(code, f"{name} code {_codes(unknown)} not in the known list (kept as read)")))
    return kept


def validate_household(raw: RawHousehold, reference: date | None = None, *,
                       encoding_checked: bool = False) -> tuple[Household | None, list[Issue]]:
    """Apply every rule to a raw household; return the typed household, or None and every issue found.

    ``reference`` (the flow's DTCREAFLUX, or today) bounds the case dates to the plausible window;
    ``encoding_checked`` when the caller checked the whole record's text already (the XML reader does).
    """
    encoding = None if encoding_checked else text_encoding_issue(_raw_texts(raw))
    if encoding is None:
        plain = plain_household(raw, reference)
        if plain is not None:
            return plain, []
    issues: list[Issue] = []
    warnings: list[str] = []
    if encoding is not None:
        issues.append(encoding)

    matricule = _clean(raw.matricule)
    if matricule is None:
        issues.append(Issue(RejectionCode.MISSING_MATRICULE, "MATRICULE (N° CAF/MSA) missing or empty"))
    elif _too_long(matricule, "MATRICULE", "MATRICULE", issues):
        matricule = None

    state = _right_state(raw.right_states, issues)

    reasons = _open_codes(raw.suspension_reasons, "MOTISUSVERSRSA", tables.MOTISUSVERSRSA, issues, warnings,
                          RejectionCode.UNKNOWN_MOTISUSVERSRSA)
    suspension_date = _date_field(raw.suspension_date, "DDSUSVERSRSA", issues, reference)

    closure = _open_codes([raw.closure_reason or ""], "MOTICLORSA", tables.MOTICLORSA, issues, warnings,
                          RejectionCode.UNKNOWN_MOTICLORSA)
    closure_reason = closure[0] if closure else None
    closure_date = _date_field(raw.closure_date, "DTCLORSA", issues, reference)
    if state in (RightState.CLOSED, RightState.CLOSED_EARLIER_MONTH) and closure_date is None and not any(
        i.code is RejectionCode.BAD_DATE and i.detail.startswith("DTCLORSA") for i in issues
    ):
        issues.append(Issue(RejectionCode.BAD_DATE, f"DTCLORSA missing for a closed right (ETATDOSRSA {state.value})"))

    no_fixed_abode = _boolean(raw.no_fixed_abode, "TOPSANSDOMFIXE", "", RejectionCode.UNKNOWN_TOPSANSDOMFIXE, issues)
    entry_date = _date_field(raw.entry_date, "entry date", issues, reference)
    commune = _clean(raw.commune)
    if commune is not None and (_too_long(commune, "NUMCOM", "NUMCOM", issues) or not COMMUNE.match(commune)):
        if not any(i.code is RejectionCode.FIELD_TOO_LONG and i.detail.startswith("NUMCOM") for i in issues):
            warnings.append(str(Issue(RejectionCode.BAD_COMMUNE, "NUMCOM is not an INSEE commune code (ignored)")))
        commune = None

    if not raw.persons:
        issues.append(Issue(RejectionCode.NO_PERSON, "no Personne in the household"))
    persons: list[Person] = []
    seen_bodies: dict[str, int] = {}
    for rank, raw_person in enumerate(raw.persons, start=1):
        person = _person(rank, raw_person, issues)
        if person is None:
            continue
        if person.nir is not None:
            body = person.nir[:13]
            if body in seen_bodies:
                issues.append(Issue(RejectionCode.DUPLICATE_PERSON,
                                    f"person {rank} has the same NIR as person {seen_bodies[body]}"))
                continue
            seen_bodies[body] = rank
        persons.append(person)

    if issues or state is None or matricule is None:
        return None, issues
    return (
        Household(
            matricule=matricule,
            right_state=state,
            suspension_reasons=reasons,
            suspension_date=suspension_date,
            closure_reason=closure_reason,
            closure_date=closure_date,
            closure_earlier_month=raw.closure_earlier_month,
            no_fixed_abode=no_fixed_abode,
            entry_date=entry_date,
            commune=commune,
            persons=tuple(persons),
            warnings=tuple(warnings),
        ),
        [],
    )


def validate_header(creation_date: str | None, flow_type: str | None,
                    today: date | None = None) -> tuple[FluxHeader, list[Issue]]:
    """``IdentificationFlux``: DTCREAFLUX must be a plausible date (it is the entry date of new entrants,
    [002:3707])."""
    issues: list[Issue] = []
    encoding = text_encoding_issue((creation_date, flow_type))
    if encoding is not None:
        issues.append(encoding)
    created: date | None = None
    if _clean(creation_date) is None:
        issues.append(Issue(RejectionCode.BAD_DATE, "IdentificationFlux/DTCREAFLUX missing"))
    else:
        created = _date_field(creation_date, "IdentificationFlux/DTCREAFLUX", issues, today or date.today())
    return FluxHeader(creation_date=created, flow_type=_clean(flow_type)), issues


def trailer_issue(announced: str, households: int) -> Issue | None:
    """The trailer's NBTOTDOSRSATRANSM against the households read: a warning when they differ (a real
    file announces 1 and holds 2), never a rejection."""
    text = announced.strip()
    if not text.isascii() or not text.isdigit():
        return Issue(RejectionCode.TRAILER_MISMATCH, "NBTOTDOSRSATRANSM is not a number")
    if int(text) != households:
        return Issue(RejectionCode.TRAILER_MISMATCH,
                     f"NBTOTDOSRSATRANSM announces {int(text)} households, the file holds {households}")
    return None


def judge(raw: RawHousehold, position: int, record_hash: str, guard: DuplicateGuard,
          extra: Iterable[Issue] = (), reference: date | None = None, encoding_checked: bool = False) -> ParsedRecord:
    """Validate one raw household in the context of its file (duplicates, reference date), extra issues first."""
    household, found = validate_household(raw, reference, encoding_checked=encoding_checked)
    return verdict(household, found, raw.matricule, position, record_hash, guard, extra)


def verdict(household: Household | None, found: list[Issue], matricule: str | None, position: int, record_hash: str,
            guard: DuplicateGuard, extra: Iterable[Issue] = ()) -> ParsedRecord:
    """The record of a household validated (``household`` or the issues ``found``), its matricule checked against
    the file's earlier households; the flow reader calls it with a plain household it built from the fields."""
    issues = list(extra)
    if found:
        issues.extend(issue for issue in found if issue not in issues)
    duplicate = guard.check(matricule, position)
    if duplicate is not None:
        issues.append(duplicate)
    if issues:
        return ParsedRecord(position=position, record_hash=record_hash, issues=tuple(issues))
    return ParsedRecord(position=position, record_hash=record_hash, household=household)
