"""Writes the real-shaped flow files of tests/fixtures/real/ from domain.md §8.1 (run it to regenerate them).

    .venv/bin/python tests/real_flux_files.py

The files look like what the CAF and the MSA send: ``windows-1252``, root ``Racine`` naming its schema, a
header ``IdentificationFlux`` with APPLIEME / NUMVERSIONAPPLIEME / TYPEFLUX / NATFLUX / DTCREAFLUX / DTREF,
households with ``Organisme`` (FONORG, NUMORG, MATRICULE), persons with two ``Prestations`` blocks (PFA then
RSA), resources, an address with NUMCOM, and the trailer ``TransmissionFlux``. Names and numbers are made
up; the NIR keys are computed. The ``vrsd0301`` file follows the WebRSA field list of §8.1 (no public
sample exists).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from domain.identity import nir_key

OUT = Path(__file__).parent / "fixtures" / "real"


def with_key(body: str) -> str:
    return f"{body}{nir_key(body):02d}"


@dataclass
class Member:
    nir: str | None
    last_name: str
    first_name: str
    birth: str
    role: str  # RSA role; the PFA block says something else on purpose
    subject: str | None  # TOPPERSDRODEVORSA, None: no MontantCalculDroitRSAPersonne block
    sex: str = "1"


@dataclass
class Foyer:
    matricule: str
    state: str
    members: list[Member]
    commune: str = "62041"
    suspension: tuple[str, str] | None = None
    closure: tuple[str, str] | None = None
    organism: str = "CAF"
    extra: str = ""  # raw XML added at the end of the household


def _leaf(tag: str, value: str | None, indent: str) -> str:
    return "" if value is None else f"{indent}<{tag}>{escape(value)}</{tag}>\n"


def _member_vrsb(m: Member) -> str:
    i = "\t\t\t"
    money = ("" if m.subject is None else
             f"{i}<MontantCalculDroitRSAPersonne>\n{i}\t<TOPPERSDRODEVORSA>{m.subject}</TOPPERSDRODEVORSA>\n"
             f"{i}</MontantCalculDroitRSAPersonne>\n")
    return (
        "\t\t<Personne>\n"
        f"{i}<Identification>\n{_leaf('QUAL', 'MME' if m.sex == '2' else 'MR', i + chr(9))}"
        f"{_leaf('NOM', m.last_name, i + chr(9))}{_leaf('NOMNAI', m.last_name, i + chr(9))}"
        f"{_leaf('PRENOM', m.first_name, i + chr(9))}{_leaf('NOMCOMNAI', 'BÉTHUNE', i + chr(9))}"
        f"{_leaf('DTNAI', m.birth, i + chr(9))}{_leaf('TYPEDTNAI', 'N', i + chr(9))}{_leaf('NIR', m.nir, i + chr(9))}"
        f"{_leaf('TOPVALIEC', '1', i + chr(9))}{_leaf('SEXE', m.sex, i + chr(9))}{i}</Identification>\n"
        f"{i}<DossierCAF>\n{i}\t<TOPRESPDOS>{'1' if m.role == 'DEM' else '0'}</TOPRESPDOS>\n"
        f"{i}\t<DDRATDOS>2019-05-15</DDRATDOS>\n{i}</DossierCAF>\n"
        f"{i}<Prestations>\n{i}\t<NATPREST>PFA</NATPREST>\n{i}\t<ROLEPERS>{'ENF' if m.role == 'ENF' else 'CJT'}"
        f"</ROLEPERS>\n{i}\t<TOPCHAPERS>0</TOPCHAPERS>\n{i}</Prestations>\n"
        f"{i}<Prestations>\n{i}\t<NATPREST>RSA</NATPREST>\n{i}\t<ROLEPERS>{m.role}</ROLEPERS>\n"
        f"{i}\t<TOPCHAPERS>1</TOPCHAPERS>\n{i}</Prestations>\n"
        f"{i}<Ressources>\n{i}\t<GeneraliteRessourcesTrimestre>\n{i}\t\t<TOPRESSNUL>1</TOPRESSNUL>\n"
        f"{i}\t\t<DDRESS>2024-10-01</DDRESS>\n{i}\t\t<DFRESS>2024-12-31</DFRESS>\n"
        f"{i}\t</GeneraliteRessourcesTrimestre>\n{i}</Ressources>\n"
        f"{money}"
        f"{i}<Activite>\n{i}\t<REG>GE</REG>\n{i}\t<ACT>CHO</ACT>\n{i}\t<DDACT>2024-06-01</DDACT>\n{i}</Activite>\n"
        "\t\t</Personne>\n"
    )


def _member_vrsd(m: Member) -> str:
    i = "\t\t\t"
    calcul = ("" if m.subject is None else
              f"{i}<CalculDroitRSAPersonne>\n{i}\t<TOPPERSDRODEVORSA>{m.subject}</TOPPERSDRODEVORSA>\n"
              f"{i}\t<TOPPERSENTDROPERSO>0</TOPPERSENTDROPERSO>\n{i}</CalculDroitRSAPersonne>\n")
    return (
        "\t\t<Personne>\n"
        f"{i}<Identification>\n{_leaf('NOMNAI', m.last_name, i + chr(9))}{_leaf('PRENOM', m.first_name, i + chr(9))}"
        f"{_leaf('DTNAI', m.birth, i + chr(9))}{_leaf('NIR', m.nir, i + chr(9))}{_leaf('SEXE', m.sex, i + chr(9))}"
        f"{i}</Identification>\n"
        f"{i}<FonctionPersonnePFA>\n{i}\t<ROLEPERS>{'ENF' if m.role == 'ENF' else 'CJT'}</ROLEPERS>\n"
        f"{i}</FonctionPersonnePFA>\n"
        f"{i}<FonctionPersonneRSA>\n{i}\t<ROLEPERS>{m.role}</ROLEPERS>\n{i}\t<TOPCHAPERS>1</TOPCHAPERS>\n"
        f"{i}</FonctionPersonneRSA>\n{calcul}"
        "\t\t</Personne>\n"
    )


def _situation(f: Foyer, vrsd: bool) -> str:
    i = "\t\t\t\t"
    text = f"{i}<EtatDossierRSA>\n{i}\t<ETATDOSRSA>{f.state}</ETATDOSRSA>\n{i}</EtatDossierRSA>\n"
    if f.suspension:
        code, since = f.suspension
        if vrsd and code == "01":
            text += f"{i}<RessourcesTropElevees>\n{i}\t<MOTISUSVERSRSA>{code}</MOTISUSVERSRSA>\n{i}</RessourcesTropElevees>\n"
        else:
            text += (f"{i}<SuspensionVersement>\n{i}\t<MOTISUSVERSRSA>{code}</MOTISUSVERSRSA>\n"
                     f"{i}\t<DDSUSVERSRSA>{since}</DDSUSVERSRSA>\n{i}</SuspensionVersement>\n")
    if f.closure:
        code, closed = f.closure
        text += (f"{i}<FinDroit>\n{i}\t<MOTICLORSA>{code}</MOTICLORSA>\n{i}\t<DTCLORSA>{closed}</DTCLORSA>\n"
                 f"{i}</FinDroit>\n")
    return text


def household(f: Foyer, vrsd: bool = False) -> str:
    members = "".join(_member_vrsd(m) if vrsd else _member_vrsb(m) for m in f.members)
    return (
        "\t<InfosFoyerRSA>\n\t\t<IdentificationRSA>\n\t\t\t<Organisme>\n"
        f"\t\t\t\t<FONORG>{f.organism}</FONORG>\n\t\t\t\t<NUMORG>{'621' if f.organism == 'CAF' else '591'}</NUMORG>\n"
        f"\t\t\t\t<MATRICULE>{f.matricule}</MATRICULE>\n\t\t\t</Organisme>\n"
        "\t\t\t<Partenaire>\n\t\t\t\t<TYPEPARTE>CG </TYPEPARTE>\n\t\t\t\t<IDEPARTE>062</IDEPARTE>\n\t\t\t</Partenaire>\n"
        "\t\t</IdentificationRSA>\n"
        f"{members}"
        "\t\t<DonneesAdministratives>\n\t\t\t<Adresse>\n\t\t\t\t<TroncCommunAdresse>\n\t\t\t\t\t<RGADR>01</RGADR>\n"
        "\t\t\t\t\t<PAYS>FRA</PAYS>\n\t\t\t\t</TroncCommunAdresse>\n\t\t\t\t<AdresseDetailleeFrance>\n"
        "\t\t\t\t\t<NUMVOIE>12</NUMVOIE>\n\t\t\t\t\t<LIBTYPEVOIE>RUE</LIBTYPEVOIE>\n"
        "\t\t\t\t\t<NOMVOIE>DES ÉCOLES</NOMVOIE>\n"
        f"\t\t\t\t\t<NUMCOM>{f.commune}</NUMCOM>\n\t\t\t\t\t<CODEPOS>62000</CODEPOS>\n"
        "\t\t\t\t\t<NOMCOM>ARRAS</NOMCOM>\n\t\t\t\t</AdresseDetailleeFrance>\n\t\t\t</Adresse>\n"
        "\t\t</DonneesAdministratives>\n"
        f"\t\t<PrestationRSA>\n\t\t\t<SituationDossierRSA>\n{_situation(f, vrsd)}\t\t\t</SituationDossierRSA>\n"
        "\t\t\t<DetailDroitRSA>\n\t\t\t\t<TroncCommunDroitRSA>\n\t\t\t\t\t<TOPSANSDOMFIXE>false</TOPSANSDOMFIXE>\n"
        "\t\t\t\t\t<ORIDEMRSA>DEM</ORIDEMRSA>\n\t\t\t\t</TroncCommunDroitRSA>\n\t\t\t</DetailDroitRSA>\n"
        f"\t\t</PrestationRSA>\n{f.extra}\t</InfosFoyerRSA>\n"
    )


@dataclass
class Flow:
    foyers: list[Foyer]
    typeflux: str = "M"
    version: str = "0801"
    applieme: str = "CRI"
    created: str = "2025-03-05"
    announced: int | None = None  # NBTOTDOSRSATRANSM; default: the number of households
    schema: str = "vrsb0801.xsd"
    vrsd: bool = False
    body: list[str] = field(default_factory=list)  # raw elements instead of households (other flows)


def flow_text(flow: Flow) -> str:
    announced = len(flow.foyers) if flow.announced is None else flow.announced
    body = "".join(household(f, flow.vrsd) for f in flow.foyers) + "".join(flow.body)
    return (
        '<?xml version="1.0" encoding="windows-1252"?>\n'
        '<Racine xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:noNamespaceSchemaLocation="{flow.schema}">\n'
        f"\t<IdentificationFlux>\n\t\t<APPLIEME>{flow.applieme}</APPLIEME>\n"
        f"\t\t<NUMVERSIONAPPLIEME>{flow.version}</NUMVERSIONAPPLIEME>\n\t\t<TYPEFLUX>{flow.typeflux}</TYPEFLUX>\n"
        f"\t\t<NATFLUX>D</NATFLUX>\n\t\t<DTCREAFLUX>{flow.created}</DTCREAFLUX>\n"
        f"\t\t<HEUCREAFLUX>01:18:36.0000</HEUCREAFLUX>\n\t\t<DTREF>2025-02-28</DTREF>\n\t</IdentificationFlux>\n"
        f"{body}"
        f"\t<TransmissionFlux>\n\t\t<NBTOTDOSRSATRANSM>{announced:08d}</NBTOTDOSRSATRANSM>\n"
        "\t\t<NBTOTDOSRSATRANSMANO>00000000</NBTOTDOSRSATRANSMANO>\n\t</TransmissionFlux>\n</Racine>\n"
    )


def write(path: Path, flow: Flow) -> Path:
    path.write_bytes(flow_text(flow).replace("\n", "\r\n").encode("cp1252"))
    return path


# ---------------------------------------------------------------- the files

SAME_PERSON = "2850862041123"  # Mme DUPONT: in the CAF file (13 characters) and the MSA file (15)

CAF_MONTHLY = Flow(foyers=[
    Foyer("0412345", "2", [Member(SAME_PERSON, "DUPONT", "Cécile", "1985-08-14", "DEM", "1", "2"),
                           Member("1830862041456", "DUPONT", "Éric", "1983-08-02", "CJT", "1"),
                           Member(None, "DUPONT", "Léa", "2016-04-30", "ENF", "0", "2")]),
    Foyer("0412346", "4", [Member("1900159123789", "LEFEBVRE", "Noël", "1990-01-21", "DEM", "1")],
          commune="59350", suspension=("06", "2025-02-01")),
    Foyer("0412347", "5", [Member("2770762041321", "MARTIN", "Françoise", "1977-07-09", "DEM", "1", "2")],
          closure=("PCG", "2025-01-31")),
    Foyer("0412348", "0", [Member("1990562041654", "PETIT", "Loïc", "1999-05-05", "DEM", "0")], commune="62999"),
])
"""4 households, 6 persons, 4 subject to duties, 0 unknown, 0 rejected, 0 warning; communes 62041 (x2),
59350, 62999 (not in the example territory table)."""

MSA_DAILY = Flow(typeflux="I", applieme="AGO", announced=1, foyers=[
    Foyer("922025077501688", "2", [Member(with_key(SAME_PERSON), "DUPONT", "Cécile", "1985-08-14", "DEM", None, "2")],
          organism="MSA"),
    Foyer("922025077501689", "0", [Member(with_key("1920762041987"), "ROUSSEL", "Gaëtan", "1992-07-17", "DEM", None),
                                   Member(with_key("2940762041741"), "ROUSSEL", "Inès", "1994-07-01", "CJT", None, "2")],
          organism="MSA", commune="62193"),
])
"""2 households, 3 persons, 0 subject, 3 unknown (no MontantCalculDroitRSAPersonne), 0 rejected; the trailer
announces 1: one warning at position 0."""

VRSD0301 = Flow(version="0301", schema="vrsd0301.xsd", vrsd=True, foyers=[
    Foyer("0523456", "2", [Member("1880362041258", "BERNARD", "Hervé", "1988-03-12", "BEN", "1"),
                           Member("2890362041369", "BERNARD", "Maëlys", "1989-03-02", "CJT", "0", "2")]),
    Foyer("0523457", "4", [Member("1910462041147", "GARNIER", "Théo", "1991-04-18", "BEN", "true")],
          suspension=("01", "2025-02-01")),
    Foyer("0523458", "5", [Member("2860462041963", "FAURE", "Chloé", "1986-04-04", "BEN", "1", "2")],
          closure=("CCG", "2025-02-28")),
])
"""3 households, 4 persons, 3 subject, 0 unknown, 0 rejected, 1 warning (MOTICLORSA CCG)."""

CODES_19_78 = Flow(foyers=[
    Foyer("0634567", "4", [Member("1870162041852", "LEROY", "Rémi", "1987-01-11", "DEM", "1")],
          suspension=("19", "2025-02-01")),
    Foyer("0634568", "3", [Member("2930162041478", "MOREAU", "Zoé", "1993-01-23", "DEM", "1", "2")],
          suspension=("78", "2025-01-15")),
    Foyer("0634569", "4", [Member("1950162041236", "SIMON", "Jérôme", "1995-01-30", "DEM", "1")],
          suspension=("06", "2025-02-01")),
])
"""3 households, 3 persons, 3 subject, 0 rejected, 2 warnings (MOTISUSVERSRSA 19 and 78)."""

_DEMANDE = ("\t<InfoDemandeRSA>\n\t\t<IdentificationRSA>\n\t\t\t<Organisme>\n\t\t\t\t<MATRICULE>0412345</MATRICULE>\n"
            "\t\t\t</Organisme>\n\t\t</IdentificationRSA>\n\t</InfoDemandeRSA>\n")
_FINANCIER = ("\t<InfosFinancieresFoyerRSA>\n\t\t<IdentificationRSA>\n\t\t\t<Organisme>\n"
              "\t\t\t\t<MATRICULE>0412345</MATRICULE>\n\t\t\t</Organisme>\n\t\t</IdentificationRSA>\n"
              "\t</InfosFinancieresFoyerRSA>\n")
INSTRUCTION = Flow(foyers=[], body=[_DEMANDE, _DEMANDE], schema="vrsi0101.xsd", announced=2)
FINANCIER = Flow(foyers=[], body=[_FINANCIER], schema="vrsf0501.xsd", announced=1)
INSTRUCTION_WITHOUT_SCHEMA = Flow(foyers=[], body=[_DEMANDE], schema="", announced=1)

FILES = {
    "caf_monthly_nir13.xml": CAF_MONTHLY,
    "msa_daily_without_montant.xml": MSA_DAILY,
    "vrsd0301.xml": VRSD0301,
    "codes_19_78.xml": CODES_19_78,
    "instruction.xml": INSTRUCTION,
    "financier.xml": FINANCIER,
    "instruction_without_schema.xml": INSTRUCTION_WITHOUT_SCHEMA,
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, flow in FILES.items():
        write(OUT / name, flow)


if __name__ == "__main__":
    main()
