"""CAF/MSA "flux bénéficiaires" records: code tables, typed households and persons, validation with reasons.

The parser (``activities/cnaf_parser.py``) and the CSV import (``activities/csv_import.py``) only extract
raw strings into :class:`RawHousehold`; every rule deciding whether a record is usable lives in
:mod:`domain.flux_validation`, so the two inputs reject the same things for the same reasons (domain.md
§8.1, G-X1).

Rejection reasons are ``"<code>: <detail>"`` strings. They never contain a NIR, a name, a birth date or a
matricule: they name the field and the person's rank in the household, so they can be logged, printed and
stored in the quarantine table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Iterable

from pydantic import BaseModel, ConfigDict, Field

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


# ---------------------------------------------------------------- summary (``parcours flux import --dry-run``)


class Rejection(BaseModel):
    position: int
    reason: str


class Warning_(Rejection):
    """Something to look at that did not reject the record (position 0: the file as a whole)."""


_COUNTS = ("households", "persons", "subject_to_duties", "subject_to_duties_unknown")


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
        household = record.household
        if household is not None and not record.issues:  # accepted
            flags = [person.subject_to_duties for person in household.persons]
            # What pydantic's ``__setattr__`` does for a field without validation, in one go: its four calls
            # were half of the time of reading a flow's summary (the import's survey).
            counts = self.__dict__
            counts["households"] += 1
            counts["persons"] += len(flags)
            counts["subject_to_duties"] += flags.count(True)
            counts["subject_to_duties_unknown"] += flags.count(None)
            self.__pydantic_fields_set__.update(_COUNTS)
            for reason in household.warnings:
                self.warn(record.position, reason)
            return
        self.rejected_count += 1
        if self.keep_rejected is None or len(self.rejected) < self.keep_rejected:
            self.rejected.append(Rejection(position=record.position, reason=record.reason))

    def warn(self, position: int, reason: str) -> None:
        self.warning_count += 1
        if self.keep_rejected is None or len(self.warnings) < self.keep_rejected:
            self.warnings.append(Warning_(position=position, reason=reason))
