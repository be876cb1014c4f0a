"""The raw strings of one ``InfosFoyerRSA`` element (domain.md §8.1), in one walk over its leaves.

Only strings are extracted here; every rule deciding whether they make a valid household is in
:mod:`domain.flux`.
"""

from __future__ import annotations

from lxml import etree

from domain.flux import RawHousehold, RawPerson

_HOUSEHOLD_LEAVES = {
    ("Organisme", "MATRICULE"): "matricule",
    ("EtatDossierRSA", "ETATDOSRSA"): "right_state",
    ("SuspensionVersement", "MOTISUSVERSRSA"): "suspension_reason",
    ("SuspensionVersement", "DDSUSVERSRSA"): "suspension_date",
    ("FinDroit", "MOTICLORSA"): "closure_reason",
    ("FinDroit", "DTCLORSA"): "closure_date",
    ("FinDroitMoisAnterieur", "MOTICLORSA"): "earlier_closure_reason",
    ("FinDroitMoisAnterieur", "DTCLORSA"): "earlier_closure_date",
    ("TroncCommunDroitRSA", "TOPSANSDOMFIXE"): "no_fixed_abode",
}
_PERSON_LEAVES = {
    ("Identification", "NIR"): "nir",
    ("Identification", "NOMNAI"): "last_name",
    ("Identification", "PRENOM"): "first_name",
    ("Identification", "DTNAI"): "birth_date",
    ("MontantCalculDroitRSAPersonne", "TOPPERSDRODEVORSA"): "subject_to_duties",
}


_LOCAL_NAMES: dict[str, str] = {}


def _name(tag: str) -> str:
    """Local name of a tag, cached (a file uses a few dozen tags; the cache is capped all the same)."""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = tag[tag.rfind("}") + 1:]
        if len(_LOCAL_NAMES) < 4096:
            _LOCAL_NAMES[tag] = name
    return name


def extract_household(element: etree._Element) -> RawHousehold:
    """The raw strings of an ``InfosFoyerRSA`` element (any namespace), in one walk over its leaves.

    A leaf is recognised by its name and its parent's (``Organisme/MATRICULE``, ``FinDroit/DTCLORSA``…);
    a person's leaves must sit inside that ``Personne``. The first occurrence of a single-valued field wins.
    """
    raw = RawHousehold()
    found: dict[str, str] = {}
    person: RawPerson | None = None
    person_element: etree._Element | None = None
    for node in element.iter():
        tag = node.tag
        if not isinstance(tag, str):
            continue  # comments and processing instructions
        name = _name(tag)
        if name == "Personne":
            person, person_element = RawPerson(), node
            raw.persons.append(person)
            continue
        if len(node):
            continue  # only leaves hold values
        parent = node.getparent()
        key = (_name(parent.tag), name)
        text = node.text or ""
        if person is not None and (name == "ROLEPERS" or key in _PERSON_LEAVES):
            if person_element not in node.iterancestors():
                continue
            attribute = "role" if name == "ROLEPERS" else _PERSON_LEAVES[key]
            if getattr(person, attribute) is None:
                setattr(person, attribute, text)
            continue
        field = _HOUSEHOLD_LEAVES.get(key)
        if field is None:
            continue
        if field == "right_state":
            raw.right_states.append(text)
        elif field == "suspension_reason":
            raw.suspension_reasons.append(text)
        elif field == "matricule":
            grand = parent.getparent()
            if grand is not None and _name(grand.tag) == "IdentificationRSA":
                found.setdefault(field, text)
        else:
            found.setdefault(field, text)
    raw.matricule = found.get("matricule")
    raw.suspension_date = found.get("suspension_date")
    raw.no_fixed_abode = found.get("no_fixed_abode")
    if "closure_reason" in found or "closure_date" in found:
        raw.closure_reason, raw.closure_date = found.get("closure_reason"), found.get("closure_date")
    elif "earlier_closure_reason" in found or "earlier_closure_date" in found:
        raw.closure_reason, raw.closure_date = found.get("earlier_closure_reason"), found.get("earlier_closure_date")
        raw.closure_earlier_month = True
    return raw


