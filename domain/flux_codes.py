"""Code tables of the CAF/MSA "flux bénéficiaires" (domain.md §8.1) and the schema's field lengths.

The suspension and closure lists are open: real files carry codes beyond them (``19``, ``78``, ``CCG``…),
which are kept as read and reported as warnings, never rejected.
"""

from __future__ import annotations

import re

#: ETATDOSRSA — state of the RSA right.
ETATDOSRSA: dict[str, str] = {
    "0": "nouvelle demande en attente de décision du Département",
    "1": "droit refusé",
    "2": "droit ouvert et versable",
    "3": "droit ouvert et suspendu (le droit lui-même est remis en cause)",
    "4": "droit ouvert, versement suspendu (montant non calculable)",
    "5": "droit clos",
    "6": "droit clos sur un mois antérieur (contrôle du mois de référence)",
}

#: Official detection order when several ETATDOSRSA values apply to one household.
ETATDOSRSA_DETECTION_ORDER: tuple[str, ...] = ("0", "1", "5", "3", "4", "2", "6")

#: TOPPERSDRODEVORSA — the person is subject to rights and duties ("soumis aux droits et devoirs").
TOPPERSDRODEVORSA: dict[str, str] = {"0": "non soumis aux droits et devoirs", "1": "soumis aux droits et devoirs"}

#: TOPSANSDOMFIXE — no fixed abode.
TOPSANSDOMFIXE: dict[str, str] = {"0": "domicile fixe", "1": "sans domicile fixe"}

#: MOTISUSVERSRSA — reason why the payment is suspended.
MOTISUSVERSRSA: dict[str, str] = {
    "01": "ressources trop élevées",
    "02": "moins de 25 ans sans enfant ni personne à charge",
    "03": "activité non conforme",
    "04": "titre de séjour non valide",
    "05": "RSA inférieur au seuil de versement",
    "06": "déclaration trimestrielle de ressources non fournie",
    "09": "résidence non conforme",
    "31": "prestation exclue (affiliation partielle)",
    "34": "régime non conforme",
    "35": "demande d'avantage vieillesse absente ou tardive",
    "36": "titre de séjour absent",
    "44": "hospitalisation",
    "70": "action non engagée",
    "84": "droit éteint",
    "85": "pas d'allocataire (allocataire décédé par exemple)",
    "97": "bénéficiaire de l'AAH réduite",
    "AB": "allocataire absent du foyer",
    "CG": "application d'une sanction",
    "CV": "attente de la décision du président du Conseil départemental",
    "CZ": "activité antérieure insuffisante",
    "DA": "activité antérieure absente",
    "DB": "étudiant, rémunération insuffisante",
    "DC": "activité antérieure non conforme",
}

#: MOTICLORSA — reason why the right was closed.
MOTICLORSA: dict[str, str] = {
    "PCG": "décision du président du Conseil départemental",
    "ECH": "échéance (4 mois sans droit)",
    "EFF": "annulation (effacement)",
    "MUT": "mutation vers une autre CAF/MSA",
    "RGD": "regroupement de dossiers",
    "RFD": "radiation, fin de droit",
    "RAU": "radiation, autre motif",
    "RST": "option RSTA (outre-mer)",
    "RSO": "option RSO (outre-mer)",
}


#: xsd:boolean literals: TOPPERSDRODEVORSA and TOPSANSDOMFIXE are typed xsd:boolean in vrsb0801.xsd.
BOOLEANS: dict[str, bool] = {"1": True, "0": False, "true": True, "false": False}

#: Maximum length of each text field, from the schema (WebRSA's tables of the vrsb flow); a longer value is
#: a rejection (``field_too_long``), never truncated. Codes of closed lists are checked against their list,
#: dates against their ``YYYY-MM-DD`` shape.
MAX_LENGTHS: dict[str, int] = {
    "MATRICULE": 15,
    "NIR": 32,  # 15 characters, with room for the spaces and dots of a typed-in list
    "NOMNAI": 50,
    "PRENOM": 50,
    "ROLEPERS": 3,
    "MOTISUSVERSRSA": 2,
    "MOTICLORSA": 3,
    "NUMCOM": 5,
}

#: Elements of the other CNAF flows, which share the header but must not be read as beneficiaries flows.
OTHER_FLOWS: dict[str, str] = {"InfoDemandeRSA": "instruction", "InfosFinancieresFoyerRSA": "financier"}

#: Layouts of the beneficiaries flow, by the header's NUMVERSIONAPPLIEME (other values: by element names).
LAYOUTS: dict[str, str] = {"0801": "vrsb0801", "0301": "vrsd0301"}
#: Elements only the vrsd0301 layout has.
VRSD0301_ELEMENTS = ("CalculDroitRSAPersonne", "FonctionPersonneRSA", "FonctionPersonnePFA", "RessourcesTropElevees")

_SCHEMA = re.compile(r"(vrs[a-z])(\d{4})\.xsd$", re.IGNORECASE)


def detect_layout(version: str | None) -> str | None:
    """The layout the header's NUMVERSIONAPPLIEME names, or None (then the element names tell)."""
    return LAYOUTS.get((version or "").strip())


def other_flow_of_schema(location: str | None) -> str | None:
    """The schema file name when the root's ``xsi:noNamespaceSchemaLocation`` names a schema of the CNAF
    family that is not a beneficiaries layout (vrsb…, vrsd03…); None otherwise (or when there is none)."""
    match = _SCHEMA.search((location or "").strip())
    if match is None:
        return None
    family, version = match.group(1).lower(), match.group(2)
    if family == "vrsb" or (family == "vrsd" and version.startswith("03")):
        return None
    return match.group(0)
