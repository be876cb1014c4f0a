"""CAF/MSA "flux bénéficiaires" records: code tables, typed households and persons, validation with reasons.

The parser (``activities/cnaf_parser.py``) and the CSV import (``activities/csv_import.py``) only extract
raw strings into :class:`RawHousehold`; every rule deciding whether a record is usable lives here, so the
two inputs reject the same things for the same reasons (domain.md §8.1, G-X1).

Rejection reasons are ``"<code>: <detail>"`` strings. They never contain a NIR, a name, a birth date or a
matricule: they name the field and the person's rank in the household, so they can be logged, printed and
stored in the quarantine table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Iterable

from pydantic import BaseModel, ConfigDict, Field

from domain.first_seen import FirstSeenTable
from domain.identity import NirError, validate_nir
from domain.rules import ImplausibleDate, check_plausible_date

from domain.flux_codes import (  # noqa: F401 - the code tables are part of this module's interface
    BOOLEANS,
    ETATDOSRSA,
    ETATDOSRSA_DETECTION_ORDER,
    MAX_LENGTHS,
    MOTICLORSA,
    MOTISUSVERSRSA,
    TOPPERSDRODEVORSA,
    TOPSANSDOMFIXE,
)


class RightState(str, Enum):
    """ETATDOSRSA as a name; the value is the code found in the flow."""

    NEW_REQUEST = "0"
    REFUSED = "1"
    OPEN_PAYABLE = "2"
    OPEN_RIGHT_SUSPENDED = "3"
    OPEN_PAYMENT_SUSPENDED = "4"
    CLOSED = "5"
    CLOSED_EARLIER_MONTH = "6"

    @property
    def is_active(self) -> bool:
        """Requested or open (payable or suspended): the person is, or is about to be, an RSA beneficiary."""
        return self in _ACTIVE

    @property
    def is_suspended(self) -> bool:
        return self in (RightState.OPEN_RIGHT_SUSPENDED, RightState.OPEN_PAYMENT_SUSPENDED)

    @property
    def is_ended(self) -> bool:
        """Refused or closed: the person is not (or no longer) an RSA beneficiary."""
        return not self.is_active


_ACTIVE = frozenset(
    {RightState.NEW_REQUEST, RightState.OPEN_PAYABLE, RightState.OPEN_RIGHT_SUSPENDED, RightState.OPEN_PAYMENT_SUSPENDED}
)


class RejectionCode(str, Enum):
    """Why a record (or the file from some point on) was not accepted."""

    BAD_NIR = "bad_nir"
    MISSING_MATRICULE = "missing_matricule"
    UNKNOWN_ETATDOSRSA = "unknown_etatdosrsa"
    UNKNOWN_TOPPERSDRODEVORSA = "unknown_toppersdrodevorsa"
    UNKNOWN_MOTISUSVERSRSA = "unknown_motisusversrsa"
    UNKNOWN_MOTICLORSA = "unknown_moticlorsa"
    UNKNOWN_TOPSANSDOMFIXE = "unknown_topsansdomfixe"
    BAD_DATE = "bad_date"
    NO_PERSON = "no_person"
    DUPLICATE_PERSON = "duplicate_person"
    DUPLICATE_HOUSEHOLD = "duplicate_household"
    WRONG_ENCODING = "wrong_encoding"
    TRUNCATED_FILE = "truncated_file"
    MALFORMED_FILE = "malformed_file"
    MISSING_HEADER = "missing_header"
    FIELD_TOO_LONG = "field_too_long"
    UNREADABLE_RECORD = "unreadable_record"  # entity reference, canonicalisation error: never resolved
    BAD_COMMUNE = "bad_commune"  # a warning: the territory is then assigned by hand
    TRAILER_MISMATCH = "trailer_mismatch"  # a warning: NBTOTDOSRSATRANSM differs from the households read


@dataclass(frozen=True)
class Issue:
    """One problem found in a record; ``str(issue)`` is the reason stored and printed."""

    code: RejectionCode
    detail: str

    def __str__(self) -> str:
        return f"{self.code.value}: {self.detail}"


def reason_text(issues: Iterable[Issue]) -> str:
    return "; ".join(str(issue) for issue in issues)


# ---------------------------------------------------------------- raw and typed records


@dataclass
class RawPerson:
    """A person's fields exactly as read (strings or None), before any rule is applied."""

    nir: str | None = None
    last_name: str | None = None
    first_name: str | None = None
    birth_date: str | None = None
    role: str | None = None
    subject_to_duties: str | None = None


@dataclass
class RawHousehold:
    """A household's fields exactly as read. Lists hold every occurrence found in the record."""

    matricule: str | None = None
    right_states: list[str] = field(default_factory=list)
    suspension_reasons: list[str] = field(default_factory=list)
    suspension_date: str | None = None
    closure_reason: str | None = None
    closure_date: str | None = None
    closure_earlier_month: bool = False
    no_fixed_abode: str | None = None
    entry_date: str | None = None
    commune: str | None = None  # NUMCOM: INSEE code of the address's commune (assigns the territory)
    persons: list[RawPerson] = field(default_factory=list)


class FluxHeader(BaseModel):
    """``IdentificationFlux``: when the CAF/MSA created the file and which flow it is."""

    model_config = ConfigDict(frozen=True)

    creation_date: date | None = None
    flow_type: str | None = None


class Person(BaseModel):
    """A member of an RSA household. Identity fields are hidden from ``repr`` so they never reach a log."""

    model_config = ConfigDict(frozen=True)

    rank: int  # 1-based rank of the Personne element in the household
    nir: str | None = Field(default=None, repr=False)
    last_name: str | None = Field(default=None, repr=False)
    first_name: str | None = Field(default=None, repr=False)
    birth_date: date | None = Field(default=None, repr=False)
    role: str | None = None
    subject_to_duties: bool | None  # None: no MontantCalculDroitRSAPersonne yet, unknown until a flow says


class Household(BaseModel):
    """An ``InfosFoyerRSA`` that passed every rule."""

    model_config = ConfigDict(frozen=True)

    matricule: str = Field(repr=False)
    right_state: RightState
    suspension_reasons: tuple[str, ...] = ()
    suspension_date: date | None = None
    closure_reason: str | None = None
    closure_date: date | None = None
    closure_earlier_month: bool = False
    no_fixed_abode: bool | None = None
    entry_date: date | None = None  # per-record entry date (CSV lists); XML flows use the header's date
    commune: str | None = Field(default=None, repr=False)
    persons: tuple[Person, ...]
    warnings: tuple[str, ...] = ()  # e.g. an unknown suspension code, kept as read

    @property
    def subject_count(self) -> int:
        return sum(1 for p in self.persons if p.subject_to_duties)

    @property
    def subject_unknown_count(self) -> int:
        return sum(1 for p in self.persons if p.subject_to_duties is None)


@dataclass(frozen=True)
class ParsedRecord:
    """One record of a file, accepted (``household`` set) or rejected (``issues`` set).

    ``position`` is the 1-based index of the ``InfosFoyerRSA`` element (or of the CSV household); 0 is
    the file header. ``record_hash`` is the SHA-256 of the raw record, stored instead of the record.
    """

    position: int
    record_hash: str
    household: Household | None = None
    issues: tuple[Issue, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.household is not None and not self.issues

    @property
    def reason(self) -> str:
        return reason_text(self.issues)

    @property
    def reason_codes(self) -> tuple[RejectionCode, ...]:
        return tuple(issue.code for issue in self.issues)


# ---------------------------------------------------------------- validation rules

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EARLIEST = date(1900, 1, 1)
_LATEST = date(2100, 12, 31)
# UTF-8 continuation bytes (0x80-0xBF) as ISO-8859-1 or windows-1252 shows them, after the lead bytes of
# French letters ("é" read as "Ã©" or "Ã©", "É" as "Ã‰", "œ" as "Å“", "’" as "â€™").
_CONTINUATION = "".join(sorted({chr(b) for b in range(0x80, 0xC0)}
                               | {bytes([b]).decode("cp1252", "ignore") for b in range(0x80, 0xC0)} - {""}))
_MOJIBAKE = re.compile(f"[ÂÃÅ][{re.escape(_CONTINUATION)}]|â€[{re.escape(_CONTINUATION)}]")
_C1 = re.compile("[\u0080-\u009f]")


def parse_iso_date(value: str | None) -> date | None:
    """Strict ``YYYY-MM-DD`` within 1900–2100; None when absent; ValueError when present but wrong."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not _ISO_DATE.match(text):
        raise ValueError("not a YYYY-MM-DD date")
    try:
        parsed = date.fromisoformat(text)
    except ValueError:
        raise ValueError("not a valid calendar date") from None  # e.g. 2024-02-30; the value is not echoed
    if not _EARLIEST <= parsed <= _LATEST:
        raise ValueError("date out of range")
    return parsed


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


def text_encoding_issue(texts: Iterable[str | None]) -> Issue | None:
    """Bytes invalid in the declared encoding (replacement characters), UTF-8 read as ISO-8859-1 or
    windows-1252 (mojibake), or windows-1252 bytes declared ISO-8859-1 (C1 control characters)."""
    for text in texts:
        if not text or text.isascii():
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
    limit = MAX_LENGTHS[name]
    if value is None or len(value) <= limit or len(value.strip()) <= limit:
        return False
    issues.append(Issue(RejectionCode.FIELD_TOO_LONG, f"{label}: longer than {limit} characters ({len(value)})"))
    return True


def _boolean(value: str | None, name: str, label: str, code: RejectionCode, issues: list[Issue]) -> bool | None:
    """An xsd:boolean (``1``/``0``/``true``/``false``); None when absent; an issue when anything else."""
    flag = _clean(value)
    if flag is None:
        return None
    if flag not in BOOLEANS:
        issues.append(Issue(code, f"{label}{name} code {_code(flag)} unknown"))
        return None
    return BOOLEANS[flag]


def _right_state(codes: list[str], issues: list[Issue]) -> RightState | None:
    cleaned = [c.strip() for c in codes if c and c.strip()]
    if not cleaned:
        issues.append(Issue(RejectionCode.UNKNOWN_ETATDOSRSA, "ETATDOSRSA missing"))
        return None
    unknown = sorted({c for c in cleaned if c not in ETATDOSRSA})
    if unknown:
        issues.append(Issue(RejectionCode.UNKNOWN_ETATDOSRSA, f"ETATDOSRSA code {_codes(unknown)} unknown"))
        return None
    chosen = min(cleaned, key=ETATDOSRSA_DETECTION_ORDER.index)
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
    kept = tuple(v.strip() for v in values if v and v.strip())
    for value in kept:
        _too_long(value, name, name, issues)
    unknown = sorted({v for v in kept if v not in known and len(v) <= MAX_LENGTHS[name]})
    if unknown:
        warnings.append(str(Issue(code, f"{name} code {_codes(unknown)} not in the known list (kept as read)")))
    return kept


def validate_household(raw: RawHousehold, reference: date | None = None) -> tuple[Household | None, list[Issue]]:
    """Apply every rule to a raw household; return the typed household, or None and every issue found.

    ``reference`` (the flow's DTCREAFLUX, or today) bounds the case dates to the plausible window.
    """
    issues: list[Issue] = []
    warnings: list[str] = []
    encoding = text_encoding_issue(_raw_texts(raw))
    if encoding is not None:
        issues.append(encoding)

    matricule = _clean(raw.matricule)
    if matricule is None:
        issues.append(Issue(RejectionCode.MISSING_MATRICULE, "MATRICULE (N° CAF/MSA) missing or empty"))
    elif _too_long(matricule, "MATRICULE", "MATRICULE", issues):
        matricule = None

    state = _right_state(raw.right_states, issues)

    reasons = _open_codes(raw.suspension_reasons, "MOTISUSVERSRSA", MOTISUSVERSRSA, issues, warnings,
                          RejectionCode.UNKNOWN_MOTISUSVERSRSA)
    suspension_date = _date_field(raw.suspension_date, "DDSUSVERSRSA", issues, reference)

    closure = _open_codes([raw.closure_reason or ""], "MOTICLORSA", MOTICLORSA, issues, warnings,
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
    if commune is not None and (_too_long(commune, "NUMCOM", "NUMCOM", issues) or not _COMMUNE.match(commune)):
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


_COMMUNE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")


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


def _packed_key(key: str) -> int | None:
    """A matricule packed losslessly into a non-zero 64-bit integer, or None when it does not fit.

    Up to 7 UTF-8 bytes (top bit set, then the bytes, then the length) or, longer, up to 17 ASCII digits
    (the number, then the length; below 2**62): two key spaces that cannot meet, each one-to-one.
    """
    data = key.encode("utf-8")
    if len(data) <= 7:
        return 1 << 63 | int.from_bytes(data, "big") << 3 | len(data)
    if len(data) <= 17 and data.isdigit():
        return int(data) << 5 | len(data)
    return None


class DuplicateGuard:
    """Remembers, exactly, the matricules seen in one file and the position of each one's first household.

    The one part of a read that grows with the file: a matricule of up to 7 bytes (the 7-digit CAF
    numbers) or 17 digits is packed into a :class:`FirstSeenTable` key (16–32 B per household, where a
    dict of digests took about 120 B); any other shape is kept whole in a dict.
    """

    def __init__(self) -> None:
        self._packed = FirstSeenTable()
        self._other: dict[str, int] = {}

    def check(self, matricule: str | None, position: int) -> Issue | None:
        """None the first time a matricule is seen; an issue naming the first position afterwards."""
        key = _clean(matricule)
        if key is None:
            return None
        packed = _packed_key(key)
        if packed is None:
            first = self._other.setdefault(key, position)
        else:
            first = self._packed.first_seen(packed, position)
        if first == position:
            return None
        return Issue(RejectionCode.DUPLICATE_HOUSEHOLD, f"same matricule as the household at position {first}")


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
          extra: Iterable[Issue] = (), reference: date | None = None) -> ParsedRecord:
    """Validate one raw household in the context of its file (duplicates, reference date), extra issues first."""
    issues = list(extra)
    household, found = validate_household(raw, reference)
    issues.extend(issue for issue in found if issue not in issues)
    duplicate = guard.check(raw.matricule, position)
    if duplicate is not None:
        issues.append(duplicate)
    if issues:
        return ParsedRecord(position=position, record_hash=record_hash, issues=tuple(issues))
    return ParsedRecord(position=position, record_hash=record_hash, household=household)


# ---------------------------------------------------------------- summary (``parcours flux import --dry-run``)


class Rejection(BaseModel):
    position: int
    reason: str


class Warning_(Rejection):
    """Something to look at that did not reject the record (position 0: the file as a whole)."""


class FluxSummary(BaseModel):
    """Counts over the accepted households, the rejections and the warnings, in file order.

    The dry run prints every rejection and warning, so all are kept by default. A reader whose rejections
    go elsewhere (the import quarantines each one slice by slice) sets ``keep_rejected`` to keep only the
    first ones (rejections and warnings alike) and the counts, so that a file full of errors does not fill
    memory. Neither field is part of the JSON.
    """

    households: int = 0
    persons: int = 0
    subject_to_duties: int = 0
    subject_to_duties_unknown: int = 0  # persons without MontantCalculDroitRSAPersonne: no pathway yet
    rejected: list[Rejection] = Field(default_factory=list)
    warnings: list[Warning_] = Field(default_factory=list)
    rejected_count: int = Field(default=0, exclude=True)
    warning_count: int = Field(default=0, exclude=True)
    keep_rejected: int | None = Field(default=None, ge=0, exclude=True)

    def add(self, record: ParsedRecord) -> None:
        if record.accepted:
            assert record.household is not None
            self.households += 1
            self.persons += len(record.household.persons)
            self.subject_to_duties += record.household.subject_count
            self.subject_to_duties_unknown += record.household.subject_unknown_count
            for reason in record.household.warnings:
                self.warn(record.position, reason)
            return
        self.rejected_count += 1
        if self.keep_rejected is None or len(self.rejected) < self.keep_rejected:
            self.rejected.append(Rejection(position=record.position, reason=record.reason))

    def warn(self, position: int, reason: str) -> None:
        self.warning_count += 1
        if self.keep_rejected is None or len(self.warnings) < self.keep_rejected:
            self.warnings.append(Warning_(position=position, reason=reason))
