"""Fuzzing the CNAF flow parser (hypothesis): random households with random defects, and random byte damage.

Properties: the reader never crashes; every bad record is rejected with its reason (an unknown code of an
open list is a warning instead) (the code of each defect
put in it, a readable detail, no NIR echoed); valid records in the same file are accepted exactly as if they
were alone; damage at some byte leaves every household before it untouched.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Callable
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.cnaf_parser import CnafFluxReader
from activities.flux_generator import generate_flux
from domain.flux import BOOLEANS, ETATDOSRSA, MOTICLORSA, MOTISUSVERSRSA, ParsedRecord, RejectionCode
from domain.identity import nir_key

#: ``FUZZ_EXAMPLES=2000 pytest tests/test_fuzz_*.py`` for a longer hunt; the default keeps CI quick.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="fuzz-flux-") as tmp:
        yield Path(tmp)


def parse(workdir: Path, data: bytes) -> list[ParsedRecord]:
    path = workdir / "flux.xml"
    path.write_bytes(data)
    return list(CnafFluxReader(path))


# ---------------------------------------------------------------- a household model and its XML


@dataclass
class P:
    nir: str | None
    top: str  # TOPPERSDRODEVORSA
    birth: str
    last_name: str
    first_name: str
    role: str = "DEM"


@dataclass
class H:
    matricule: str | None
    state: str
    persons: list[P]
    sdf: str = "0"
    suspension: tuple[str, str] | None = None
    closure: tuple[str, str | None] | None = None
    closure_tag: str = "FinDroit"
    latin1_name: bool = False  # a name written in ISO-8859-1 inside the UTF-8 file
    expected: set[RejectionCode] = field(default_factory=set)
    warned: set[RejectionCode] = field(default_factory=set)  # open code lists: kept, warned, not rejected


def _leaf(tag: str, value: str | None) -> str:
    return "" if value is None else f"<{tag}>{escape(value)}</{tag}>"


def household_xml(h: H) -> bytes:
    situation = f"<EtatDossierRSA>{_leaf('ETATDOSRSA', h.state)}</EtatDossierRSA>"
    if h.suspension:
        situation += (f"<SuspensionVersement>{_leaf('MOTISUSVERSRSA', h.suspension[0])}"
                      f"{_leaf('DDSUSVERSRSA', h.suspension[1])}</SuspensionVersement>")
    if h.closure:
        situation += (f"<{h.closure_tag}>{_leaf('MOTICLORSA', h.closure[0])}{_leaf('DTCLORSA', h.closure[1])}"
                      f"</{h.closure_tag}>")
    people = []
    for p in h.persons:
        people.append(
            "<Personne><Identification>"
            f"{_leaf('NOMNAI', p.last_name)}{_leaf('PRENOM', p.first_name)}{_leaf('DTNAI', p.birth)}"
            f"{_leaf('NIR', p.nir)}</Identification><Prestations>{_leaf('ROLEPERS', p.role)}</Prestations>"
            f"<MontantCalculDroitRSAPersonne>{_leaf('TOPPERSDRODEVORSA', p.top)}</MontantCalculDroitRSAPersonne>"
            "</Personne>")
    text = (f" <InfosFoyerRSA><IdentificationRSA><Organisme>{_leaf('MATRICULE', h.matricule)}</Organisme>"
            f"</IdentificationRSA><PrestationRSA><SituationDossierRSA>{situation}</SituationDossierRSA>"
            f"<DetailDroitRSA><TroncCommunDroitRSA>{_leaf('TOPSANSDOMFIXE', h.sdf)}</TroncCommunDroitRSA>"
            f"</DetailDroitRSA></PrestationRSA>{''.join(people)}</InfosFoyerRSA>\n")
    data = text.encode("utf-8")
    if h.latin1_name:
        data = data.replace(b"<PRENOM>", "<PRENOM>H\u00e9l\u00e8ne ".encode("latin-1"), 1)
    return data


def flux_file(households: list[H], flow_date: date = date(2025, 3, 3)) -> bytes:
    head = ('<?xml version="1.0" encoding="UTF-8"?>\n<FluxBeneficiairesRSA>\n'
            f" <IdentificationFlux><TYPEFLUX>Q</TYPEFLUX><DTCREAFLUX>{flow_date.isoformat()}</DTCREAFLUX>"
            "</IdentificationFlux>\n").encode("utf-8")
    return head + b"".join(household_xml(h) for h in households) + b"</FluxBeneficiairesRSA>\n"


# ---------------------------------------------------------------- strategies

# Free text that is valid XML content and not itself an encoding defect (no U+FFFD, no "Ã©"-style mojibake).
TEXT_CHARS = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Co", "Cn"),
                           exclude_characters="\u00c3\u00c2\u00c5\u00e2\ufffd")
NAME = st.text(alphabet=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyzÉÈéèëïçô-'"),
               min_size=1, max_size=20)
ISO_DATE = st.dates(min_value=date(1930, 1, 1), max_value=date(2030, 12, 31)).map(date.isoformat)
# Case dates (suspension, closure) lie in the plausible window around the flow date (2025-03-03).
CASE_DATE = st.dates(min_value=date(2009, 6, 1), max_value=date(2025, 4, 3)).map(date.isoformat)


def _not(valid: set[str] | dict) -> Callable[[str], bool]:
    return lambda text: bool(text.strip()) and text.strip() not in valid


UNKNOWN_CODE = {
    "state": st.text(TEXT_CHARS, min_size=1, max_size=6).filter(_not(ETATDOSRSA)),
    "top": st.text(TEXT_CHARS, min_size=1, max_size=4).filter(_not(BOOLEANS)),
    "sdf": st.text(TEXT_CHARS, min_size=1, max_size=4).filter(_not(BOOLEANS)),
    "suspension": st.text(TEXT_CHARS, min_size=1, max_size=2).filter(_not(MOTISUSVERSRSA)),
    "closure": st.text(TEXT_CHARS, min_size=1, max_size=3).filter(_not(MOTICLORSA)),
}
BAD_DATE = st.one_of(
    st.sampled_from(["2024-02-30", "2023-13-01", "1850-06-01", "2200-01-01", "01/02/2024", "2024-2-3", "hier"]),
    st.text(TEXT_CHARS, min_size=1, max_size=12).filter(
        lambda t: bool(t.strip()) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", t.strip())),
)


@st.composite
def nir_bodies(draw) -> str:
    return (f"{draw(st.sampled_from('12'))}{draw(st.integers(0, 99)):02d}{draw(st.integers(1, 12)):02d}"
            f"{draw(st.sampled_from(['62', '59', '80', '75', '02']))}{draw(st.integers(1, 999)):03d}"
            f"{draw(st.integers(1, 999)):03d}")


def with_key(body: str) -> str:
    return f"{body}{nir_key(body):02d}"


@st.composite
def persons(draw) -> list[P]:
    bodies = draw(st.lists(nir_bodies(), min_size=1, max_size=4, unique=True))
    found = []
    for rank, body in enumerate(bodies):
        subject = draw(st.booleans())
        has_nir = subject or draw(st.booleans())  # a person subject to duties needs a NIR
        found.append(P(nir=with_key(body) if has_nir else None, top="1" if subject else "0", birth=draw(ISO_DATE),
                       last_name=draw(NAME), first_name=draw(NAME), role=["DEM", "CJT", "ENF", "ENF"][rank]))
    return found


@st.composite
def valid_households(draw, matricule: str) -> H:
    state = draw(st.sampled_from(sorted(ETATDOSRSA)))
    h = H(matricule=matricule, state=state, persons=draw(persons()), sdf=draw(st.sampled_from(["0", "1"])))
    if state in ("3", "4"):
        h.suspension = (draw(st.sampled_from(sorted(MOTISUSVERSRSA))), draw(CASE_DATE))
    if state in ("5", "6"):
        h.closure = (draw(st.sampled_from(sorted(MOTICLORSA))), draw(CASE_DATE))
        h.closure_tag = "FinDroitMoisAnterieur" if state == "6" else "FinDroit"
    return h


def _first_with_nir(h: H) -> P | None:
    return next((p for p in h.persons if p.nir), None)


PERSON_DEFECTS = ["bad_nir_key", "bad_nir_text", "subject_without_nir", "top", "bad_birth", "duplicate_person",
                  "latin1"]
HOUSEHOLD_DEFECTS = ["no_matricule", "duplicate_household", "state", "sdf", "suspension", "closure",
                     "closed_without_date", "no_person"]
EXCLUSIVE = [{"no_matricule", "duplicate_household"}, {"closure", "closed_without_date"},
             {"state", "closed_without_date"}]


@st.composite
def defective(draw, h: H, earlier: list[str]) -> H:
    """``h`` with one to three defects, each recorded with the rejection code it must produce.

    At most one defect per household touches its persons (a person already invalid is not compared for
    duplicates, for instance); household-level defects that would cancel each other are not combined."""
    kinds = draw(st.lists(st.sampled_from(HOUSEHOLD_DEFECTS), max_size=2, unique=True))
    kinds = [k for k in kinds if k != "duplicate_household" or earlier]
    if any(pair <= set(kinds) for pair in EXCLUSIVE):
        kinds = kinds[:1]
    if "no_person" not in kinds and (not kinds or draw(st.booleans())):
        kinds.append(draw(st.sampled_from(PERSON_DEFECTS)))
    for kind in kinds:
        first = _first_with_nir(h)
        if kind == "bad_nir_key" and first:
            key = int(first.nir[13:])
            first.nir = first.nir[:13] + f"{key % 97 + 1:02d}"
            h.expected.add(RejectionCode.BAD_NIR)
        elif kind == "bad_nir_text":
            h.persons[-1].nir = draw(st.text(TEXT_CHARS, min_size=1, max_size=18).filter(lambda t: bool(t.strip())))
            h.expected.add(RejectionCode.BAD_NIR)
        elif kind == "subject_without_nir":
            h.persons[0].nir, h.persons[0].top = None, "1"
            h.expected.add(RejectionCode.BAD_NIR)
        elif kind == "top":
            h.persons[-1].top = draw(UNKNOWN_CODE["top"])
            h.expected.add(RejectionCode.UNKNOWN_TOPPERSDRODEVORSA)
        elif kind == "bad_birth":
            h.persons[0].birth = draw(BAD_DATE)
            h.expected.add(RejectionCode.BAD_DATE)
        elif kind == "duplicate_person" and first:
            h.persons.append(replace(first, role="CJT"))
            h.expected.add(RejectionCode.DUPLICATE_PERSON)
        elif kind == "latin1":
            h.latin1_name = True
            h.expected.add(RejectionCode.WRONG_ENCODING)
        elif kind == "no_matricule":
            h.matricule = draw(st.sampled_from([None, "", "   "]))
            h.expected.add(RejectionCode.MISSING_MATRICULE)
        elif kind == "duplicate_household":
            h.matricule = draw(st.sampled_from(earlier))
            h.expected.add(RejectionCode.DUPLICATE_HOUSEHOLD)
        elif kind == "state":
            h.state = draw(UNKNOWN_CODE["state"])
            h.expected.add(RejectionCode.UNKNOWN_ETATDOSRSA)
        elif kind == "sdf":
            h.sdf = draw(UNKNOWN_CODE["sdf"])
            h.expected.add(RejectionCode.UNKNOWN_TOPSANSDOMFIXE)
        elif kind == "suspension":
            h.suspension = (draw(UNKNOWN_CODE["suspension"]), draw(CASE_DATE))
            h.warned.add(RejectionCode.UNKNOWN_MOTISUSVERSRSA)
        elif kind == "closure":
            h.closure = (draw(UNKNOWN_CODE["closure"]), draw(CASE_DATE))
            h.warned.add(RejectionCode.UNKNOWN_MOTICLORSA)
        elif kind == "closed_without_date" and h.state in ("5", "6"):
            h.closure = (h.closure[0] if h.closure else "ECH", None)
            h.expected.add(RejectionCode.BAD_DATE)
        elif kind == "no_person":
            h.persons = []
            h.expected.add(RejectionCode.NO_PERSON)
    if not h.expected and not h.warned:  # the drawn defect did not apply to this household (e.g. nobody has a NIR)
        h.state = "X"
        h.expected.add(RejectionCode.UNKNOWN_ETATDOSRSA)
    return h


@st.composite
def files(draw) -> list[H]:
    base = draw(st.integers(1_000_000, 8_000_000))
    households: list[H] = []
    for index in range(draw(st.integers(1, 8))):
        h = draw(valid_households(str(base + index)))
        if draw(st.booleans()):
            earlier = [x.matricule for x in households if x.matricule and x.matricule.strip()]
            h = draw(defective(h, earlier))
        households.append(h)
    return households


# ---------------------------------------------------------------- properties


def _reason_is_clear(record: ParsedRecord) -> None:
    assert record.issues, f"position {record.position} rejected without a reason"
    for issue in record.issues:
        assert issue.detail.strip()
        assert str(issue).startswith(issue.code.value + ": ")


@FUZZ
@given(households=files())
def test_bad_records_are_rejected_with_their_reason_and_valid_ones_are_unaffected(workdir, households):
    records = parse(workdir, flux_file(households))
    assert [r.position for r in records] == list(range(1, len(households) + 1))
    nir_bodies_in_file = {p.nir[:13] for h in households for p in h.persons if p.nir and len(p.nir) >= 13}
    for h, record in zip(households, records):
        if h.expected:
            assert not record.accepted
            _reason_is_clear(record)
            assert h.expected <= set(record.reason_codes), (h.expected, record.reason)
            assert not any(body in record.reason for body in nir_bodies_in_file if body.isdigit())
            continue
        assert record.accepted, record.reason
        household = record.household
        assert household.matricule == h.matricule and household.right_state.value == h.state
        assert [p.nir for p in household.persons] == [p.nir for p in h.persons]
        assert [p.subject_to_duties for p in household.persons] == [p.top == "1" for p in h.persons]
        assert {w.split(":")[0] for w in household.warnings} == {code.value for code in h.warned}
        alone = parse(workdir, flux_file([h]))  # the same household in a file of its own
        assert alone[0].accepted and alone[0].household == household and alone[0].record_hash == record.record_hash


@st.composite
def damage(draw, size: int, start: int) -> tuple[int, Callable[[bytes], bytes]]:
    """A byte offset at or after ``start`` and a way to damage the file there."""
    at = draw(st.integers(start, size))
    noise = draw(st.binary(min_size=1, max_size=12))
    kind = draw(st.sampled_from(["truncate", "replace", "insert", "delete"]))
    length = draw(st.integers(1, 40))
    return at, {
        "truncate": lambda data: data[:at],
        "replace": lambda data: data[:at] + noise + data[at + len(noise):],
        "insert": lambda data: data[:at] + noise + data[at:],
        "delete": lambda data: data[:at] + data[at + length:],
    }[kind]


@FUZZ
@given(seed=st.integers(0, 10**6), share=st.sampled_from([0.0, 0.3]), data=st.data())
def test_damage_never_crashes_nor_touches_the_households_before_it(workdir, seed, share, data):
    path = workdir / "generated.xml"
    generate_flux(path, households=6, seed=seed, flow_date=date(2025, 4, 1), invalid_share=share)
    original = path.read_bytes()
    before = parse(workdir, original)
    header_end = original.index(b"</IdentificationFlux>") + len(b"</IdentificationFlux>")
    at, damaged = data.draw(damage(len(original), header_end))
    after = parse(workdir, damaged(original))  # must not raise

    ends = [m.end() for m in re.finditer(rb"</InfosFoyerRSA>", original)]
    untouched = sum(1 for end in ends if end <= at)
    assert after[:untouched] == before[:untouched]
    households = [r for r in after if r.position > 0]
    assert [r.position for r in households] == sorted({r.position for r in households})
    for record in after:
        if not record.accepted:
            _reason_is_clear(record)
