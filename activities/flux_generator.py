"""Synthetic CNAF "flux bénéficiaires" files for demos, tests and benchmarks: realistic, seeded, no real person.

Names are drawn from lists of common French first names and surnames; NIRs are random numbers shaped like
real ones (sex, year and month of birth matching the birth date, département, commune, order number)
with a valid key, and unique within the file. The same seed, count, share and date give the same bytes.

``invalid_share`` turns that share of households into rejected ones, cycling through every rejection
reason a single record can have (see :data:`INJECTED_DEFECTS`), so a file of a few dozen households with
a share of 0.5 exercises them all.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

from domain.flux import RejectionCode
from domain.identity import nir_key

SURNAMES = (
    "MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND", "LEROY", "MOREAU",
    "SIMON", "LAURENT", "LEFEBVRE", "MICHEL", "GARCIA", "DAVID", "BERTRAND", "ROUX", "VINCENT", "FOURNIER",
    "MOREL", "GIRARD", "ANDRÉ", "LEFÈVRE", "MERCIER", "DUPONT", "LAMBERT", "BONNET", "FRANÇOIS", "MARTINEZ",
    "LEGRAND", "GARNIER", "FAURE", "ROUSSEAU", "BLANC", "GUÉRIN", "MULLER", "HENRY", "ROUSSEL", "NICOLAS",
    "PERRIN", "MORIN", "MATHIEU", "CLÉMENT", "GAUTHIER", "DUMONT", "LOPEZ", "FONTAINE", "CHEVALIER", "ROBIN",
    "DELATTRE", "LEMAIRE", "CARON", "DUHAMEL", "DEVAUX", "LECLERCQ", "DELANNOY", "DEBRABANT", "WAROQUIER",
    "COQUELLE", "DESCAMPS", "LEBLANC", "VASSEUR", "HOCHART", "POTTIER", "LEROUX", "DUFOUR", "BOULANGER",
)
FIRST_NAMES_F = (
    "Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Sandrine", "Céline", "Aurélie", "Julie", "Émilie",
    "Sophie", "Laura", "Camille", "Léa", "Manon", "Chloé", "Sarah", "Inès", "Jade", "Louise", "Hélène", "Maëlle",
    "Océane", "Amandine", "Jessica", "Mélanie", "Virginie", "Stéphanie", "Fatima", "Aïcha", "Zoé", "Anaïs",
)
FIRST_NAMES_M = (
    "Jean", "Philippe", "Michel", "Alain", "Patrick", "Nicolas", "Christophe", "Pierre", "Sébastien", "Julien",
    "Laurent", "Frédéric", "Stéphane", "David", "Kévin", "Thomas", "Maxime", "Lucas", "Hugo", "Louis", "Noé",
    "Jérôme", "Grégory", "Cédric", "Mickaël", "Jordan", "Dylan", "Mohamed", "Karim", "Loïc", "François", "Yann",
)
# Départements of birth, Pas-de-Calais heavy; "2A" exercises the Corsican key rule; "99" = born abroad.
BIRTH_DEPARTMENTS = (("62", 70), ("59", 12), ("80", 4), ("75", 3), ("2A", 1), ("99", 6), ("76", 2), ("02", 2))
RIGHT_STATES = (("2", 70), ("0", 8), ("4", 5), ("3", 2), ("5", 9), ("6", 3), ("1", 3))
SUSPENSION_CODES = (("06", 30), ("01", 15), ("CV", 10), ("02", 8), ("AB", 6), ("44", 5), ("70", 5), ("36", 4),
                    ("05", 4), ("85", 3), ("84", 3), ("CG", 3), ("04", 2), ("09", 2))
#: Communes of the households: those of the example commune table of ``parcours dev``, and one it lacks
#: (62001, Ablain-Saint-Nazaire) so that some pathways start UNASSIGNED with a task for the SLAI manager.
COMMUNES = ("62041", "62119", "62160", "62193", "62498", "62510", "62765", "62001")
CLOSURE_CODES = (("ECH", 40), ("RFD", 20), ("MUT", 12), ("PCG", 10), ("RAU", 8), ("EFF", 5), ("RGD", 5))

#: The record-level defects ``invalid_share`` injects, in the order they are cycled through.
INJECTED_DEFECTS: tuple[RejectionCode, ...] = (
    RejectionCode.BAD_NIR,
    RejectionCode.MISSING_MATRICULE,
    RejectionCode.UNKNOWN_ETATDOSRSA,
    RejectionCode.UNKNOWN_TOPPERSDRODEVORSA,
    RejectionCode.BAD_DATE,
    RejectionCode.DUPLICATE_HOUSEHOLD,
    RejectionCode.DUPLICATE_PERSON,
    RejectionCode.WRONG_ENCODING,
    RejectionCode.NO_PERSON,
    RejectionCode.UNKNOWN_TOPSANSDOMFIXE,
)

_LATIN1_MARK = "\x00LATIN1\x00"  # placeholder replaced by raw ISO-8859-1 bytes in a UTF-8 file


@dataclass
class GenerationReport:
    households: int = 0
    persons: int = 0
    valid_households: int = 0
    valid_persons: int = 0
    valid_subject_to_duties: int = 0
    injected: dict[str, int] = field(default_factory=dict)
    bytes_written: int = 0


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([code for code, _ in table], weights=[w for _, w in table])[0]


class _Generator:
    def __init__(self, households: int, seed: int, flow_date: date) -> None:
        self.rng = random.Random(seed)
        self.count = households
        self.flow_date = flow_date
        self._matricule_offset = self.rng.randrange(9_000_000)
        self._person_counter = self.rng.randrange(1000)
        self.last_matricule: str | None = None

    def matricule(self, index: int) -> str:
        # An affine map modulo 9e6 with a multiplier prime to it: distinct for every index < 9e6.
        return str(1_000_000 + (index * 7919 + self._matricule_offset) % 9_000_000)

    def nir(self, female: bool, birth: date) -> str:
        rng = self.rng
        self._person_counter += 1
        serial = self._person_counter % 998_001  # commune and order number from a counter: unique in the file
        department = _weighted(rng, BIRTH_DEPARTMENTS)
        commune = 1 + serial // 999
        order = 1 + serial % 999
        body = f"{2 if female else 1}{birth.year % 100:02d}{birth.month:02d}{department}{commune:03d}{order:03d}"
        return f"{body}{nir_key(body):02d}"

    def birth(self, min_age: int, max_age: int) -> date:
        days = self.rng.randrange(min_age * 365 + 1, max_age * 365)
        return self.flow_date - timedelta(days=days)

    def person(self, role: str, female: bool, birth: date, subject: bool, surname: str, with_nir: bool = True) -> dict:
        names = FIRST_NAMES_F if female else FIRST_NAMES_M
        return {
            "nir": self.nir(female, birth) if with_nir else None,
            "last_name": surname,
            "first_name": self.rng.choice(names),
            "birth_date": birth.isoformat(),
            "role": role,
            "top": "1" if subject else "0",
        }

    def household(self, index: int) -> dict:
        rng = self.rng
        state = _weighted(rng, RIGHT_STATES)
        active = state in ("0", "2", "3", "4")
        surname = rng.choice(SURNAMES)
        female = rng.random() < 0.55
        persons = [self.person("DEM", female, self.birth(18, 64), active and rng.random() < 0.9, surname)]
        if rng.random() < 0.3:
            persons.append(self.person("CJT", not female, self.birth(18, 64), active and rng.random() < 0.7,
                                       surname if rng.random() < 0.6 else rng.choice(SURNAMES)))
        for _ in range(rng.choices((0, 1, 2, 3), weights=(50, 25, 17, 8))[0]):
            persons.append(self.person("ENF", rng.random() < 0.5, self.birth(0, 17), False, surname,
                                       with_nir=rng.random() < 0.7))
        record = {"matricule": self.matricule(index), "state": state, "persons": persons,
                  "sdf": "1" if rng.random() < 0.03 else "0", "suspension": None, "closure": None,
                  "earlier_month": state == "6"}
        if state in ("3", "4"):
            record["suspension"] = (_weighted(rng, SUSPENSION_CODES),
                                    (self.flow_date - timedelta(days=rng.randrange(1, 120))).isoformat())
        if state in ("5", "6"):
            record["closure"] = (_weighted(rng, CLOSURE_CODES),
                                 (self.flow_date - timedelta(days=rng.randrange(1, 60))).isoformat())
        return record


def _inject(gen: _Generator, record: dict, defect: RejectionCode) -> None:
    """Make ``record`` fail exactly one rule."""
    first = record["persons"][0]
    if defect is RejectionCode.BAD_NIR:
        key = int(first["nir"][13:])
        first["nir"] = first["nir"][:13] + f"{(key % 97) + 1:02d}"
    elif defect is RejectionCode.MISSING_MATRICULE:
        record["matricule"] = None
    elif defect is RejectionCode.UNKNOWN_ETATDOSRSA:
        record["state"] = "9"
    elif defect is RejectionCode.UNKNOWN_TOPPERSDRODEVORSA:
        first["top"] = "O"
    elif defect is RejectionCode.BAD_DATE:
        first["birth_date"] = first["birth_date"][:5] + "02-30"
    elif defect is RejectionCode.DUPLICATE_HOUSEHOLD:
        record["matricule"] = gen.last_matricule  # an earlier household of the file
    elif defect is RejectionCode.DUPLICATE_PERSON:
        record["persons"].insert(1, dict(first, role="CJT"))
    elif defect is RejectionCode.WRONG_ENCODING:
        first["last_name"] = _LATIN1_MARK + "LEFÈVRE"
    elif defect is RejectionCode.NO_PERSON:
        record["persons"] = []
    elif defect is RejectionCode.UNKNOWN_TOPSANSDOMFIXE:
        record["sdf"] = "2"
    else:  # pragma: no cover - INJECTED_DEFECTS lists only the cases above
        raise ValueError(f"cannot inject {defect}")


def _render(record: dict) -> str:
    matricule = f"<MATRICULE>{record['matricule']}</MATRICULE>" if record["matricule"] is not None else ""
    situation = [f"<EtatDossierRSA><ETATDOSRSA>{record['state']}</ETATDOSRSA></EtatDossierRSA>"]
    if record["suspension"]:
        code, since = record["suspension"]
        situation.append(f"<SuspensionVersement><MOTISUSVERSRSA>{code}</MOTISUSVERSRSA>"
                         f"<DDSUSVERSRSA>{since}</DDSUSVERSRSA></SuspensionVersement>")
    if record["closure"]:
        code, closed = record["closure"]
        tag = "FinDroitMoisAnterieur" if record["earlier_month"] else "FinDroit"
        situation.append(f"<{tag}><MOTICLORSA>{code}</MOTICLORSA><DTCLORSA>{closed}</DTCLORSA></{tag}>")
    persons = []
    for p in record["persons"]:
        nir = f"<NIR>{p['nir']}</NIR>" if p["nir"] else ""
        persons.append(
            "  <Personne>\n"
            f"   <Identification><NOMNAI>{escape(p['last_name'])}</NOMNAI><PRENOM>{escape(p['first_name'])}</PRENOM>"
            f"<DTNAI>{p['birth_date']}</DTNAI>{nir}</Identification>\n"
            f"   <Prestations><ROLEPERS>{p['role']}</ROLEPERS></Prestations>\n"
            f"   <MontantCalculDroitRSAPersonne><TOPPERSDRODEVORSA>{p['top']}</TOPPERSDRODEVORSA>"
            "</MontantCalculDroitRSAPersonne>\n"
            "  </Personne>\n"
        )
    return (
        " <InfosFoyerRSA>\n"
        f"  <IdentificationRSA><Organisme>{matricule}</Organisme></IdentificationRSA>\n"
        "  <PrestationRSA>\n"
        f"   <SituationDossierRSA>{''.join(situation)}</SituationDossierRSA>\n"
        f"   <DetailDroitRSA><TroncCommunDroitRSA><TOPSANSDOMFIXE>{record['sdf']}</TOPSANSDOMFIXE>"
        "</TroncCommunDroitRSA></DetailDroitRSA>\n"
        "  </PrestationRSA>\n"
        f"{''.join(persons)}"
        "  <DonneesAdministratives><Adresse><AdresseDetailleeFrance>"
        f"<NUMCOM>{_commune(record['matricule'])}</NUMCOM></AdresseDetailleeFrance></Adresse></DonneesAdministratives>\n"
        " </InfosFoyerRSA>\n"
    )


def _commune(matricule: str | None) -> str:
    """The household's INSEE commune, from its matricule (no draw: the other fields stay as they were)."""
    digits = "".join(ch for ch in matricule or "" if ch.isdigit())
    return COMMUNES[int(digits or 0) % len(COMMUNES)]


def _encode(text: str) -> bytes:
    if _LATIN1_MARK not in text:
        return text.encode("utf-8")
    before, after = text.split(_LATIN1_MARK, 1)
    end = after.index("<")
    return before.encode("utf-8") + after[:end].encode("latin-1") + _encode(after[end:])


def generate_flux(
    out: str | Path,
    *,
    households: int,
    seed: int,
    flow_date: date,
    invalid_share: float = 0.0,
    flow_type: str = "Q",
) -> GenerationReport:
    """Write a flow file of ``households`` households to ``out``; return what was written."""
    if households < 0:
        raise ValueError("households must be >= 0")
    if not 0.0 <= invalid_share <= 1.0:
        raise ValueError("invalid_share must be between 0 and 1")
    gen = _Generator(households, seed, flow_date)
    # Household 0 is never made invalid, so a duplicate can always point at an earlier household.
    invalid_count = min(round(households * invalid_share), max(households - 1, 0))
    chosen = sorted(gen.rng.sample(range(1, households), invalid_count)) if invalid_count else []
    defects = {index: INJECTED_DEFECTS[n % len(INJECTED_DEFECTS)] for n, index in enumerate(chosen)}
    report = GenerationReport()
    with open(out, "wb") as handle:
        head = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            "<FluxBeneficiairesRSA>\n"
            f" <IdentificationFlux><TYPEFLUX>{flow_type}</TYPEFLUX><DTCREAFLUX>{flow_date.isoformat()}</DTCREAFLUX>"
            "</IdentificationFlux>\n"
        ).encode("utf-8")
        handle.write(head)
        report.bytes_written += len(head)
        for index in range(households):
            record = gen.household(index)
            defect = defects.get(index)
            if defect is not None:
                _inject(gen, record, defect)
                report.injected[defect.value] = report.injected.get(defect.value, 0) + 1
            else:
                report.valid_households += 1
                report.valid_persons += len(record["persons"])
                report.valid_subject_to_duties += sum(p["top"] == "1" for p in record["persons"])
            if record["matricule"] is not None:
                gen.last_matricule = record["matricule"]
            report.households += 1
            report.persons += len(record["persons"])
            data = _encode(_render(record))
            handle.write(data)
            report.bytes_written += len(data)
        tail = b"</FluxBeneficiairesRSA>\n"
        handle.write(tail)
        report.bytes_written += len(tail)
    return report



def generate_daily_update(
    out: str | Path,
    *,
    households: int,
    seed: int,
    flow_date: date,
    update_date: date,
    update_households: int,
    new_share: float = 0.05,
    change_seed: int = 1,
) -> GenerationReport:
    """The file of ``update_date`` that follows ``generate_flux(households=households, seed=seed,
    flow_date=flow_date)`` (no invalid household): ``update_households`` households, ``new_share`` of them new,
    the others drawn from the first file and each in a new state — a suspended payment resumed, a closed right
    reopened, otherwise (in turn) a payment suspended, a right closed, or every person no longer subject (the
    applicant becoming subject when nobody was)."""
    if update_households < 0 or not 0.0 <= new_share <= 1.0:
        raise ValueError("update_households must be >= 0 and new_share between 0 and 1")
    gen = _Generator(households, seed, flow_date)
    first = [gen.household(index) for index in range(households)]  # the same draws as generate_flux
    new = round(update_households * new_share)
    known = min(update_households - new, households)
    picker = random.Random(change_seed)
    records = [_changed(first[index], turn, update_date, picker) for turn, index in
               enumerate(sorted(picker.sample(range(households), known)))]
    records += [gen.household(households + index) for index in range(new)]
    picker.shuffle(records)
    report = GenerationReport()
    with open(out, "wb") as handle:
        head = ('<?xml version="1.0" encoding="UTF-8"?>\n<FluxBeneficiairesRSA>\n'
                f" <IdentificationFlux><TYPEFLUX>Q</TYPEFLUX><DTCREAFLUX>{update_date.isoformat()}</DTCREAFLUX>"
                "</IdentificationFlux>\n").encode("utf-8")
        tail = b"</FluxBeneficiairesRSA>\n"
        handle.write(head)
        for record in records:
            data = _encode(_render(record))
            handle.write(data)
            report.bytes_written += len(data)
            report.households += 1
            report.valid_households += 1
            report.persons += len(record["persons"])
            report.valid_persons += len(record["persons"])
            report.valid_subject_to_duties += sum(p["top"] == "1" for p in record["persons"])
        handle.write(tail)
        report.bytes_written += len(head) + len(tail)
    return report


def _changed(record: dict, turn: int, on: date, rng: random.Random) -> dict:
    """``record`` in another state on ``on`` (see :func:`generate_daily_update`)."""
    changed = dict(record, suspension=None, closure=None, earlier_month=False)
    if record["state"] in ("3", "4"):
        changed["state"] = "2"  # payment resumed
    elif record["state"] not in ("0", "2"):
        changed["state"] = "2"  # right reopened
    elif turn % 3 == 0:
        changed["state"] = "4"
        changed["suspension"] = (_weighted(rng, SUSPENSION_CODES), on.isoformat())
    elif turn % 3 == 1:
        changed["state"] = "5"
        changed["closure"] = (_weighted(rng, CLOSURE_CODES), (on - timedelta(days=1)).isoformat())
    elif any(p["top"] == "1" for p in record["persons"]):
        changed["persons"] = [dict(p, top="0") for p in record["persons"]]
    else:
        changed["persons"] = [dict(p, top="1" if p["role"] == "DEM" else p["top"]) for p in record["persons"]]
    return changed
